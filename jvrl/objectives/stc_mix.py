"""STC-mix (video part): space-time cutmix with mixed contrastive targets (REFERENCE §4).

Das & Ryoo, "Cross-modal Manifold Cutmix for Self-supervised Video
Representation Learning" (arXiv 2112.03906): its first stage mixes videos by
cutting a space-time box (a tube of frames x rows x columns) out of one
clip and pasting it into another; the mixed clip's contrastive target is
shared between the two source videos by their volume shares. The second
stage (cutmix of feature tensors across RGB and flow / pose streams) needs a
second modality and is not part of this module.

On the device, for each clip i of the global batch, with probability `prob`:
lambda ~ Beta(alpha, alpha); a box whose sides are (1 - lambda)^(1/3) of the
clip's T, H and W (rounded), centred uniformly and clipped at the borders
(CutMix's rule, in 3-D), is taken from partner clip perm(i) (perm a random
permutation of the global batch); lambda is then the share of clip i's own
voxels left. The mixing targets (`device_augmentations.record_mixing`) hold
lambda on example i and 1 - lambda on perm(i), so the NT-Xent target of the
mixed view is lambda on its own positive and 1 - lambda on the partner's
(i-Mix / MixCo style soft targets, `jvrl.losses.contrastive`).

Config: `config.device_augment` lists 'stc_mix'; `config.stc_mix.keys` the
clip fields to mix (('view1',): the anchors), `alpha` and `prob`. Only fields
whose objective's loss reads mixing targets are accepted
(`MIXED_TARGET_FIELDS`: CVRL, ConCur, STOR; checked at start-up).
"""
from typing import Mapping

import jax
import jax.numpy as jnp
import ml_collections

from jvrl.objectives import base
from jvrl.objectives import device_augmentations

MIXES_EXAMPLES = True


def sample_boxes(key: jax.Array, batch: int, shape: tuple[int, int, int], alpha: float,
                 prob: float) -> tuple[jax.Array, jax.Array]:
  """Space-time boxes to paste, one per clip: (starts, ends) int32 [B, 3] over (T, H, W);
  an empty box (start == end) for clips left unmixed."""
  apply_key, lambda_key, centre_key = jax.random.split(key, 3)
  lam = jax.random.beta(lambda_key, alpha, alpha, (batch,))
  apply = jax.random.uniform(apply_key, (batch,)) < prob
  dims = jnp.asarray(shape, jnp.float32)
  sides = jnp.round(dims[None, :] * jnp.cbrt(1.0 - lam)[:, None])  # [B, 3]
  centres = jnp.floor(jax.random.uniform(centre_key, (batch, 3)) * dims[None, :])
  starts = jnp.clip(centres - jnp.floor(sides / 2), 0, dims[None, :])
  ends = jnp.clip(centres + jnp.ceil(sides / 2), 0, dims[None, :])
  ends = jnp.where(apply[:, None], ends, starts)
  return starts.astype(jnp.int32), ends.astype(jnp.int32)


def box_masks(starts: jax.Array, ends: jax.Array, shape: tuple[int, int, int]) -> jax.Array:
  """float32 [B, T, H, W]: 1 inside each clip's box, 0 outside."""
  inside = [(jnp.arange(size)[None, :] >= starts[:, axis, None])
            & (jnp.arange(size)[None, :] < ends[:, axis, None])
            for axis, size in enumerate(shape)]  # [B, size] per axis
  return (inside[0][:, :, None, None] & inside[1][:, None, :, None]
          & inside[2][:, None, None, :]).astype(jnp.float32)


def cutmix(clips: jax.Array, masks: jax.Array, partners: jax.Array
           ) -> tuple[jax.Array, jax.Array]:
  """(mixed clips, mixing matrix [B, B]): partners' voxels where `masks` is 1.

  Row i of the matrix: lambda_i (the share of clip i's own voxels) on i, 1 - lambda_i
  on partners[i] (the two add up when a clip is its own partner).
  """
  batch = clips.shape[0]
  mixed = clips * (1.0 - masks[..., None]) + jnp.take(clips, partners, axis=0) * masks[..., None]
  taken = jnp.mean(masks, axis=(1, 2, 3))
  mixing = (jnp.eye(batch, dtype=jnp.float32) * (1.0 - taken)[:, None]
            + jax.nn.one_hot(partners, batch, dtype=jnp.float32) * taken[:, None])
  return mixed, mixing


def check_config(config: ml_collections.ConfigDict) -> None:
  """`config.stc_mix`: alpha > 0, 0 <= prob <= 1 (keys: checked by the registry)."""
  section = base.require_section(config, "stc_mix")
  alpha = section.get("alpha")
  if not isinstance(alpha, (int, float)) or not alpha > 0:
    raise ValueError(f"config.stc_mix.alpha={alpha!r} must be a number > 0 (lambda ~ "
                     "Beta(alpha, alpha); CutMix: 1.0).")
  prob = section.get("prob")
  if not isinstance(prob, (int, float)) or not 0.0 <= prob <= 1.0:
    raise ValueError(f"config.stc_mix.prob={prob!r} must lie in [0, 1] (the share of clips "
                     "mixed).")


def build_batch_augmentation(config: ml_collections.ConfigDict) -> base.BatchAugmentFn:
  """Space-time cutmix of the fields `config.stc_mix.keys`, recording mixing targets."""
  check_config(config)
  keys = device_augmentations.section_keys(config, "stc_mix")
  alpha, prob = float(config.stc_mix.alpha), float(config.stc_mix.prob)

  def mix_with_partners(clips: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    box_key, partner_key = jax.random.split(key)
    shape = tuple(clips.shape[1:4])
    starts, ends = sample_boxes(box_key, clips.shape[0], shape, alpha, prob)
    partners = jax.random.permutation(partner_key, clips.shape[0])
    return cutmix(clips, box_masks(starts, ends, shape), partners)

  def augment(batch: Mapping[str, jax.Array], key: jax.Array) -> dict:
    return device_augmentations.augment_clip_fields(batch, keys, "stc_mix", key,
                                                    mix_with_partners)

  return augment
