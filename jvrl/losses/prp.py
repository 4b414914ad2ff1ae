"""PRP's losses: motion-weighted 2x slow-motion reconstruction + playback-rate CE (REFERENCE §3).

Everything here is pure jnp and runs inside the jitted train step on GLOBAL
arrays: the motion-attention map is computed on the device from the target
frames, not in the input pipeline.

Motion-attention map (`motion_attention_map`), per example of rate s, as PRP's
code (datasets/predict_dataset.py `PredictDataset.__getitem__`,
datasets/patch_region.py `getPatchLossMask_DPAU` / `getPatchLossMask_Gauss`):
  * It is computed from the DECODED WINDOW of the example (T*s*b consecutive
    video frames; PRP: 16*s), not from the target: the window is cut into s
    chunks of T*b frames and 4 frames of each chunk are used, frames
    {0, 5, 10, 15} of a 16-frame chunk (`prp_sampling.motion_frame_offsets`;
    the batch's 'motion_frames' hold them, 4 per chunk). Chunk c's map
    weights the target frames [c*2T/s, (c+1)*2T/s) (PRP: 32/s target frames
    per chunk).
  * 'motion' (default): squared differences of consecutive selected frames per
    RGB channel (3 maps per channel), average-pooled with kernel (3, ph, pw)
    and stride (3, sh, sw) (PRP at 112x112: (3, 28, 28) / (3, 7, 7) -> 13x13),
    each channel min-max rescaled into [lo, hi] = [0.8, 2.0]:
    (x - min + 1e-6) / (max - min + 1e-6) * (hi - lo) + lo, then upsampled
    (bilinear in space, half-pixel centres like PyTorch's
    align_corners=False; constant over the chunk's frames, i.e. trilinear from
    one pooled frame) to the target size. A channel whose pooled map is flat
    gets hi (2.0) everywhere by that formula when another channel of the chunk
    is not flat; a chunk whose three channels are all flat (e.g. constant
    frames) gets an all-ones map (PRP's guard; nothing divides by zero).
  * 'gaussian': the same pooled motion, averaged over channels, picks the
    ph x pw window with the most motion (the last one in raster order on
    ties, as PRP's `>=` scan); the map is a Gaussian of std `sigma` (PRP: 14 =
    ph / 2) centred on that window, rescaled into [lo, hi], the same for every
    channel. A chunk without motion gets an all-ones map (PRP's code has no
    such guard and centres the Gaussian on the last window).
  * 'uniform': all ones (no motion weighting; an ablation).

Loss (`prp_loss`): per example, the mean over VALID target frames (and pixels,
channels) of map * (prediction - target)^2, then the mean over the batch;
total = reconstruction_weight * that + rate_weight * rate cross-entropy
(PRP: 1 and 0.1).
"""
from typing import Mapping, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

MASK_MODES = ("motion", "gaussian", "uniform")
NUM_SELECTED_FRAMES = 4
MIN_MAX_EPSILON = 1e-6


def _check_rates(rates: Sequence[int]) -> tuple[int, ...]:
  rates = tuple(int(r) for r in rates)
  if len(rates) < 1 or any(r < 1 for r in rates):
    raise ValueError(f"rates must be positive ints, got {rates!r}.")
  return rates


def default_pooling(height: int, width: int) -> tuple[tuple[int, int], tuple[int, int]]:
  """PRP's pooling scaled to the frame: window (H/4, W/4), stride (H/16, W/16), at least 1.

  112x112 -> window (28, 28), stride (7, 7) (a 13x13 map); 32x32 -> (8, 8), (2, 2).
  """
  return ((max(height // 4, 1), max(width // 4, 1)),
          (max(height // 16, 1), max(width // 16, 1)))


def _pooled_motion(selected: jax.Array, window: tuple[int, int],
                   stride: tuple[int, int]) -> jax.Array:
  """[N, 4, H, W, C] frames -> [N, Hp, Wp, C]: mean squared consecutive differences, pooled."""
  diffs = jnp.square(selected[:, 1:] - selected[:, :-1])  # [N, 3, H, W, C]
  return nn.avg_pool(jnp.mean(diffs, axis=1), window, strides=stride, padding="VALID")


def _min_max_rescale(x: jax.Array, value_range: tuple[float, float],
                     epsilon: float) -> jax.Array:
  """PRP's per-channel rescale into [lo, hi] of [..., Hp, Wp, C] maps; all ones where
  every channel is flat (a flat channel next to a moving one gets hi)."""
  low, high = value_range
  x_min = jnp.min(x, axis=(-3, -2), keepdims=True)
  x_max = jnp.max(x, axis=(-3, -2), keepdims=True)
  scaled = (x - x_min + epsilon) / (x_max - x_min + epsilon) * (high - low) + low
  any_moving = jnp.any(x_max > x_min, axis=-1, keepdims=True)
  return jnp.where(any_moving, scaled, 1.0)


def _per_frame(chunk_values: jax.Array, num_frames: int) -> jax.Array:
  """[B, s, ...] per chunk -> [B, num_frames, ...]: each chunk's value on its frames."""
  return jnp.repeat(chunk_values, num_frames // chunk_values.shape[1], axis=1)


def _select_by_rate(candidates: list[jax.Array], rate_index: jax.Array) -> jax.Array:
  """candidates[r]: [B, ...]; returns candidates[rate_index[b]][b] for every b."""
  stacked = jnp.stack(candidates)  # [R, B, ...]
  index = rate_index.astype(jnp.int32).reshape((1, -1) + (1,) * (stacked.ndim - 2))
  return jnp.take_along_axis(stacked, index, axis=0)[0]


def motion_attention_map(
    motion_frames: jax.Array,
    rate_index: jax.Array,
    rates: Sequence[int],
    num_target_frames: int,
    *,
    mode: str = "motion",
    pool_window: tuple[int, int] | None = None,
    pool_stride: tuple[int, int] | None = None,
    sigma: float | None = None,
    value_range: tuple[float, float] = (0.8, 2.0),
) -> jax.Array:
  """PRP's motion-attention weights for the reconstruction loss (module docstring).

  Args:
    motion_frames: float [B, 4 * max(rates), H, W, C], pixels in [0, 1]: the
      window's 4 frames of each chunk, chunk after chunk (the batch's
      'motion_frames'); an example of rate s reads its first s chunks.
    rate_index: int [B], each example's index into `rates`.
    rates: the playback rates (static), e.g. (1, 2, 4, 8).
    num_target_frames: 2T, the target's frames (divisible by every rate).
    mode: 'motion', 'gaussian' or 'uniform'.
    pool_window, pool_stride: spatial pooling; None -> `default_pooling`.
    sigma: std of the 'gaussian' map in pixels; None -> pool_window[0] / 2.
    value_range: (lo, hi) of the rescaled map (PRP: (0.8, 2.0)).

  Returns:
    float32 [B, 2T, H, W, C], no gradient (a function of the frames only).
  """
  if mode not in MASK_MODES:
    raise ValueError(f"Unknown mask mode {mode!r}; known: {MASK_MODES}.")
  if motion_frames.ndim != 5:
    raise ValueError(f"motion_frames must be [B, 4 * max(rates), H, W, C], got "
                     f"{motion_frames.shape}.")
  rates = _check_rates(rates)
  frames = jax.lax.stop_gradient(motion_frames.astype(jnp.float32))
  batch, num_motion, height, width, channels = frames.shape
  num_frames = int(num_target_frames)
  out_shape = (batch, num_frames, height, width, channels)
  if mode == "uniform":
    return jnp.ones(out_shape, jnp.float32)
  if num_motion != NUM_SELECTED_FRAMES * max(rates):
    raise ValueError(f"motion_frames must hold {NUM_SELECTED_FRAMES} frames per chunk of the "
                     f"largest rate ({NUM_SELECTED_FRAMES * max(rates)}), got {num_motion}.")
  if any(num_frames % rate for rate in rates):
    raise ValueError(f"num_target_frames={num_frames} must be divisible by every rate {rates}.")
  window, stride = default_pooling(height, width)
  window, stride = tuple(pool_window or window), tuple(pool_stride or stride)
  if window[0] > height or window[1] > width:
    raise ValueError(f"pool_window {window} is larger than the frames ({height}x{width}).")

  low_res = []  # per rate: [B, 2T, Hp, Wp, C] ('motion') or centres [B, 2T, 2] + flat flags
  for rate in rates:
    selected = frames[:, :NUM_SELECTED_FRAMES * rate]  # [B, s*4, H, W, C]
    selected = selected.reshape((batch * rate, NUM_SELECTED_FRAMES) + frames.shape[2:])
    pooled = _pooled_motion(selected, window, stride)  # [B*s, Hp, Wp, C]
    pooled = pooled.reshape((batch, rate) + pooled.shape[1:])
    if mode == "motion":
      maps = _min_max_rescale(pooled, value_range, MIN_MAX_EPSILON)
      low_res.append(_per_frame(maps, num_frames))
    else:  # 'gaussian'
      energy = jnp.mean(pooled, axis=-1).reshape(batch, rate, -1)  # [B, s, Hp*Wp]
      last_max = energy.shape[-1] - 1 - jnp.argmax(energy[..., ::-1], axis=-1)
      row, col = jnp.divmod(last_max, pooled.shape[3])
      centre = jnp.stack([row * stride[0] + window[0] / 2, col * stride[1] + window[1] / 2],
                         axis=-1).astype(jnp.float32)  # [B, s, 2]
      moving = (jnp.max(energy, axis=-1) > jnp.min(energy, axis=-1)).astype(jnp.float32)
      low_res.append(jnp.concatenate([_per_frame(centre, num_frames),
                                      _per_frame(moving[..., None], num_frames)], axis=-1))
  chosen = _select_by_rate(low_res, rate_index)

  if mode == "motion":
    return jax.image.resize(chosen, out_shape, "linear")
  sigma = float(window[0]) / 2.0 if sigma is None else float(sigma)
  rows = jnp.arange(height, dtype=jnp.float32)
  cols = jnp.arange(width, dtype=jnp.float32)
  fy = jnp.exp(-0.5 * jnp.square((rows - chosen[..., 0:1]) / sigma))  # [B, 2T, H]
  fx = jnp.exp(-0.5 * jnp.square((cols - chosen[..., 1:2]) / sigma))  # [B, 2T, W]
  gaussian = fy[..., :, None] * fx[..., None, :]  # [B, 2T, H, W]
  low, high = value_range
  g_min = jnp.min(gaussian, axis=(2, 3), keepdims=True)
  g_max = jnp.max(gaussian, axis=(2, 3), keepdims=True)
  scaled = (gaussian - g_min) / (g_max - g_min) * (high - low) + low
  scaled = jnp.where(chosen[..., 2:3, None] > 0, scaled, 1.0)
  return jnp.broadcast_to(scaled[..., None], out_shape)


def weighted_reconstruction_loss(prediction: jax.Array, target: jax.Array, weights: jax.Array,
                                 valid: jax.Array) -> jax.Array:
  """Mean over valid frames of weights * (prediction - target)^2 per example, then over the batch.

  prediction, target, weights: float [B, N, H, W, C]; valid: [B, N] (1 = frame
  counts). An example's value is sum_valid mean_{H,W,C}(w * d^2) / #valid.
  """
  squared = weights * jnp.square(prediction.astype(jnp.float32) - target.astype(jnp.float32))
  per_frame = jnp.mean(squared, axis=(2, 3, 4))  # [B, N]
  valid = valid.astype(jnp.float32)
  per_example = jnp.sum(per_frame * valid, axis=1) / jnp.maximum(jnp.sum(valid, axis=1), 1.0)
  return jnp.mean(per_example)


def prp_loss(
    outputs: Mapping[str, jax.Array],
    target: jax.Array,
    target_valid: jax.Array,
    motion_frames: jax.Array,
    rate_index: jax.Array,
    rates: Sequence[int],
    *,
    mask_mode: str = "motion",
    mask_range: tuple[float, float] = (0.8, 2.0),
    reconstruction_weight: float = 1.0,
    rate_weight: float = 0.1,
) -> tuple[jax.Array, dict]:
  """PRP's total loss and its metrics.

  Args:
    outputs: 'reconstruction' float [B, 2T, H, W, 3] and 'rate_logits' [B, R].
    target: float [B, 2T, H, W, 3] in [0, 1].
    target_valid: [B, 2T], 1 where the target frame exists.
    motion_frames: float [B, 4 * max(rates), H, W, 3] in [0, 1], the window's
      frames the motion map is computed from (`motion_attention_map`).
    rate_index: int [B], the rate labels.
    rates: the R playback rates (static).
    mask_mode, mask_range: see `motion_attention_map`.
    reconstruction_weight, rate_weight: total = rw * reconstruction + cw * CE.

  Returns:
    (total loss, {'reconstruction_loss', 'rate_loss', 'rate_accuracy'}).
  """
  reconstruction = outputs["reconstruction"]
  if reconstruction.shape != target.shape:
    raise ValueError(f"The decoder's output {reconstruction.shape} does not match the target "
                     f"{target.shape}: the backbone must reduce T by 8 and H, W by 16 "
                     "(clip_length a multiple of 8, crop_size a multiple of 16).")
  weights = motion_attention_map(motion_frames, rate_index, rates, target.shape[1],
                                 mode=mask_mode, value_range=tuple(mask_range))
  reconstruction_loss = weighted_reconstruction_loss(reconstruction, target, weights,
                                                     target_valid)
  logits = outputs["rate_logits"].astype(jnp.float32)
  labels = rate_index.astype(jnp.int32)
  rate_loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
  accuracy = jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))
  total = reconstruction_weight * reconstruction_loss + rate_weight * rate_loss
  return total, {"reconstruction_loss": reconstruction_loss, "rate_loss": rate_loss,
                 "rate_accuracy": accuracy}
