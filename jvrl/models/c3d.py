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
import flax.linen as nn
import jax

from jvrl.models import resnet3d
from jvrl.models.backbone_options import BackboneOptions, backbone_builder

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
    options: `BackboneOptions`. C3D has no strided convolution, so
      `strided_conv` changes nothing (it is accepted so that configs can
      switch backbones freely).
  """
  options: BackboneOptions = BackboneOptions()

  @nn.compact
  def __call__(self, video: jax.Array, train: bool) -> jax.Array:
    """video float [B, T, H, W, C] -> feature map [B, T', H', W', C'] or logits [B, K].

    `train=True` normalises with batch statistics and updates 'batch_stats'.
    """
    if video.ndim != 5:
      raise ValueError(f"video must be [B, T, H, W, C], got shape {video.shape}.")
    options = self.options
    conv, norm = options.conv_factory(), options.norm(train)
    x = options.prepare_input(video)
    for name, features, pool in C3D_LAYERS:
      x = conv(options.width(features), (3, 3, 3), name=name)(x)
      x = nn.relu(norm(name=name.replace("conv", "bn"))(x))
      if pool is not None:
        x = nn.max_pool(x, window_shape=pool, strides=pool, padding="VALID")
    return resnet3d.classifier_head(x, options)


@backbone_builder
def c3d(options: BackboneOptions) -> C3D:
  """PRP's C3D with BN: [B, 16, 112, 112, 3] -> [B, 2, 7, 7, 512 * width_multiplier]."""
  return C3D(options=options)
