"""The pixel convention at the model boundary.

Batches travel from the input pipeline to the devices as uint8 (4x less
host->device traffic than float32); every encoder takes float video in [0, 1].
Models that want another range (VATT: [-1, 1]) rescale inside themselves.
"""
import jax
import jax.numpy as jnp


def to_unit_float(video: jax.Array, dtype=jnp.float32) -> jax.Array:
  """uint8 pixels [0, 255] -> `dtype` in [0, 1]; float input is returned as is."""
  if jnp.issubdtype(video.dtype, jnp.integer):
    return video.astype(dtype) / 255.0
  return video.astype(dtype)
