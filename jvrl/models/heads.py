"""Heads applied to a backbone's feature map: global average pooling and the projection MLP."""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def global_average_pool(feature_map: jax.Array) -> jax.Array:
  """Mean over time and space: [B, T, H, W, C] -> [B, C] (same dtype)."""
  if feature_map.ndim != 5:
    raise ValueError(f"feature_map must be [B, T, H, W, C], got shape {feature_map.shape}.")
  return jnp.mean(feature_map, axis=(1, 2, 3))


class ProjectionMLP(nn.Module):
  """CVRL's / SimCLR's projection head (REFERENCE §1).

  [B, C] -> `num_hidden_layers` x [Dense(hidden_dim) -> BN -> ReLU] ->
  Dense(output_dim) -> [B, output_dim] float32. Hidden Dense layers have no
  bias when followed by BN (BN's bias replaces it). Params: `hidden{i}_dense`,
  `hidden{i}_bn` (i from 0) and `output_dense`. BN has no `axis_name`: under a
  jit over a sharded batch its statistics span the global batch. BN momentum
  0.997 and epsilon 1e-5 are CVRL's head (tensorflow/models
  official/projects/video_ssl/configs/video_ssl.py `VideoSSLModel.hidden_norm_activation`;
  the backbone's BN keeps 0.9); the momentum only moves the running averages,
  which the training loss never reads.
  """
  hidden_dim: int = 2048
  num_hidden_layers: int = 3
  output_dim: int = 128
  use_bn: bool = True
  bn_momentum: float = 0.997
  bn_epsilon: float = 1e-5
  dtype: Any = jnp.float32

  def __post_init__(self):
    for field in ("hidden_dim", "output_dim"):
      if getattr(self, field) < 1:
        raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}.")
    if self.num_hidden_layers < 0:
      raise ValueError(f"num_hidden_layers must be >= 0, got {self.num_hidden_layers}.")
    super().__post_init__()

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    """Pooled features [B, C] -> embeddings [B, output_dim] (not normalised).

    `train=True` uses batch statistics and updates 'batch_stats'.
    """
    if x.ndim != 2:
      raise ValueError(f"x must be pooled features [B, C], got shape {x.shape}.")
    x = x.astype(self.dtype)
    for layer in range(self.num_hidden_layers):
      x = nn.Dense(self.hidden_dim, use_bias=not self.use_bn, dtype=self.dtype,
                   param_dtype=jnp.float32, name=f"hidden{layer}_dense")(x)
      if self.use_bn:
        x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                         epsilon=self.bn_epsilon, dtype=self.dtype, param_dtype=jnp.float32,
                         name=f"hidden{layer}_bn")(x)
      x = nn.relu(x)
    x = nn.Dense(self.output_dim, dtype=self.dtype, param_dtype=jnp.float32,
                 name="output_dense")(x)
    return x.astype(jnp.float32)
