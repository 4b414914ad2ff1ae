"""PRP's two heads on a backbone's last feature map (REFERENCE §3).

* `RateClassificationHead` (discriminative branch): which playback rate the
  clip was sampled at. conv (C -> C, 3x3x3) + BN + ReLU -> global average
  pool -> `classifier` Dense(num_rates) (PRP's conv6_cls / pool5 / fc8).
* `ReconstructionDecoder` (generative branch): the clip at 2x slow motion.
  conv (C -> C) + BN + ReLU, then three [ConvTranspose (k=2, s=2) -> conv +
  BN + ReLU] stages halving the width (C -> C/2 -> C/4 -> C/8), one more
  ConvTranspose (k=2, s=2) (`ConvTranspose2x`), and a conv to 3 channels + BN + ReLU (so
  predictions are >= 0). No skip connections. Four 2x upsamplings: a
  [B, 2, 7, 7, 512] map (16x112x112 clip through any PRP backbone) becomes
  [B, 32, 112, 112, 3].

Both work on any backbone (widths follow the feature map's channels C).
Convs followed by BN have no bias; the transposed convs keep theirs (as in
PRP's code, no BN follows them). All conv kernels use the backbones' He
fan-out init.
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jvrl.models import conv3d

# Spatio-temporal upsampling factor of `ReconstructionDecoder` (four 2x stages).
DECODER_UPSAMPLING = 16


class ConvTranspose2x(nn.Module):
  """A 3-D transposed convolution with kernel 2 and stride 2 in every axis.

  [B, T, H, W, C] -> [B, 2T, 2H, 2W, features]: voxel (t, h, w) writes the
  2x2x2 output block at (2t + a, 2h + b, 2w + c) = x[t, h, w] @ kernel[a, b, c]
  + bias (blocks do not overlap). The same function as PyTorch's
  ConvTranspose3d(kernel_size=2, stride=2) with its weight permuted to
  (kd, kh, kw, in, out), and as flax's `nn.ConvTranspose((2, 2, 2), strides=2,
  padding='VALID')` with the kernel flipped in all three axes. Computed as one
  matmul and a depth-to-space reshape: on XLA:CPU its gradients are ~10x
  faster than `lax.conv_transpose`'s. Params: 'kernel' [2, 2, 2, C, features],
  'bias' [features].
  """
  features: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", conv3d.conv_kernel_init,
                        (2, 2, 2, x.shape[-1], self.features), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
    x = x.astype(self.dtype)
    blocks = jnp.einsum("nthwc,abecf->nthwabef", x, kernel.astype(self.dtype))
    n, t, h, w = x.shape[:4]
    y = blocks.transpose(0, 1, 4, 2, 5, 3, 6, 7).reshape(n, 2 * t, 2 * h, 2 * w, self.features)
    return y + bias.astype(self.dtype)


def _check_feature_map(feature_map: jax.Array) -> None:
  if feature_map.ndim != 5:
    raise ValueError(f"feature_map must be [B, T, H, W, C], got shape {feature_map.shape}.")


class RateClassificationHead(nn.Module):
  """Feature map [B, T, H, W, C] -> playback-rate logits float32 [B, num_rates].

  Params: `conv`, `bn`, `classifier` (the layer PRP trains with a 10x
  learning rate; see `lr_multipliers` in `jvrl.train.optimizers`).
  """
  num_rates: int
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  dtype: Any = jnp.float32

  def __post_init__(self):
    if self.num_rates < 2:
      raise ValueError(f"num_rates must be >= 2, got {self.num_rates}.")
    super().__post_init__()

  @nn.compact
  def __call__(self, feature_map: jax.Array, train: bool) -> jax.Array:
    """`train=True` uses batch statistics and updates 'batch_stats'."""
    _check_feature_map(feature_map)
    x = feature_map.astype(self.dtype)
    x = conv3d.conv3d(x.shape[-1], (3, 3, 3), dtype=self.dtype, name="conv")(x)
    x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                             epsilon=self.bn_epsilon, dtype=self.dtype,
                             param_dtype=jnp.float32, name="bn")(x))
    logits = nn.Dense(self.num_rates, dtype=self.dtype, param_dtype=jnp.float32,
                      name="classifier")(jnp.mean(x, axis=(1, 2, 3)))
    return logits.astype(jnp.float32)


class ReconstructionDecoder(nn.Module):
  """Feature map [B, T, H, W, C] -> frames float32 [B, 16T, 16H, 16W, out_channels] >= 0.

  Params: `conv_in`/`bn_in`, `up{i}_transpose` and `up{i}_conv`/`up{i}_bn` for
  i = 1..3, `up4_transpose`, `conv_out`/`bn_out`. Mid widths C/2, C/4, C/8
  (at least 1). `conv_impl` 'temporal_taps' computes the 3x3x3 convs as sums of
  2-D convs (identical results, several times faster on CPU at these widths;
  `jvrl.models.temporal_taps_conv`); keep 'native' on GPU/TPU.
  """
  out_channels: int = 3
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  dtype: Any = jnp.float32
  conv_impl: str = "native"

  def __post_init__(self):
    conv3d.check_conv_policy("native", self.conv_impl)
    super().__post_init__()

  @nn.compact
  def __call__(self, feature_map: jax.Array, train: bool) -> jax.Array:
    """`train=True` uses batch statistics and updates 'batch_stats'."""
    _check_feature_map(feature_map)
    norm = functools.partial(nn.BatchNorm, use_running_average=not train,
                             momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                             dtype=self.dtype, param_dtype=jnp.float32)

    conv = conv3d.conv3d_factory(conv_impl=self.conv_impl, dtype=self.dtype)

    def conv_bn_relu(x, features, conv_name, bn_name):
      x = conv(features, (3, 3, 3), name=conv_name)(x)
      return nn.relu(norm(name=bn_name)(x))

    def upsample(x, name):
      return ConvTranspose2x(x.shape[-1], dtype=self.dtype, name=f"{name}_transpose")(x)

    x = feature_map.astype(self.dtype)
    channels = x.shape[-1]
    x = conv_bn_relu(x, channels, "conv_in", "bn_in")
    for stage, divisor in enumerate((2, 4, 8), start=1):
      x = upsample(x, f"up{stage}")
      x = conv_bn_relu(x, max(channels // divisor, 1), f"up{stage}_conv", f"up{stage}_bn")
    x = upsample(x, "up4")
    return conv_bn_relu(x, self.out_channels, "conv_out", "bn_out").astype(jnp.float32)
