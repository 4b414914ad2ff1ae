"""C3D with batch norm, the backbone of PRP's C3D results (REFERENCE §3).

Eight 3x3x3 convolutions, each followed by BN and ReLU, with max-pools between
groups (PRP's `models/c3d.py`, the C3D of Tran et al. with BN and without
pool5 / fc6 / fc7):

  conv1 64 -> pool1 (1,2,2) -> conv2 128 -> pool2 (2,2,2) -> conv3a, conv3b 256
  -> pool3 (2,2,2) -> conv4a, conv4b 512 -> pool4 (2,2,2) -> conv5a, conv5b 512

Pools have no padding and floor odd sizes, like PyTorch's MaxPool3d, so
[B, 16, 112, 112, 3] -> [B, 2, 7, 7, 512 * width_multiplier]: overall stride
(8, 16, 16). It follows the backbone contract of `jvrl.models` (see
`jvrl.models.resnet3d`): float video in, the last feature map out (or logits
from global average pool + `classifier` when `num_classes` is set).
Parameter names: `conv1`, `bn1`, `conv2`, `bn2`, `conv3a`, `bn3a`, ...,
`conv5b`, `bn5b`, `classifier`.

Like every jvrl backbone, convolutions followed by BN have no bias (BN's own
bias makes one redundant); PRP's PyTorch C3D keeps them, so its count is
higher by the 2,752 conv biases: 27,658,688 here vs 27,661,440 there (no
classifier).
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jvrl.models import inputs
from jvrl.models import resnet3d

Triple = tuple[int, int, int]

# (name, base width, max-pool window = stride after the conv, or None).
C3D_LAYERS: tuple[tuple[str, int, Triple | None], ...] = (
    ("conv1", 64, (1, 2, 2)),
    ("conv2", 128, (2, 2, 2)),
    ("conv3a", 256, None),
    ("conv3b", 256, (2, 2, 2)),
    ("conv4a", 512, None),
    ("conv4b", 512, (2, 2, 2)),
    ("conv5a", 512, None),
    ("conv5b", 512, None),
)


class C3D(nn.Module):
  """C3D with BN; see the module docstring.

  Attributes:
    width_multiplier: scales every channel count (`resnet3d.scale_width`).
    num_classes: None -> feature map; else float32 logits [B, num_classes].
    dtype: compute dtype; params are always float32.
    bn_momentum, bn_epsilon: batch-norm settings.
    strided_conv: accepted so that configs can switch backbones freely; C3D
      has no strided convolution, so it changes nothing.
    conv_impl: 'native' or 'temporal_taps' (`resnet3d.conv3d`).
    input_transform: 'rgb' or 'frame_difference' (`inputs.transform_video`).
  """
  width_multiplier: float = 1.0
  num_classes: int | None = None
  dtype: Any = jnp.float32
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  strided_conv: str = "native"
  input_transform: str = "rgb"
  conv_impl: str = "native"

  def __post_init__(self):
    resnet3d.check_backbone_options(self.width_multiplier, self.num_classes, self.strided_conv,
                                    self.input_transform, self.conv_impl)
    super().__post_init__()

  @nn.compact
  def __call__(self, video: jax.Array, train: bool) -> jax.Array:
    """video float [B, T, H, W, C] -> feature map [B, T', H', W', C'] or logits [B, K].

    `train=True` normalises with batch statistics and updates 'batch_stats'.
    """
    if video.ndim != 5:
      raise ValueError(f"video must be [B, T, H, W, C], got shape {video.shape}.")
    norm = functools.partial(nn.BatchNorm, use_running_average=not train,
                             momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                             dtype=self.dtype, param_dtype=jnp.float32)
    x = inputs.transform_video(video.astype(self.dtype), self.input_transform)
    for name, features, pool in C3D_LAYERS:
      x = resnet3d.conv3d(resnet3d.scale_width(features, self.width_multiplier), (3, 3, 3),
                          dtype=self.dtype, name=name, conv_impl=self.conv_impl)(x)
      x = nn.relu(norm(name=name.replace("conv", "bn"))(x))
      if pool is not None:
        x = nn.max_pool(x, window_shape=pool, strides=pool, padding="VALID")
    if self.num_classes is None:
      return x
    logits = nn.Dense(self.num_classes, kernel_init=resnet3d.classifier_kernel_init,
                      dtype=self.dtype, param_dtype=jnp.float32,
                      name="classifier")(jnp.mean(x, axis=(1, 2, 3)))
    return logits.astype(jnp.float32)


def c3d(*, width_multiplier: float = 1.0, num_classes: int | None = None,
        dtype: Any = jnp.float32, bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
        strided_conv: str = "native", input_transform: str = "rgb",
        conv_impl: str = "native") -> C3D:
  """PRP's C3D with BN: [B, 16, 112, 112, 3] -> [B, 2, 7, 7, 512 * width_multiplier]."""
  return C3D(width_multiplier=width_multiplier, num_classes=num_classes, dtype=dtype,
             bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, strided_conv=strided_conv,
             input_transform=input_transform, conv_impl=conv_impl)
