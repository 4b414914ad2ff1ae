"""VATT's transformer encoder (pre-norm, GELU) and DropToken (REFERENCE §2).

Block: x + Dropout(MHA(LN(x))), then x + Dropout(MLP(LN(x))) with
MLP = Dense(mlp_dim) -> GELU -> Dropout -> Dense(D); a final LayerNorm after
the last block; LayerNorm epsilon 1e-6. Masked (padding) tokens are never
attended to.

DropToken: in training only, each example keeps a uniformly random subset of
exactly `num_kept_tokens(N, keep_ratio)` of its N tokens (after position
embeddings were added), so the transformer runs on fewer tokens; evaluation
sees every token.
"""
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

DROP_TOKEN_RNG = "droptoken"


def num_kept_tokens(num_tokens: int, keep_ratio: float) -> int:
  """Tokens DropToken keeps: round(N * keep_ratio), at least 1 and at most N."""
  if not 0.0 < keep_ratio <= 1.0:
    raise ValueError(f"keep_ratio must be in (0, 1], got {keep_ratio}.")
  return max(1, min(num_tokens, int(round(num_tokens * keep_ratio))))


def drop_tokens(tokens: jax.Array, keep_ratio: float, rng: jax.Array) -> jax.Array:
  """Keeps a random subset of each example's tokens: [B, N, D] -> [B, K, D].

  K = `num_kept_tokens(N, keep_ratio)`; every example draws its own subset
  (uniform over all K-subsets) and the kept tokens stay in their original
  order.
  """
  if tokens.ndim != 3:
    raise ValueError(f"tokens must be [B, N, D], got shape {tokens.shape}.")
  batch, num_tokens, _ = tokens.shape
  kept = num_kept_tokens(num_tokens, keep_ratio)
  if kept == num_tokens:
    return tokens
  noise = jax.random.uniform(rng, (batch, num_tokens))
  indices = jnp.sort(jnp.argsort(noise, axis=1)[:, :kept], axis=1)
  return jnp.take_along_axis(tokens, indices[:, :, None], axis=1)


class DropToken(nn.Module):
  """`drop_tokens` in training (RNG stream 'droptoken'); the identity in evaluation."""
  keep_ratio: float = 0.5

  @nn.compact
  def __call__(self, tokens: jax.Array, train: bool) -> jax.Array:
    num_kept_tokens(tokens.shape[1], self.keep_ratio)  # checks keep_ratio
    if not train or self.keep_ratio >= 1.0:
      return tokens
    return drop_tokens(tokens, self.keep_ratio, self.make_rng(DROP_TOKEN_RNG))


class MlpBlock(nn.Module):
  """Dense(mlp_dim) -> GELU -> Dropout -> Dense(D) -> Dropout."""
  mlp_dim: int
  dropout_rate: float = 0.1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    width = x.shape[-1]
    dense = lambda features, name: nn.Dense(  # noqa: E731
        features, dtype=self.dtype, param_dtype=jnp.float32,
        kernel_init=nn.initializers.xavier_uniform(), bias_init=nn.initializers.normal(1e-6),
        name=name)
    x = nn.gelu(dense(self.mlp_dim, "dense_in")(x), approximate=False)
    x = nn.Dropout(self.dropout_rate)(x, deterministic=not train)
    x = dense(width, "dense_out")(x)
    return nn.Dropout(self.dropout_rate)(x, deterministic=not train)


class EncoderBlock(nn.Module):
  """One pre-norm transformer block (attention, then MLP, each residual)."""
  num_heads: int
  mlp_dim: int
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.0
  layer_norm_epsilon: float = 1e-6
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, attention_mask: Optional[jax.Array],
               train: bool) -> jax.Array:
    y = nn.LayerNorm(epsilon=self.layer_norm_epsilon, dtype=self.dtype,
                     param_dtype=jnp.float32, name="attention_norm")(x)
    y = nn.MultiHeadDotProductAttention(
        num_heads=self.num_heads, dtype=self.dtype, param_dtype=jnp.float32,
        kernel_init=nn.initializers.xavier_uniform(),
        dropout_rate=self.attention_dropout_rate, deterministic=not train,
        name="attention")(y, y, mask=attention_mask)
    x = x + nn.Dropout(self.dropout_rate)(y, deterministic=not train)
    y = nn.LayerNorm(epsilon=self.layer_norm_epsilon, dtype=self.dtype,
                     param_dtype=jnp.float32, name="mlp_norm")(x)
    return x + MlpBlock(self.mlp_dim, self.dropout_rate, self.dtype, name="mlp")(y, train)


class Transformer(nn.Module):
  """A stack of `EncoderBlock`s and a final LayerNorm; width = the input's D.

  Attributes:
    num_layers, num_heads, mlp_dim: sizes (VATT Base: 12, 12, 3072 at D=768).
    dropout_rate: residual and MLP dropout (training only).
    attention_dropout_rate: dropout on the attention weights.
    layer_norm_epsilon: LayerNorm epsilon (VATT: 1e-6).
    dtype: computation dtype; parameters are float32 (bfloat16 = mixed
      precision).
  """
  num_layers: int
  num_heads: int
  mlp_dim: int
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.0
  layer_norm_epsilon: float = 1e-6
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, mask: Optional[jax.Array] = None,
               train: bool = False) -> jax.Array:
    """x [B, N, D], mask bool [B, N] (True = real token) or None -> [B, N, D]."""
    if x.ndim != 3:
      raise ValueError(f"x must be [B, N, D], got shape {x.shape}.")
    if x.shape[-1] % self.num_heads:
      raise ValueError(f"width {x.shape[-1]} must be divisible by num_heads={self.num_heads}.")
    attention_mask = None if mask is None else nn.make_attention_mask(mask, mask)
    x = x.astype(self.dtype)
    for layer in range(self.num_layers):
      x = EncoderBlock(self.num_heads, self.mlp_dim, self.dropout_rate,
                       self.attention_dropout_rate, self.layer_norm_epsilon, self.dtype,
                       name=f"layer_{layer}")(x, attention_mask, train)
    return nn.LayerNorm(epsilon=self.layer_norm_epsilon, dtype=self.dtype,
                        param_dtype=jnp.float32, name="final_norm")(x)
