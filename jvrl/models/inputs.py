"""The pixel convention at the model boundary.

Batches travel from the input pipeline to the devices as uint8 (4x less
host->device traffic than float32); every encoder takes float video in [0, 1].
Models that want another range (VATT: [-1, 1]) rescale inside themselves, and
a convolutional backbone may first turn the video into residual frames
(`transform_video`, the backbones' `input_transform` option).
"""
import jax
import jax.numpy as jnp


def to_unit_float(video: jax.Array, dtype=jnp.float32) -> jax.Array:
  """uint8 pixels [0, 255] -> `dtype` in [0, 1]; float input is returned as is."""
  if jnp.issubdtype(video.dtype, jnp.integer):
    return video.astype(dtype) / 255.0
  return video.astype(dtype)


INPUT_TRANSFORMS = ("rgb", "frame_difference")


def transform_video(video: jax.Array, transform: str = "rgb") -> jax.Array:
  """What a backbone sees of float video [B, T, H, W, C] (shape kept).

  'rgb': the video itself. 'frame_difference': residual frames
  x[t+1] - x[t], in [-1, 1], the last one repeated to keep T frames: static
  appearance cancels and what moves remains (residual-frame input, Tao et al.
  2020), a motion prior that speeds up learning from small budgets.
  """
  if transform == "rgb":
    return video
  if transform == "frame_difference":
    if video.ndim != 5 or video.shape[1] < 2:
      raise ValueError(f"frame_difference needs video [B, T>=2, H, W, C], got {video.shape}.")
    differences = video[:, 1:] - video[:, :-1]
    return jnp.concatenate([differences, differences[:, -1:]], axis=1)
  raise ValueError(f"Unknown input_transform {transform!r}; known: {INPUT_TRANSFORMS}.")
