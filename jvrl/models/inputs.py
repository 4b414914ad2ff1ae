"""The pixel convention at the model boundary.

Batches travel from the input pipeline to the devices as uint8 (4x less
host->device traffic than float32); every encoder takes float video in [0, 1].
Models that want another range (VATT: [-1, 1]) rescale inside themselves: a
convolutional backbone may first standardise the channels with the statistics
its weights were trained with (`normalize_video`, the backbones'
`input_normalization` option: 'kinetics' for torchvision's Kinetics-400
models) and then turn the video into residual frames (`transform_video`, the
`input_transform` option).
"""
import jax
import jax.numpy as jnp


def to_unit_float(video: jax.Array, dtype=jnp.float32) -> jax.Array:
  """uint8 pixels [0, 255] -> `dtype` in [0, 1]; float input is returned as is."""
  if jnp.issubdtype(video.dtype, jnp.integer):
    return video.astype(dtype) / 255.0
  return video.astype(dtype)


# name -> (per-channel mean, per-channel std) of RGB in [0, 1]; 'none' leaves the video as is.
# 'kinetics': what torchvision's Kinetics-400 video models (r3d_18, mc3_18,
# r2plus1d_18) were trained on (their VideoClassification transform).
INPUT_NORMALIZATIONS: dict[str, tuple[tuple[float, ...], tuple[float, ...]] | None] = {
    "none": None,
    "kinetics": ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)),
}


def normalize_video(video: jax.Array, normalization: str = "none") -> jax.Array:
  """(video - mean) / std per RGB channel of float video [..., 3] in [0, 1] ('none': as is).

  The arithmetic runs in `video`'s dtype.
  """
  if normalization not in INPUT_NORMALIZATIONS:
    raise ValueError(f"Unknown input_normalization {normalization!r}; known: "
                     f"{tuple(INPUT_NORMALIZATIONS)}.")
  statistics = INPUT_NORMALIZATIONS[normalization]
  if statistics is None:
    return video
  mean, std = statistics
  if video.shape[-1] != len(mean):
    raise ValueError(f"input_normalization={normalization!r} needs {len(mean)} channels, got "
                     f"video of shape {video.shape}.")
  return (video - jnp.asarray(mean, video.dtype)) / jnp.asarray(std, video.dtype)


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
