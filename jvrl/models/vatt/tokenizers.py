"""VATT's tokenisers: raw signal -> grid of tokens with position embeddings (REFERENCE §2).

* Video: non-overlapping voxel patches (4x16x16x3 by default) linearly
  projected, i.e. a Conv3D with kernel = stride. `PatchEmbedding` computes
  exactly that as a reshape and one matmul (its kernel has the Conv3D's
  [pt, ph, pw, C, D] layout): the same function, and fast on CPU, where XLA's
  strided 3-D convolution gradients are slow.
* Audio: raw-waveform patches (128 samples), the Conv1D counterpart.
* Text: word vectors -> GELU(Dense(D)), VATT's text pre-projection
  (google-research vatt modeling/backbones/text/factory.py `LanguageModel`:
  `pre_proj = Dense(d_pre_proj, use_bias=False, activation='gelu')`, d_pre_proj
  = the text transformer's width; the modality-agnostic model's
  `UniversalVATT.pre_proj['text']` is the same with a bias). The word vectors
  come from the model's embedding table (`VattModel`).

Position embeddings are learned and factorised: one table per grid axis
(temporal, vertical, horizontal for video), summed. Each table is learned for
a fixed number of positions (`buckets`); a grid of another size (other clip
length or crop) uses the tables linearly interpolated to its size.
"""
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

_POSITION_INIT = nn.initializers.normal(stddev=0.02)


def interpolate_table(table: jax.Array, length: int) -> jax.Array:
  """Resizes a position table [N, D] to [length, D] along its positions.

  Linear interpolation with half-pixel centres (`jax.image.resize`, method
  'linear', no antialiasing): position i of the new table samples the old one
  at (i + 0.5) * N / length - 0.5, clamped to [0, N - 1]. The table is
  returned unchanged when length == N.
  """
  if table.ndim != 2:
    raise ValueError(f"table must be [N, D], got shape {table.shape}.")
  if length < 1:
    raise ValueError(f"length must be >= 1, got {length}.")
  if table.shape[0] == length:
    return table
  return jax.image.resize(table, (length, table.shape[1]), method="linear", antialias=False)


class FactorizedPositionEmbedding(nn.Module):
  """Adds sum_axis table_axis[position along axis] to every token of a grid.

  Attributes:
    buckets: positions each axis's table is learned for, e.g. (8, 14, 14).
    axis_names: the tables' parameter names, one per axis.
  """
  buckets: Sequence[int]
  axis_names: Sequence[str]

  @nn.compact
  def __call__(self, tokens: jax.Array) -> jax.Array:
    """tokens [B, n_1, ..., n_k, D] -> same shape, with the embeddings added."""
    grid = tokens.shape[1:-1]
    if len(grid) != len(self.buckets) or len(self.axis_names) != len(self.buckets):
      raise ValueError(f"tokens of grid {grid} need {len(grid)} buckets and axis names, got "
                       f"{tuple(self.buckets)} and {tuple(self.axis_names)}.")
    width = tokens.shape[-1]
    for axis, (size, buckets, name) in enumerate(zip(grid, self.buckets, self.axis_names)):
      table = self.param(name, _POSITION_INIT, (int(buckets), width), jnp.float32)
      shape = [1] * tokens.ndim
      shape[axis + 1], shape[-1] = size, width
      tokens = tokens + interpolate_table(table, size).astype(tokens.dtype).reshape(shape)
    return tokens


class PatchEmbedding(nn.Module):
  """Linear projection of non-overlapping patches: ConvND with kernel = stride, VALID.

  Attributes:
    patch_size: patch extent along each of the N grid axes.
    width: output channels D.
    dtype: computation dtype (parameters are float32).
  """
  patch_size: Sequence[int]
  width: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x [B, s_1, ..., s_N, C] -> [B, s_1/p_1, ..., s_N/p_N, D] (sizes must divide)."""
    patch = tuple(int(p) for p in self.patch_size)
    sizes, channels = x.shape[1:-1], x.shape[-1]
    if len(sizes) != len(patch):
      raise ValueError(f"input grid {sizes} has {len(sizes)} axes, patch_size {patch} has "
                       f"{len(patch)}.")
    if any(s % p for s, p in zip(sizes, patch)):
      raise ValueError(f"input grid {sizes} is not divisible by patch_size {patch}.")
    grid = tuple(s // p for s, p in zip(sizes, patch))
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        patch + (channels, self.width), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.width,), jnp.float32)
    # [B, n1, p1, n2, p2, ..., C] -> [B, n1, n2, ..., p1, p2, ..., C]
    split = [x.shape[0]] + [d for pair in zip(grid, patch) for d in pair] + [channels]
    n = len(patch)
    order = [0] + [1 + 2 * i for i in range(n)] + [2 + 2 * i for i in range(n)] + [2 * n + 1]
    patches = x.astype(self.dtype).reshape(split).transpose(order)
    patches = patches.reshape((x.shape[0],) + grid + (-1,))
    y = patches @ kernel.astype(self.dtype).reshape(-1, self.width)
    return y + bias.astype(self.dtype)


def _pre_projection(tokens: jax.Array, width: int, dtype: Any) -> jax.Array:
  """GELU(Dense(width)) on every token: the modality-agnostic model's per-modality
  `pre_proj` (google-research vatt modeling/backbones/unified/uvatt.py
  `UniversalVATT`: Dense(d_model, activation='gelu'), between the patch
  projection and the position embeddings)."""
  return nn.gelu(nn.Dense(width, dtype=dtype, param_dtype=jnp.float32,
                          name="pre_projection")(tokens), approximate=False)


class VoxelTokenizer(nn.Module):
  """Video in [0, 1] -> voxel-patch tokens [B, t, h, w, D] with position embeddings.

  Pixels are mapped to [-1, 1] first (VATT's input range). `pre_projection`
  adds GELU(Dense(D)) after the patch projection (VATT-MA).
  """
  patch_size: Sequence[int] = (4, 16, 16)
  width: int = 768
  pos_buckets: Sequence[int] = (8, 14, 14)
  dtype: Any = jnp.float32
  pre_projection: bool = False

  @nn.compact
  def __call__(self, video: jax.Array) -> jax.Array:
    if video.ndim != 5:
      raise ValueError(f"video must be [B, T, H, W, C], got shape {video.shape}.")
    x = video.astype(self.dtype) * 2.0 - 1.0
    tokens = PatchEmbedding(self.patch_size, self.width, self.dtype, name="projection")(x)
    if self.pre_projection:
      tokens = _pre_projection(tokens, self.width, self.dtype)
    return FactorizedPositionEmbedding(self.pos_buckets, ("temporal", "vertical", "horizontal"),
                                       name="position_embedding")(tokens)


class WaveformTokenizer(nn.Module):
  """Waveform [B, S] -> patch tokens [B, S / patch_size, D] with position embeddings.

  `pre_projection` adds GELU(Dense(D)) after the patch projection (VATT-MA).
  """
  patch_size: int = 128
  width: int = 768
  pos_buckets: int = 1200
  dtype: Any = jnp.float32
  pre_projection: bool = False

  @nn.compact
  def __call__(self, waveform: jax.Array) -> jax.Array:
    if waveform.ndim != 2:
      raise ValueError(f"waveform must be [B, S], got shape {waveform.shape}.")
    tokens = PatchEmbedding((self.patch_size,), self.width, self.dtype, name="projection")(
        waveform[..., None])
    if self.pre_projection:
      tokens = _pre_projection(tokens, self.width, self.dtype)
    return FactorizedPositionEmbedding((self.pos_buckets,), ("temporal",),
                                       name="position_embedding")(tokens)


class TextTokenizer(nn.Module):
  """Word vectors [B, L, E] -> GELU(Dense(D)) tokens [B, L, D] with position embeddings.

  Attributes:
    width: D, the transformer's width (VATT: 512 for the text tower).
    pos_buckets: positions the table is learned for (16 words).
    use_bias: the projection's bias (VATT: none in the modality-specific
      text tower, one in the modality-agnostic model).
  """
  width: int = 512
  pos_buckets: int = 16
  dtype: Any = jnp.float32
  use_bias: bool = False

  @nn.compact
  def __call__(self, word_vectors: jax.Array) -> jax.Array:
    if word_vectors.ndim != 3:
      raise ValueError(f"word_vectors must be [B, L, E], got shape {word_vectors.shape}.")
    tokens = nn.gelu(nn.Dense(self.width, use_bias=self.use_bias, dtype=self.dtype,
                              param_dtype=jnp.float32, name="projection")(word_vectors),
                     approximate=False)
    return FactorizedPositionEmbedding((self.pos_buckets,), ("position",),
                                       name="position_embedding")(tokens)
