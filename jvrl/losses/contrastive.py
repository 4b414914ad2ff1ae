"""InfoNCE / NT-Xent contrastive loss over the global batch (CVRL, SimCLR).

The loss is written on *global* arrays: inside `jax.jit` with the batch
sharded over a mesh, `a @ b.T` makes XLA gather the other devices' embeddings,
so every example is contrasted against the whole global batch (negatives from
every device) without any explicit collective in this code.
"""
from typing import Mapping

import jax
import jax.numpy as jnp

# Added to masked logits; large enough to zero their softmax weight, small
# enough not to overflow in float32 (SimCLR's reference code uses 1e9).
_MASK_LOGIT = 1e9


def l2_normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
  """Returns `x` scaled to unit L2 norm along `axis` (zero vectors stay zero)."""
  norm_sq = jnp.sum(jnp.square(x), axis=axis, keepdims=True)
  return x * jax.lax.rsqrt(jnp.maximum(norm_sq, eps))


def nt_xent_loss(
    embeddings_1: jax.Array,
    embeddings_2: jax.Array,
    temperature: float = 0.1,
    *,
    mixing_1: jax.Array | None = None,
    mixing_2: jax.Array | None = None,
) -> tuple[jax.Array, Mapping[str, jax.Array]]:
  """Symmetric NT-Xent (InfoNCE) loss of two views, as in CVRL / SimCLR.

  For view pair (a_i, b_i), direction a->b classifies b_i among
  [a_i . b_j for all j] + [a_i . a_j for j != i] (self-similarity masked);
  direction b->a likewise. The loss is the SUM of the two directions, each
  averaged over the batch (REFERENCE §1, "loss = CE(a->b) + CE(b->a)").

  Mixed targets (i-Mix / MixCo style, for batch-mixing augmentations such as
  STC-mix's space-time cutmix): `mixing_1` [B, B] says which examples view-1
  row i is made of (row i: fractions, summing to 1; None = the identity), and
  `mixing_2` the same for view 2. The a->b target of row i is then
  (mixing_1 @ mixing_2.T)[i], normalised to sum to 1 (e.g. lambda on b_i and
  1 - lambda on b_j when a_i holds 1 - lambda of example j); b->a uses the
  transpose. Rows of the same view that share an example are masked in the
  a.a / b.b block (neither positives nor negatives). Without mixing this is
  exactly the loss above.

  Args:
    embeddings_1: [B, D] projections of view 1 (any scale; L2-normalised here).
    embeddings_2: [B, D] projections of view 2, row i pairs with row i.
    temperature: softmax temperature (CVRL: 0.1).
    mixing_1, mixing_2: optional [B, B] mixing targets of the two views.

  Returns:
    (loss, metrics): scalar loss and a dict with `contrastive_accuracy`
    (fraction of a->b rows whose argmax is the positive, with mixing: the
    example holding most of the row) and `contrastive_entropy` (mean entropy
    of the a->b softmax over b).
  """
  if embeddings_1.shape != embeddings_2.shape or embeddings_1.ndim != 2:
    raise ValueError(
        "nt_xent_loss expects two [B, D] arrays of equal shape, got "
        f"{embeddings_1.shape} and {embeddings_2.shape}.")
  if temperature <= 0:
    raise ValueError(f"temperature must be > 0, got {temperature}.")
  a = l2_normalize(embeddings_1.astype(jnp.float32))
  b = l2_normalize(embeddings_2.astype(jnp.float32))
  batch = a.shape[0]
  self_mask = jnp.eye(batch, dtype=jnp.float32) * _MASK_LOGIT
  logits_ab = a @ b.T / temperature
  logits_ba = logits_ab.T
  logits_aa = a @ a.T / temperature - self_mask
  logits_bb = b @ b.T / temperature - self_mask
  labels = jnp.arange(batch)
  if mixing_1 is not None or mixing_2 is not None:
    return _mixed_target_loss(a, b, temperature, mixing_1, mixing_2)

  def cross_entropy(logits: jax.Array) -> jax.Array:
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, labels[:, None], axis=-1))

  loss_a = cross_entropy(jnp.concatenate([logits_ab, logits_aa], axis=1))
  loss_b = cross_entropy(jnp.concatenate([logits_ba, logits_bb], axis=1))

  probs_ab = jax.nn.softmax(logits_ab, axis=-1)
  metrics = {
      "contrastive_accuracy": jnp.mean(
          (jnp.argmax(logits_ab, axis=-1) == labels).astype(jnp.float32)),
      "contrastive_entropy": -jnp.mean(
          jnp.sum(probs_ab * jax.nn.log_softmax(logits_ab, axis=-1), axis=-1)),
  }
  return loss_a + loss_b, metrics


def _mixed_target_loss(a: jax.Array, b: jax.Array, temperature: float,
                       mixing_1: jax.Array | None, mixing_2: jax.Array | None
                       ) -> tuple[jax.Array, Mapping[str, jax.Array]]:
  """`nt_xent_loss` with mixing targets (see there); `a`, `b` already normalised."""
  batch = a.shape[0]
  identity = jnp.eye(batch, dtype=jnp.float32)
  w1 = identity if mixing_1 is None else mixing_1.astype(jnp.float32)
  w2 = identity if mixing_2 is None else mixing_2.astype(jnp.float32)
  for name, w in (("mixing_1", w1), ("mixing_2", w2)):
    if w.shape != (batch, batch):
      raise ValueError(f"{name} must be [B, B] = {(batch, batch)}, got {w.shape}.")

  def normalised_rows(x):
    return x / jnp.maximum(jnp.sum(x, axis=1, keepdims=True), 1e-12)

  def shared_mask(w):  # rows of one view that hold a common example (incl. themselves)
    return ((w @ w.T) > 0).astype(jnp.float32) * _MASK_LOGIT

  overlap = w1 @ w2.T
  logits_ab = a @ b.T / temperature
  logits_aa = a @ a.T / temperature - shared_mask(w1)
  logits_bb = b @ b.T / temperature - shared_mask(w2)

  def soft_cross_entropy(logits_cross, logits_same, targets):
    log_probs = jax.nn.log_softmax(jnp.concatenate([logits_cross, logits_same], axis=1), axis=-1)
    return -jnp.mean(jnp.sum(targets * log_probs[:, :batch], axis=-1))

  targets_ab = normalised_rows(overlap)
  loss = (soft_cross_entropy(logits_ab, logits_aa, targets_ab)
          + soft_cross_entropy(logits_ab.T, logits_bb, normalised_rows(overlap.T)))
  probs_ab = jax.nn.softmax(logits_ab, axis=-1)
  metrics = {
      "contrastive_accuracy": jnp.mean((jnp.argmax(logits_ab, axis=-1) == jnp.argmax(
          targets_ab, axis=-1)).astype(jnp.float32)),
      "contrastive_entropy": -jnp.mean(
          jnp.sum(probs_ab * jax.nn.log_softmax(logits_ab, axis=-1), axis=-1)),
  }
  return loss, metrics
