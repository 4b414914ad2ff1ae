"""VATT's multimodal contrastive losses over the global batch, with missing-modality masks.

REFERENCE §2: embeddings are L2-normalised, temperature 0.07, and every other
example of the global batch is a negative. As in `contrastive.py`, the losses
are written on *global* arrays: under `jax.jit` with the batch sharded over a
mesh, XLA gathers the other devices' embeddings, so negatives come from every
device without an explicit collective.

Two forms (`LOSS_FORMS`, chosen by `config.vatt.loss_form`):

'asymmetric' (VATT's default): `asymmetric_nce_loss`, a port of
`AsymmetricNCE._calculate_nce` in google-research/vatt
utils/train/objectives.py (configs/multimodal.py picks `AsymmetricNCE` for
every pretraining model). One loss serves video-audio (one candidate per
clip) and video-text (a bag of K candidate captions). Clip i has a video
embedding v_i and candidates c_ik; with s(v, c) = v.c / temperature:

    L_i = LSE({s(v_i, c_jk): every present clip j, every valid k}       (i -> all)
              + {s(v_j, c_ik): every clip j, every valid k of i})       (all -> i)
          - LSE({s(v_i, c_ik): every valid k of i})

i.e. both directions' scores in ONE softmax, and the positives s(v_i, c_ik)
appear twice in the denominator (once from each direction), exactly as the
reference concatenates `sim_sp_local2all` and `sim_sp_all2local`. Only the
candidate side is masked ("present" = the clip has audio / a caption): a clip
without one is not a query and its candidates are no negatives, but its VIDEO
is still a negative for the others' candidates (the reference masks
`embed_2` only). The loss is the mean of L_i over present clips (0 when none
is), as the reference's `loss * mask * size / valid` then `mean`.
Deviation: the reference has no per-candidate mask (a clip always has K
captions there; padding captions are encoded and count as positives); here a
padding candidate (`candidate_mask` False) is left out of every set.

'symmetric' (jvrl's earlier form, kept as an option; the README's synthetic
numbers before the asymmetric default were measured with it):

* `nce_loss` (video-audio): symmetric InfoNCE; for pair i, direction 1->2
  classifies b_i among all b_j, direction 2->1 classifies a_i among all a_j;
  the loss is the mean of the two directions, each averaged over the valid
  pairs.
* `mil_nce_loss` (video-text): MIL-NCE (Miech et al. 2020). Clip i has a bag
  P_i of candidate captions (up to K). With s(v, t) = v.t / temperature:

    L_i = -log( sum_{k in P_i} e^{s(v_i, t_ik)} /
                ( sum_{k in P_i} e^{s(v_i, t_ik)}
                  + sum_{j != i, k in P_j} e^{s(v_i, t_jk)}     (other clips' captions)
                  + sum_{j != i, k in P_i} e^{s(v_j, t_ik)} ) ) (other clips, own captions)

  i.e. the numerator is the log-sum-exp over every positive caption, the
  denominator over the positives (once) and all negatives of both
  directions; the loss is the mean of L_i over the valid clips.

  Masks: a pair (NCE) or a clip (MIL-NCE) marked absent, e.g. a video without
  audio or without any caption, is left out entirely: it is neither a query
  nor a negative for anyone, and the mean runs over the valid ones only (the
  loss is 0 when none is valid). Absent captions are left out of every bag and
  every negative set.
  Compared with VATT's `SymmetricNCE` (objectives.py): its video-audio loss
  is the SUM of the two directions (here their mean), and its video-text loss
  is two directional MIL-NCE softmaxes (here one softmax over both
  directions' negatives with the positives once).
"""
from typing import Mapping, Optional

import jax
import jax.numpy as jnp

from jvrl.losses.contrastive import l2_normalize

# Logit of masked-out entries: its softmax weight is exactly 0 in float32.
_MASKED_LOGIT = -1e9
LOSS_FORMS = ("asymmetric", "symmetric")


def _check_temperature(temperature: float) -> None:
  if temperature <= 0:
    raise ValueError(f"temperature must be > 0, got {temperature}.")


def _safe_mean(values: jax.Array, valid: jax.Array) -> jax.Array:
  """Mean of `values` over `valid` entries (0 when there is none)."""
  valid = valid.astype(jnp.float32)
  return jnp.sum(jnp.where(valid > 0, values, 0.0)) / jnp.maximum(jnp.sum(valid), 1.0)


def nce_loss(
    embeddings_1: jax.Array,
    embeddings_2: jax.Array,
    temperature: float = 0.07,
    mask: Optional[jax.Array] = None,
) -> tuple[jax.Array, Mapping[str, jax.Array]]:
  """Symmetric NCE between two modalities of the same clips (VATT's video-audio loss).

  Args:
    embeddings_1: [B, D] (e.g. video in the video-audio space), any scale.
    embeddings_2: [B, D] (e.g. audio), row i pairs with row i.
    temperature: softmax temperature (VATT: 0.07).
    mask: bool [B], False for pairs missing a modality; None = all valid.

  Returns:
    (loss, metrics): the mean of the two directions' losses over valid pairs;
    `accuracy` (fraction of valid 1->2 rows whose argmax is the positive) and
    `valid_fraction` (fraction of valid pairs).
  """
  if embeddings_1.ndim != 2 or embeddings_1.shape != embeddings_2.shape:
    raise ValueError("nce_loss expects two [B, D] arrays of equal shape, got "
                     f"{embeddings_1.shape} and {embeddings_2.shape}.")
  _check_temperature(temperature)
  batch = embeddings_1.shape[0]
  valid = jnp.ones([batch], bool) if mask is None else jnp.asarray(mask, bool)
  a = l2_normalize(embeddings_1.astype(jnp.float32))
  b = l2_normalize(embeddings_2.astype(jnp.float32))
  logits = a @ b.T / temperature
  pair_valid = valid[:, None] & valid[None, :]
  logits = jnp.where(pair_valid, logits, _MASKED_LOGIT)
  positive = jnp.diagonal(logits)
  loss_12 = jax.nn.logsumexp(logits, axis=1) - positive
  loss_21 = jax.nn.logsumexp(logits, axis=0) - positive
  loss = 0.5 * (_safe_mean(loss_12, valid) + _safe_mean(loss_21, valid))
  correct = jnp.argmax(logits, axis=1) == jnp.arange(batch)
  metrics = {"accuracy": _safe_mean(correct.astype(jnp.float32), valid),
             "valid_fraction": jnp.mean(valid.astype(jnp.float32))}
  return loss, metrics


def mil_nce_loss(
    video: jax.Array,
    text: jax.Array,
    temperature: float = 0.07,
    caption_mask: Optional[jax.Array] = None,
    video_mask: Optional[jax.Array] = None,
) -> tuple[jax.Array, Mapping[str, jax.Array]]:
  """MIL-NCE between clips and their bags of candidate captions (VATT's video-text loss).

  Args:
    video: [B, D] clip embeddings (video-text space), any scale.
    text: [B, K, D] embeddings of each clip's K candidate captions.
    temperature: softmax temperature (VATT: 0.07).
    caption_mask: bool [B, K], False on padding captions; None = all valid.
    video_mask: bool [B], False for clips to leave out; None = all valid. A
      clip without any valid caption is left out as well.

  Returns:
    (loss, metrics): the mean MIL-NCE over valid clips (formula in the module
    docstring); `accuracy` (fraction of valid clips whose most similar valid
    caption in the batch is one of their own) and `valid_fraction`.
  """
  if video.ndim != 2 or text.ndim != 3 or text.shape[0] != video.shape[0] or (
      text.shape[2] != video.shape[1]):
    raise ValueError("mil_nce_loss expects video [B, D] and text [B, K, D], got "
                     f"{video.shape} and {text.shape}.")
  _check_temperature(temperature)
  batch, num_captions, _ = text.shape
  captions_valid = (jnp.ones([batch, num_captions], bool) if caption_mask is None
                    else jnp.asarray(caption_mask, bool))
  clips_valid = jnp.any(captions_valid, axis=1)
  if video_mask is not None:
    clips_valid &= jnp.asarray(video_mask, bool)
  captions_valid &= clips_valid[:, None]

  v = l2_normalize(video.astype(jnp.float32))
  t = l2_normalize(text.astype(jnp.float32))
  # scores[b, c, k] = s(v_b, t_ck).
  scores = jnp.einsum("bd,ckd->bck", v, t) / temperature
  same = jnp.eye(batch, dtype=bool)[:, :, None]
  positive = same & captions_valid[None, :, :]                        # k in P_i
  other_captions = ~same & captions_valid[None, :, :] & clips_valid[:, None, None]
  # transposed[i, j, k] = s(v_j, t_ik): other clips against clip i's captions.
  transposed = jnp.transpose(scores, (1, 0, 2))
  other_videos = ~same & clips_valid[None, :, None] & captions_valid[:, None, :]

  numerator = jax.nn.logsumexp(
      jnp.where(positive, scores, _MASKED_LOGIT).reshape(batch, -1), axis=1)
  denominator = jax.nn.logsumexp(jnp.concatenate([
      jnp.where(positive | other_captions, scores, _MASKED_LOGIT).reshape(batch, -1),
      jnp.where(other_videos, transposed, _MASKED_LOGIT).reshape(batch, -1)], axis=1), axis=1)
  loss = _safe_mean(denominator - numerator, clips_valid)

  candidate_scores = jnp.where(captions_valid[None], scores, _MASKED_LOGIT).reshape(batch, -1)
  best_clip = jnp.argmax(candidate_scores, axis=1) // num_captions
  correct = (best_clip == jnp.arange(batch)).astype(jnp.float32)
  metrics = {"accuracy": _safe_mean(correct, clips_valid),
             "valid_fraction": jnp.mean(clips_valid.astype(jnp.float32))}
  return loss, metrics


def asymmetric_nce_loss(
    video: jax.Array,
    candidates: jax.Array,
    temperature: float = 0.07,
    present: Optional[jax.Array] = None,
    candidate_mask: Optional[jax.Array] = None,
) -> tuple[jax.Array, Mapping[str, jax.Array]]:
  """VATT's asymmetric NCE / MIL-NCE (formula in the module docstring).

  Args:
    video: [B, D] clip embeddings (any scale).
    candidates: [B, K, D] each clip's K candidates of the other modality
      (K = 1: audio, NCE; K > 1: captions, MIL-NCE), or [B, D] for K = 1.
    temperature: softmax temperature (VATT: 0.07).
    present: bool [B], False for clips without the other modality (the
      reference's `audio_mask` / `text_mask`); None = all present.
    candidate_mask: bool [B, K], False on padding candidates; None = all
      valid. A clip without any valid candidate counts as absent.

  Returns:
    (loss, metrics): the mean loss over present clips; `accuracy` (fraction
    of present clips whose best-scoring candidate among the present clips'
    valid candidates is one of their own) and `valid_fraction`.
  """
  if candidates.ndim == 2:
    candidates = candidates[:, None, :]
  if video.ndim != 2 or candidates.ndim != 3 or candidates.shape[0] != video.shape[0] or (
      candidates.shape[2] != video.shape[1]):
    raise ValueError("asymmetric_nce_loss expects video [B, D] and candidates [B, K, D] (or "
                     f"[B, D]), got {video.shape} and {candidates.shape}.")
  _check_temperature(temperature)
  batch, num_candidates, _ = candidates.shape
  valid = (jnp.ones([batch, num_candidates], bool) if candidate_mask is None
           else jnp.asarray(candidate_mask, bool).reshape(batch, num_candidates))
  clips = jnp.any(valid, axis=1)
  if present is not None:
    clips &= jnp.asarray(present, bool).reshape(batch)
  valid &= clips[:, None]

  v = l2_normalize(video.astype(jnp.float32))
  c = l2_normalize(candidates.astype(jnp.float32))
  # scores[i, j, k] = s(v_i, c_jk).
  scores = jnp.einsum("id,jkd->ijk", v, c) / temperature
  same = jnp.eye(batch, dtype=bool)[:, :, None]
  # i -> all: clip i's video against every present clip's valid candidates.
  to_all = jnp.where(valid[None, :, :], scores, _MASKED_LOGIT)
  # all -> i: every clip's video against clip i's valid candidates:
  # from_all[i, j, k] = s(v_j, c_ik).
  from_all = jnp.where(valid[:, None, :], jnp.transpose(scores, (1, 0, 2)), _MASKED_LOGIT)
  positives = jnp.where(same & valid[None, :, :], scores, _MASKED_LOGIT)
  numerator = jax.nn.logsumexp(positives.reshape(batch, -1), axis=1)
  denominator = jax.nn.logsumexp(
      jnp.concatenate([to_all.reshape(batch, -1), from_all.reshape(batch, -1)], axis=1),
      axis=1)
  loss = _safe_mean(denominator - numerator, clips)

  best_clip = jnp.argmax(to_all.reshape(batch, -1), axis=1) // num_candidates
  correct = (best_clip == jnp.arange(batch)).astype(jnp.float32)
  metrics = {"accuracy": _safe_mean(correct, clips),
             "valid_fraction": jnp.mean(clips.astype(jnp.float32))}
  return loss, metrics
