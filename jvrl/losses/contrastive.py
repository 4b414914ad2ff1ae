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
) -> tuple[jax.Array, Mapping[str, jax.Array]]:
  """Symmetric NT-Xent (InfoNCE) loss of two views, as in CVRL / SimCLR.

  For view pair (a_i, b_i), direction a->b classifies b_i among
  [a_i . b_j for all j] + [a_i . a_j for j != i] (self-similarity masked);
  direction b->a likewise. The loss is the SUM of the two directions, each
  averaged over the batch (REFERENCE §1, "loss = CE(a->b) + CE(b->a)").

  Args:
    embeddings_1: [B, D] projections of view 1 (any scale; L2-normalised here).
    embeddings_2: [B, D] projections of view 2, row i pairs with row i.
    temperature: softmax temperature (CVRL: 0.1).

  Returns:
    (loss, metrics): scalar loss and a dict with `contrastive_accuracy`
    (fraction of a->b rows whose argmax is the positive) and
    `contrastive_entropy` (mean entropy of the a->b softmax over b).
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
