"""3-D ResNets for video: R3D-18, MC3-18, R(2+1)D-18 / -34 (torchvision layouts) and R3D-50 (CVRL).

One generic `ResNet3D` builds every variant from a few architecture fields:
the stem, a list of stages (blocks per stage, width, stride, temporal kernel),
the block class (`BasicBlock3D` or `Bottleneck3D`) and the convolution type
('3d': full t x k x k kernels; '2plus1d': a (1, k, k) spatial conv -> BN -> ReLU
-> (t, 1, 1) temporal conv, as R(2+1)D). PRP's one-block-per-stage R3D / R(2+1)D
(`r3d_prp`, `r2plus1d_prp`) are the same class with other field values.

Conventions shared by every backbone in `jvrl.models`:
  * input: float video [B, T, H, W, C] in [0, 1]; the `input_normalization`
    option standardises it inside the backbone (e.g. 'kinetics' for weights
    converted from torchvision, `jvrl.tools.convert_torchvision`);
  * output: the last stage's feature map [B, T', H', W', C'] when `num_classes`
    is None, else float32 logits [B, num_classes] (global average pool + Dense);
  * batch norm without `axis_name`: under `jax.jit` with the batch sharded over
    devices its statistics span the GLOBAL batch (synchronised BN);
  * convolutions followed by BN have no bias; kernels use He fan-out normal
    init (torchvision's kaiming_normal_(mode='fan_out')), BN scale 1, bias 0;
  * parameter names: `stem_conv`, `stem_bn`, `stage{i}_block{j}/conv_a`,
    `.../bn_a`, `.../shortcut_conv`, `.../shortcut_bn`, `classifier`
    (stages numbered from 1, blocks from 0). Every conv / dense weight is a
    leaf called 'kernel' (weight decay masks rely on that).
The options a user sets (width, head, dtype, batch norm, how convs are
computed, input normalisation and transform) are one `BackboneOptions` (`options` field); the
modules below the backbone receive two constructors made from it once: `conv`
(`jvrl.models.conv3d`) and `norm` (batch norm).
Padding is symmetric, k // 2 on each side (torchvision's explicit padding, and
TF's `fixed_padding` for odd kernels), so outputs have ceil(size / stride)
positions along every axis.
"""
from typing import Callable, ClassVar, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jvrl.models import conv3d as conv3d_lib
from jvrl.models.backbone_options import BackboneOptions, backbone_builder

Triple = tuple[int, int, int]
ModuleDef = Callable[..., nn.Module]

CONV_TYPES = ("3d", "2plus1d")
# How a (2+1)-D basic block chooses its mid widths: 'per_block' computes one
# width from the block's input and output widths and uses it for both convs
# (torchvision's r2plus1d_18); 'per_conv' computes each conv's own width from
# its own input and output widths (the R(2+1)D paper's formula applied per
# conv, as PRP's code does).
MID_FEATURES_RULES = ("per_block", "per_conv")

# torchvision's video ResNets initialise the classifier with N(0, 0.01), bias 0.
classifier_kernel_init = nn.initializers.normal(stddev=0.01)


def conv2plus1d_mid_features(in_features: int, out_features: int,
                             kernel_size: Triple = (3, 3, 3)) -> int:
  """Width of the (2+1)-D factorisation of a t x k x k conv with in -> out channels.

  Chosen so that the (1, k, k) + (t, 1, 1) pair has about as many parameters as
  the full conv: floor(t k^2 in out / (k^2 in + t out)) (R(2+1)D paper;
  torchvision's `midplanes`). E.g. (64, 64) -> 144, (64, 128) -> 230.
  """
  t, kh, kw = kernel_size
  return (in_features * out_features * t * kh * kw) // (in_features * kh * kw + t * out_features)


class Conv2Plus1D(nn.Module):
  """A t x k x k conv factorised as (1, k, k) conv -> BN -> ReLU -> (t, 1, 1) conv.

  The spatial conv carries the spatial strides (1, sh, sw) and maps C_in ->
  `mid_features`; the temporal conv carries the temporal stride (st, 1, 1) and
  maps `mid_features` -> `features`. Params: `spatial_conv`, `spatial_bn`,
  `temporal_conv`. No BN after the temporal conv (the caller adds it).
  """
  features: int
  mid_features: int
  norm: ModuleDef
  conv: ModuleDef = conv3d_lib.conv3d
  kernel_size: Triple = (3, 3, 3)
  strides: Triple = (1, 1, 1)

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """[B, T, H, W, C_in] -> [B, ceil(T/st), ceil(H/sh), ceil(W/sw), features]."""
    t, kh, kw = self.kernel_size
    st, sh, sw = self.strides
    x = self.conv(self.mid_features, (1, kh, kw), (1, sh, sw), name="spatial_conv")(x)
    x = nn.relu(self.norm(name="spatial_bn")(x))
    return self.conv(self.features, (t, 1, 1), (st, 1, 1), name="temporal_conv")(x)


def spatiotemporal_conv(conv_type: str, features: int, kernel_size: Triple,
                        strides: Triple = (1, 1, 1), *, conv: ModuleDef | None = None,
                        mid_features: int | None = None, norm: ModuleDef | None = None,
                        name: str | None = None) -> nn.Module:
  """The conv shared by stems and blocks: a full 3-D or a (2+1)-D conv.

  Args:
    conv_type: '3d' (one t x k x k kernel) or '2plus1d' (`Conv2Plus1D`).
    features: output channels.
    kernel_size: (t, kh, kw).
    strides: (st, sh, sw).
    conv: the backbone's conv constructor (`conv3d.conv3d_factory`); None =
      lax's convs in float32.
    mid_features: width between the spatial and temporal conv ('2plus1d'
      only; required there).
    norm: batch-norm constructor for the inner BN ('2plus1d' only; required).
    name: parameter scope name.

  Returns:
    A module mapping [B, T, H, W, C_in] -> [B, T', H', W', features].
  """
  conv = conv or conv3d_lib.conv3d_factory()
  if conv_type == "3d":
    return conv(features, kernel_size, strides, name=name)
  if conv_type == "2plus1d":
    if mid_features is None or norm is None:
      raise ValueError("conv_type='2plus1d' needs mid_features and norm.")
    return Conv2Plus1D(features=features, mid_features=mid_features, conv=conv, norm=norm,
                       kernel_size=kernel_size, strides=strides, name=name)
  raise ValueError(f"Unknown conv_type {conv_type!r}; known: {CONV_TYPES}.")


class BasicBlock3D(nn.Module):
  """Two (t, 3, 3) convs with BN, ReLU and a residual connection (ResNet-18 style).

  conv_a (strides) -> bn_a -> ReLU -> conv_b -> bn_b, + shortcut, ReLU. The
  shortcut is a strided 1x1x1 conv + BN (`shortcut_conv`, `shortcut_bn`) when
  the shape changes, else the identity. With conv_type '2plus1d' both convs are
  `Conv2Plus1D`; `mid_features_rule` 'per_block' (default) computes their mid
  width ONCE from the block's input width and `features` and uses it for both
  (torchvision's r2plus1d_18), 'per_conv' computes each conv's own (PRP).
  `shortcut_conv_type` '2plus1d' factorises the 1x1x1 projection as well
  (PRP's R(2+1)D: (1,1,1) spatial conv -> BN -> ReLU -> (1,1,1) temporal conv,
  mid width floor(in * out / (in + out))); default '3d' (one 1x1x1 conv).
  """
  expansion: ClassVar[int] = 1
  features: int
  norm: ModuleDef
  conv: ModuleDef = conv3d_lib.conv3d
  strides: Triple = (1, 1, 1)
  temporal_kernel_size: int = 3
  conv_type: str = "3d"
  mid_features_rule: str = "per_block"
  shortcut_conv_type: str = "3d"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """[B, T, H, W, C_in] -> [B, ceil(T/st), ceil(H/sh), ceil(W/sw), features]."""
    if self.mid_features_rule not in MID_FEATURES_RULES:
      raise ValueError(f"Unknown mid_features_rule {self.mid_features_rule!r}; known: "
                       f"{MID_FEATURES_RULES}.")
    kernel = (self.temporal_kernel_size, 3, 3)
    mid_a = mid_b = None
    if self.conv_type == "2plus1d":
      mid_a = conv2plus1d_mid_features(x.shape[-1], self.features, kernel)
      mid_b = (mid_a if self.mid_features_rule == "per_block"
               else conv2plus1d_mid_features(self.features, self.features, kernel))

    def conv(strides, mid_features, name):
      return spatiotemporal_conv(self.conv_type, self.features, kernel, strides, conv=self.conv,
                                 mid_features=mid_features, norm=self.norm, name=name)

    y = conv(self.strides, mid_a, "conv_a")(x)
    y = nn.relu(self.norm(name="bn_a")(y))
    y = self.norm(name="bn_b")(conv((1, 1, 1), mid_b, "conv_b")(y))
    return nn.relu(y + _shortcut(x, self.features, self.strides, self.conv, self.norm,
                                  self.shortcut_conv_type))


class Bottleneck3D(nn.Module):
  """A (t,1,1) -> (1,3,3) -> (1,1,1) bottleneck with x4 expansion (CVRL's R3D-50 block).

  conv_a: (temporal_kernel_size, 1, 1), `features` channels, temporal stride;
  conv_b: (1, 3, 3), `features` channels, spatial stride; conv_c: 1x1x1,
  4 * `features` channels; each followed by BN (bn_a/b/c), ReLU after bn_a, bn_b
  and after the residual sum. Projection shortcut where the shape changes.
  """
  expansion: ClassVar[int] = 4
  features: int
  norm: ModuleDef
  conv: ModuleDef = conv3d_lib.conv3d
  strides: Triple = (1, 1, 1)
  temporal_kernel_size: int = 1
  conv_type: str = "3d"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """[B, T, H, W, C_in] -> [B, ceil(T/st), ceil(H/sh), ceil(W/sw), 4 * features]."""
    if self.conv_type != "3d":
      raise ValueError(f"Bottleneck3D supports conv_type '3d' only, got {self.conv_type!r}.")
    st, sh, sw = self.strides
    out_features = self.features * self.expansion
    y = self.conv(self.features, (self.temporal_kernel_size, 1, 1), (st, 1, 1),
                  name="conv_a")(x)
    y = nn.relu(self.norm(name="bn_a")(y))
    y = self.conv(self.features, (1, 3, 3), (1, sh, sw), name="conv_b")(y)
    y = nn.relu(self.norm(name="bn_b")(y))
    y = self.norm(name="bn_c")(self.conv(out_features, (1, 1, 1), name="conv_c")(y))
    return nn.relu(y + _shortcut(x, out_features, self.strides, self.conv, self.norm))


def _shortcut(x: jax.Array, out_features: int, strides: Triple, conv: ModuleDef,
              norm: ModuleDef, conv_type: str = "3d") -> jax.Array:
  """Identity, or a strided 1x1x1 projection + BN when the stride or width changes.

  conv_type '3d': one 1x1x1 conv; '2plus1d': `Conv2Plus1D` with (1,1,1) kernels
  and mid width floor(in * out / (in + out)) (PRP's R(2+1)D).
  """
  if tuple(strides) == (1, 1, 1) and x.shape[-1] == out_features:
    return x
  mid = None
  if conv_type == "2plus1d":
    mid = conv2plus1d_mid_features(x.shape[-1], out_features, (1, 1, 1))
  x = spatiotemporal_conv(conv_type, out_features, (1, 1, 1), strides, conv=conv,
                          mid_features=mid, norm=norm, name="shortcut_conv")(x)
  return norm(name="shortcut_bn")(x)


class ResNet3D(nn.Module):
  """A generic 3-D ResNet backbone; see the module docstring for the contract.

  Architecture fields (set by the builders below):
    stage_sizes: blocks per stage, e.g. (2, 2, 2, 2).
    block_cls: `BasicBlock3D` or `Bottleneck3D`.
    conv_type: '3d' or '2plus1d' (for the stem and basic blocks).
    stage_features: base width per stage (before block expansion).
    stage_strides: (st, sh, sw) of the first block of each stage.
    temporal_kernel_sizes: per stage, the temporal extent of the block convs
      (basic block: both convs; bottleneck: conv_a).
    stem_features, stem_kernel_size, stem_strides: the stem conv.
    stem_mid_features: the stem's (2+1)-D mid width before `width_multiplier`
      (torchvision: 45); None computes it with `conv2plus1d_mid_features` from
      the input channels and the (scaled) stem width (PRP: 83 for RGB, 64).
    stem_max_pool: add a (1,3,3) stride (1,2,2) SAME max-pool after the stem.
    mid_features_rule, shortcut_conv_type: (2+1)-D basic-block options, see
      `BasicBlock3D` (defaults: torchvision's r2plus1d_18).
  User options:
    options: `BackboneOptions` (width, head, dtype, batch norm, conv policy,
      input transform).
  """
  stage_sizes: Sequence[int]
  block_cls: ModuleDef
  conv_type: str = "3d"
  stage_features: Sequence[int] = (64, 128, 256, 512)
  stage_strides: Sequence[Triple] = ((1, 1, 1), (2, 2, 2), (2, 2, 2), (2, 2, 2))
  temporal_kernel_sizes: Sequence[int] = (3, 3, 3, 3)
  stem_features: int = 64
  stem_kernel_size: Triple = (3, 7, 7)
  stem_strides: Triple = (1, 2, 2)
  stem_mid_features: int | None = 45
  stem_max_pool: bool = False
  mid_features_rule: str = "per_block"
  shortcut_conv_type: str = "3d"
  options: BackboneOptions = BackboneOptions()

  def __post_init__(self):
    if self.conv_type not in CONV_TYPES:
      raise ValueError(f"Unknown conv_type {self.conv_type!r}; known: {CONV_TYPES}.")
    if self.mid_features_rule not in MID_FEATURES_RULES:
      raise ValueError(f"Unknown mid_features_rule {self.mid_features_rule!r}; known: "
                       f"{MID_FEATURES_RULES}.")
    if self.shortcut_conv_type not in CONV_TYPES:
      raise ValueError(f"Unknown shortcut_conv_type {self.shortcut_conv_type!r}; known: "
                       f"{CONV_TYPES}.")
    if ((self.mid_features_rule, self.shortcut_conv_type) != ("per_block", "3d")
        and self.block_cls is not BasicBlock3D):
      raise ValueError("mid_features_rule / shortcut_conv_type apply to BasicBlock3D only.")
    num_stages = len(self.stage_sizes)
    for field in ("stage_features", "stage_strides", "temporal_kernel_sizes"):
      if len(getattr(self, field)) != num_stages:
        raise ValueError(f"{field} has {len(getattr(self, field))} entries but stage_sizes "
                         f"has {num_stages}.")
    super().__post_init__()

  @nn.compact
  def __call__(self, video: jax.Array, train: bool) -> jax.Array:
    """video float [B, T, H, W, C] -> feature map [B, T', H', W', C'] or logits [B, K].

    `train=True` normalises with batch statistics and updates the
    'batch_stats' collection (pass `mutable=['batch_stats']`); `train=False`
    uses the running averages.
    """
    if video.ndim != 5:
      raise ValueError(f"video must be [B, T, H, W, C], got shape {video.shape}.")
    options = self.options
    width, conv, norm = options.width, options.conv_factory(), options.norm(train)
    x = options.prepare_input(video)
    if self.stem_mid_features is None:
      stem_mid = conv2plus1d_mid_features(x.shape[-1], width(self.stem_features),
                                          self.stem_kernel_size)
    else:
      stem_mid = width(self.stem_mid_features)
    x = spatiotemporal_conv(self.conv_type, width(self.stem_features), self.stem_kernel_size,
                            self.stem_strides, conv=conv, mid_features=stem_mid, norm=norm,
                            name="stem_conv")(x)
    x = nn.relu(norm(name="stem_bn")(x))
    if self.stem_max_pool:
      x = nn.max_pool(x, window_shape=(1, 3, 3), strides=(1, 2, 2), padding="SAME")
    block_options = {}
    if self.block_cls is BasicBlock3D:
      block_options = dict(mid_features_rule=self.mid_features_rule,
                           shortcut_conv_type=self.shortcut_conv_type)
    for stage, (num_blocks, features, strides, temporal_kernel) in enumerate(zip(
        self.stage_sizes, self.stage_features, self.stage_strides,
        self.temporal_kernel_sizes), start=1):
      x = resnet_stage(x, self.block_cls, num_blocks, width(features), tuple(strides),
                       temporal_kernel_size=temporal_kernel, conv_type=self.conv_type,
                       conv=conv, norm=norm, name_prefix=f"stage{stage}", **block_options)
    return classifier_head(x, options)


def classifier_head(feature_map: jax.Array, options: BackboneOptions) -> jax.Array:
  """The backbone's output: `feature_map` itself when `options.num_classes` is None,
  else float32 logits [B, num_classes] from global average pool + Dense `classifier`.

  Must be called inside the backbone's compact method.
  """
  if options.num_classes is None:
    return feature_map
  pooled = jnp.mean(feature_map, axis=(1, 2, 3))
  logits = nn.Dense(options.num_classes, kernel_init=classifier_kernel_init,
                    dtype=options.dtype, param_dtype=jnp.float32, name="classifier")(pooled)
  return logits.astype(jnp.float32)


def resnet_stage(x: jax.Array, block_cls: ModuleDef, num_blocks: int, features: int,
                 strides: Triple, *, temporal_kernel_size: int, conv_type: str,
                 conv: ModuleDef, norm: ModuleDef, name_prefix: str,
                 **block_options) -> jax.Array:
  """Applies `num_blocks` blocks named `{name_prefix}_block{j}`; the first carries `strides`.

  Must be called inside a compact module method (the blocks become its
  children). `block_options` are passed to every block (e.g. `BasicBlock3D`'s
  `mid_features_rule`). [B, T, H, W, C] -> [B, ceil(T/st), ceil(H/sh), ceil(W/sw),
  features * block_cls.expansion].
  """
  for index in range(num_blocks):
    x = block_cls(features=features, conv=conv, norm=norm,
                  strides=strides if index == 0 else (1, 1, 1),
                  temporal_kernel_size=temporal_kernel_size, conv_type=conv_type,
                  name=f"{name_prefix}_block{index}", **block_options)(x)
  return x


@backbone_builder
def r3d_18(options: BackboneOptions) -> ResNet3D:
  """torchvision's R3D-18: (3,7,7)/(1,2,2) stem, 4 x 2 basic blocks of 3x3x3 convs.

  Feature map stride (1,2,2) x 8 overall in (T, H, W): [B, 16, 112, 112, 3] ->
  [B, 2, 7, 7, 512 * width_multiplier]. 33,371,472 params with num_classes=400.
  """
  return ResNet3D(stage_sizes=(2, 2, 2, 2), block_cls=BasicBlock3D, conv_type="3d",
                  options=options)


@backbone_builder
def mc3_18(options: BackboneOptions) -> ResNet3D:
  """torchvision's MC3-18 (mixed convolutions): `r3d_18` whose stages 2-4 are 2-D.

  The (3,7,7)/(1,2,2) stem and stage 1 use full 3x3x3 convs; stages 2-4 use
  (1,3,3) convs (torchvision's Conv3DNoTemporal) and stride only in space,
  (1,2,2), also in their 1x1x1 shortcut projections. [B, 16, 112, 112, 3] ->
  [B, 16, 7, 7, 512 * width_multiplier] (no temporal downsampling at all).
  11,695,440 params with num_classes=400 (torchvision's MC3_18_Weights).
  """
  return ResNet3D(stage_sizes=(2, 2, 2, 2), block_cls=BasicBlock3D, conv_type="3d",
                  stage_strides=((1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 2, 2)),
                  temporal_kernel_sizes=(3, 1, 1, 1), options=options)


@backbone_builder
def r2plus1d_18(options: BackboneOptions) -> ResNet3D:
  """torchvision's R(2+1)D-18: (2+1)-D stem (45 mid channels) and (2+1)-D basic blocks.

  Same output shapes as `r3d_18`; 31,505,325 params with num_classes=400.
  """
  return ResNet3D(stage_sizes=(2, 2, 2, 2), block_cls=BasicBlock3D, conv_type="2plus1d",
                  stem_mid_features=45, options=options)


@backbone_builder(bn_epsilon=1e-3)
def r2plus1d_34(options: BackboneOptions) -> ResNet3D:
  """R(2+1)D-34, TSP's main backbone (REFERENCE §6): torchvision's VideoResNet layout
  with (2+1)-D basic blocks, layers [3, 4, 6, 3], BN eps 1e-3.

  As `r2plus1d_18` (R(2+1)D stem with 45 mid channels, one mid width per block)
  but deeper: [B, 16, 112, 112, 3] -> [B, 2, 7, 7, 512 * width_multiplier].
  The Kinetics / IG65M weights TSP starts from (VMZ, ported by ig65m-pytorch)
  were trained with BN eps 1e-3, the default here. (That port also sets
  PyTorch's BN momentum to 0.9, i.e. flax `bn_momentum=0.1`; jvrl keeps its
  usual 0.9 unless the config says otherwise.)
  """
  return ResNet3D(stage_sizes=(3, 4, 6, 3), block_cls=BasicBlock3D, conv_type="2plus1d",
                  stem_mid_features=45, options=options)


@backbone_builder
def r3d_50(options: BackboneOptions) -> ResNet3D:
  """CVRL's R3D-50 (REFERENCE §1): (5,7,7)/(2,2,2) stem + max-pool, bottlenecks [3,4,6,3].

  Temporal kernels 1,1,3,3 per stage, spatial stride 2 in stages 2-4, no
  temporal stride after the stem: [B, 16, 224, 224, 3] -> [B, 8, 7, 7, 2048 *
  width_multiplier]. 31,672,128 backbone params (CVRL README: 31.7M).
  """
  return ResNet3D(stage_sizes=(3, 4, 6, 3), block_cls=Bottleneck3D, conv_type="3d",
                  stage_strides=((1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 2, 2)),
                  temporal_kernel_sizes=(1, 1, 3, 3), stem_kernel_size=(5, 7, 7),
                  stem_strides=(2, 2, 2), stem_max_pool=True, options=options)


@backbone_builder
def r3d_prp(options: BackboneOptions) -> ResNet3D:
  """PRP's R3D (REFERENCE §3): `r3d_18` with ONE basic block per stage (layout 1,1,1,1).

  (3,7,7)/(1,2,2) stem, 3x3x3 convs, stride 2 in T, H, W at stages 2-4:
  [B, 16, 112, 112, 3] -> [B, 2, 7, 7, 512 * width_multiplier].
  14,361,792 backbone params (no classifier), as PRP's R3DNet((1,1,1,1)).
  """
  return ResNet3D(stage_sizes=(1, 1, 1, 1), block_cls=BasicBlock3D, conv_type="3d",
                  options=options)


@backbone_builder
def r2plus1d_prp(options: BackboneOptions) -> ResNet3D:
  """PRP's R(2+1)D (REFERENCE §3): one (2+1)-D basic block per stage (layout 1,1,1,1).

  As PRP's R2Plus1DNet((1,1,1,1)), unlike `r2plus1d_18`: every (2+1)-D conv
  computes its own mid width M = floor(t d^2 Nin Nout / (d^2 Nin + t Nout))
  (stem: 83 for RGB -> 64), and the stride-2 1x1x1 shortcut projections are
  factorised too. Same output shapes as `r3d_prp`. 14,365,303 backbone params
  (no classifier).
  """
  return ResNet3D(stage_sizes=(1, 1, 1, 1), block_cls=BasicBlock3D, conv_type="2plus1d",
                  stem_mid_features=None, mid_features_rule="per_conv",
                  shortcut_conv_type="2plus1d", options=options)
