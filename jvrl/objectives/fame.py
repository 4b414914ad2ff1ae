"""FAME: foreground-background merging, an on-device batch augmentation (REFERENCE §4).

FAME (Ding et al., CVPR 2022; Mark12Ding/FAME `moco/loader.py::FAME`) pastes
the moving foreground of each clip onto the background of another clip of the
same global batch, and contrasts the merged clip with the original clip's
other view: the positive pair then shares its motion, not its background, so
static-background shortcuts stop paying. Per clip x [T, H, W, 3] in [0, 1]:

  1. motion map: |x[t] - x[t+1]| summed over channels, averaged over time;
  2. Gaussian blur (kernel k = int(0.1 * H) // 2 * 2 + 1, sigma k / 3, reflect
     padding) and min-max normalisation per clip;
  3. colour refinement (`color_refinement=True`, the reference's `getSeg`): a
     1000-bin colour code of the clip's mean frame (hue and saturation as
     polar coordinates, 10 x 10 bins, x 10 value bins); a foreground histogram
     of the top half of the motion map's pixels and a background histogram
     (+1 per bin) of its bottom 10%; per pixel p_fg / (p_fg + p_bg), blurred
     and normalised again;
  4. the top `beta` fraction of pixels (FAME: 0.5) is the foreground mask m;
  5. merged[i] = x[i] * m[i] + x[perm(i)] * (1 - m[i]), perm a random
     permutation of the global batch (like torch.randperm it may keep i).

Config: `config.device_augment` lists 'fame'; `config.fame.keys` the clip
fields to merge (FAME: the query view only, ('view1',)). It runs in the
trainer's on-device augmentation stage under the global batch's sharding
(the permutation draws partners from every device). The merged clip keeps
clip i's foreground, so its positive stays clip i's other view: no mixing
targets (`MIXES_EXAMPLES = False`).

Deviations: the reference hashes kornia's hue (radians) as if it were in
turns and can index bin 1000 of 1000; here hue is in turns and the codes are
0..999. The reference applies FAME before its GPU colour jitter and blur;
jvrl's per-pixel augmentations still run in tf.data, before it.
"""
import math
from typing import Mapping

import jax
import jax.numpy as jnp
import ml_collections

from jvrl.objectives import base
from jvrl.objectives import device_augmentations

MIXES_EXAMPLES = False
# The reference's colour code: 10 bins each for hue-x, hue-y (saturation-weighted
# polar coordinates of the hue) and value.
COLOR_BINS = 10
FOREGROUND_SAMPLE_FRACTION = 0.5   # top motion pixels feeding the foreground histogram
BACKGROUND_SAMPLE_FRACTION = 0.1   # bottom motion pixels feeding the background histogram
_EPS = 1e-8


def blur_kernel_size(side: int) -> int:
  """FAME's Gaussian kernel for a crop side: int(0.1 * side) // 2 * 2 + 1 (112 -> 11, 32 -> 3)."""
  return int(0.1 * side) // 2 * 2 + 1


def gaussian_blur_2d(maps: jax.Array, kernel_size: int) -> jax.Array:
  """[B, H, W] maps blurred by a normalised Gaussian of `kernel_size` taps, sigma
  kernel_size / 3, separable, reflect padding (edge not repeated)."""
  radius = kernel_size // 2
  if radius == 0:
    return maps
  taps = jnp.arange(-radius, radius + 1, dtype=jnp.float32)
  kernel = jnp.exp(-taps ** 2 / (2.0 * (kernel_size / 3.0) ** 2))
  kernel = kernel / jnp.sum(kernel)
  for axis in (1, 2):
    pad = [(0, 0)] * 3
    pad[axis] = (radius, radius)
    padded = jnp.pad(maps, pad, mode="reflect")
    size = maps.shape[axis]
    maps = sum(kernel[i] * jax.lax.slice_in_dim(padded, i, i + size, axis=axis)
               for i in range(kernel_size))
  return maps


def normalize_per_map(maps: jax.Array) -> jax.Array:
  """Min-max normalisation of each [H, W] map of [B, H, W] (the reference's norm_batch)."""
  flat = maps.reshape(maps.shape[0], -1)
  flat = flat - jnp.min(flat, axis=1, keepdims=True)
  flat = flat / (jnp.max(flat, axis=1, keepdims=True) + _EPS)
  return flat.reshape(maps.shape)


def motion_map(clips: jax.Array, kernel_size: int) -> jax.Array:
  """[B, T, H, W, 3] in [0, 1] -> blurred, normalised frame-difference map [B, H, W]."""
  differences = jnp.abs(clips[:, :-1] - clips[:, 1:]).sum(axis=-1).mean(axis=1)
  return normalize_per_map(gaussian_blur_2d(differences, kernel_size))


def rgb_to_hsv(rgb: jax.Array) -> jax.Array:
  """[..., 3] RGB in [0, 1] -> HSV, all three in [0, 1] (hue in turns)."""
  r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
  value = jnp.max(rgb, axis=-1)
  spread = value - jnp.min(rgb, axis=-1)
  saturation = jnp.where(value > 0, spread / jnp.maximum(value, _EPS), 0.0)
  safe = jnp.maximum(spread, _EPS)
  hue = jnp.where(value == r, (g - b) / safe,
                  jnp.where(value == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
  hue = jnp.where(spread > 0, jnp.mod(hue / 6.0, 1.0), 0.0)
  return jnp.stack([hue, saturation, value], axis=-1)


def color_codes(frames: jax.Array) -> jax.Array:
  """[B, H, W, 3] RGB in [0, 1] -> int32 [B, H*W] colour codes in 0..COLOR_BINS**3 - 1."""
  hsv = rgb_to_hsv(frames)
  hue, saturation, value = hsv[..., 0], hsv[..., 1], hsv[..., 2]
  levels = COLOR_BINS - 1
  x = jnp.round((saturation * jnp.cos(2 * math.pi * hue) + 1) / 2 * levels)
  y = jnp.round((saturation * jnp.sin(2 * math.pi * hue) + 1) / 2 * levels)
  v = jnp.round(value * levels)
  codes = (x + y * COLOR_BINS + v * COLOR_BINS ** 2).astype(jnp.int32)
  return codes.reshape(codes.shape[0], -1)


def _histograms(codes: jax.Array, indices: jax.Array) -> jax.Array:
  """Per-row counts [B, COLOR_BINS**3] of codes[b, indices[b]]."""
  picked = jnp.take_along_axis(codes, indices, axis=1)
  rows = jnp.broadcast_to(jnp.arange(codes.shape[0])[:, None], picked.shape)
  return jnp.zeros((codes.shape[0], COLOR_BINS ** 3), jnp.float32).at[rows, picked].add(1.0)


def refine_with_colors(motion: jax.Array, clips: jax.Array, kernel_size: int) -> jax.Array:
  """The reference's getSeg before its top-k: per-pixel foreground colour likelihood
  ratio, blurred and normalised ([B, H, W])."""
  batch, height, width = motion.shape
  pixels = height * width
  flat = motion.reshape(batch, pixels)
  codes = color_codes(clips.mean(axis=1))
  foreground = jax.lax.top_k(flat, int(FOREGROUND_SAMPLE_FRACTION * pixels))[1]
  background = jax.lax.top_k(-flat, int(BACKGROUND_SAMPLE_FRACTION * pixels))[1]
  counts_fg = _histograms(codes, foreground)
  counts_bg = _histograms(codes, background) + 1.0
  counts_fg = counts_fg / (counts_fg.sum(axis=1, keepdims=True) + _EPS)
  counts_bg = counts_bg / (counts_bg.sum(axis=1, keepdims=True) + _EPS)
  p_fg = jnp.take_along_axis(counts_fg, codes, axis=1)
  p_bg = jnp.take_along_axis(counts_bg, codes, axis=1)
  ratio = (p_fg / (p_bg + p_fg)).reshape(batch, height, width)
  return normalize_per_map(gaussian_blur_2d(ratio, kernel_size))


def foreground_scores(clips: jax.Array, color_refinement: bool = True) -> jax.Array:
  """Per-pixel foreground scores [B, H, W] in [0, 1] of clips [B, T, H, W, 3] in [0, 1]:
  the blurred motion map, colour-refined when asked (steps 1-3 above)."""
  kernel_size = blur_kernel_size(clips.shape[2])
  scores = motion_map(clips, kernel_size)
  if color_refinement:
    scores = refine_with_colors(scores, clips, kernel_size)
  return scores


def top_fraction_mask(scores: jax.Array, beta: float) -> jax.Array:
  """Binary masks [B, H, W] (float32) of the int(beta * H * W) highest scores of each map."""
  batch, height, width = scores.shape
  top = jax.lax.top_k(scores.reshape(batch, -1), int(beta * height * width))[1]
  rows = jnp.broadcast_to(jnp.arange(batch)[:, None], top.shape)
  mask = jnp.zeros((batch, height * width), jnp.float32).at[rows, top].set(1.0)
  return mask.reshape(batch, height, width)


def foreground_mask(clips: jax.Array, beta: float, color_refinement: bool = True) -> jax.Array:
  """FAME's binary foreground masks [B, H, W] of clips [B, T, H, W, 3] in [0, 1]."""
  return top_fraction_mask(foreground_scores(clips, color_refinement), beta)


def merge(clips: jax.Array, mask: jax.Array, partners: jax.Array) -> jax.Array:
  """clips[i] where mask[i] is 1, clips[partners[i]] elsewhere ([B, T, H, W, C], float)."""
  mask = mask[:, None, :, :, None]
  return clips * mask + jnp.take(clips, partners, axis=0) * (1.0 - mask)


def check_config(config: ml_collections.ConfigDict) -> None:
  """`config.fame`: keys (checked by the registry), 0 < beta <= 1, color_refinement bool."""
  section = base.require_section(config, "fame")
  beta = section.get("beta")
  if not isinstance(beta, (int, float)) or not 0.0 < beta <= 1.0:
    raise ValueError(f"config.fame.beta={beta!r} must lie in (0, 1] (the foreground's share "
                     "of the pixels; FAME: 0.5).")
  if not isinstance(section.get("color_refinement"), bool):
    raise ValueError(f"config.fame.color_refinement={section.get('color_refinement')!r} must be "
                     "True or False.")


def build_batch_augmentation(config: ml_collections.ConfigDict) -> base.BatchAugmentFn:
  """FAME on the fields `config.fame.keys` of the global batch."""
  check_config(config)
  keys = device_augmentations.section_keys(config, "fame")
  beta, refine = float(config.fame.beta), bool(config.fame.color_refinement)

  def merge_with_partners(clips: jax.Array, key: jax.Array) -> tuple[jax.Array, None]:
    partners = jax.random.permutation(key, clips.shape[0])
    return merge(clips, foreground_mask(clips, beta, refine), partners), None

  def augment(batch: Mapping[str, jax.Array], key: jax.Array) -> dict:
    return device_augmentations.augment_clip_fields(batch, keys, "fame", key,
                                                    merge_with_partners)

  return augment
