"""The options every convolutional backbone accepts, declared once.

`BackboneOptions` is the single list of user-facing options (what
`config.model` may hold for a convolutional backbone): the contract fields
of `jvrl.models` (width, classification head, compute dtype, batch norm) and
the computation policy (`jvrl.models.conv3d`), input normalisation and input
transform. Each
backbone module holds one `options` field of this type, and each builder is
declared with `@backbone_builder`, so

* adding an option = one field here (plus the code that acts on it);
* `build_model` and config validation learn the accepted names from here
  (`backbone_builder` records them on the builder), and an unknown option
  fails with the accepted list;
* a bad value fails when the options are made, naming the option.
"""
import dataclasses
import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jvrl.models import conv3d as conv3d_lib
from jvrl.models import inputs


@dataclasses.dataclass(frozen=True)
class BackboneOptions:
  """User-facing options of a convolutional backbone (all keyword, all defaulted).

  Attributes:
    width_multiplier: scales every channel count (`scale_width`).
    num_classes: None -> the backbone returns its last feature map; else
      float32 logits [B, num_classes] from global average pool + `classifier`.
    dtype: compute dtype (a dtype or its name, e.g. 'bfloat16'); parameters
      are always float32.
    bn_momentum, bn_epsilon: batch-norm settings.
    strided_conv, conv_impl: how 3-D convs are computed (identical results;
      see `jvrl.models.conv3d`).
    input_normalization: 'none' (the video as given, in [0, 1]) or
      'kinetics' (standardised with torchvision's Kinetics-400 statistics,
      what its r3d_18 / mc3_18 / r2plus1d_18 weights expect;
      `inputs.normalize_video`), applied before `input_transform`.
    input_transform: 'rgb' or 'frame_difference' (`inputs.transform_video`).
  """
  width_multiplier: float = 1.0
  num_classes: int | None = None
  dtype: Any = jnp.float32
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  strided_conv: str = "native"
  conv_impl: str = "native"
  input_normalization: str = "none"
  input_transform: str = "rgb"

  def __post_init__(self):
    if isinstance(self.dtype, str):
      object.__setattr__(self, "dtype", jnp.dtype(self.dtype))
    if self.input_normalization not in inputs.INPUT_NORMALIZATIONS:
      raise ValueError(f"Unknown input_normalization {self.input_normalization!r}; known: "
                       f"{tuple(inputs.INPUT_NORMALIZATIONS)}.")
    if self.input_transform not in inputs.INPUT_TRANSFORMS:
      raise ValueError(f"Unknown input_transform {self.input_transform!r}; known: "
                       f"{inputs.INPUT_TRANSFORMS}.")
    if not self.width_multiplier > 0:
      raise ValueError(f"width_multiplier must be > 0, got {self.width_multiplier}.")
    if self.num_classes is not None and self.num_classes < 1:
      raise ValueError(f"num_classes must be None or >= 1, got {self.num_classes}.")
    conv3d_lib.check_conv_policy(self.strided_conv, self.conv_impl)

  @classmethod
  def names(cls) -> tuple[str, ...]:
    """The option names, in declaration order."""
    return tuple(field.name for field in dataclasses.fields(cls))

  def width(self, channels: int) -> int:
    """`channels` scaled by `width_multiplier` (`scale_width`)."""
    return scale_width(channels, self.width_multiplier)

  def prepare_input(self, video: jax.Array) -> jax.Array:
    """What the backbone's first layer sees of float video [B, T, H, W, C] in [0, 1]:
    cast to `dtype`, normalised (`input_normalization`), transformed (`input_transform`)."""
    video = inputs.normalize_video(video.astype(self.dtype), self.input_normalization)
    return inputs.transform_video(video, self.input_transform)

  def conv_factory(self) -> conv3d_lib.ConvFactory:
    """The backbone's one conv constructor (policy and dtype bound)."""
    return conv3d_lib.conv3d_factory(self.strided_conv, self.conv_impl, self.dtype)

  def norm(self, train: bool) -> Callable[..., nn.Module]:
    """The backbone's batch-norm constructor (`train`: batch statistics)."""
    return functools.partial(nn.BatchNorm, use_running_average=not train,
                             momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                             dtype=self.dtype, param_dtype=jnp.float32)


def scale_width(channels: int, width_multiplier: float) -> int:
  """`channels * width_multiplier` rounded half up, at least 1 (e.g. 64, 0.125 -> 8)."""
  if width_multiplier <= 0:
    raise ValueError(f"width_multiplier must be > 0, got {width_multiplier}.")
  return max(1, int(channels * width_multiplier + 0.5))


def backbone_builder(build: Callable[[BackboneOptions], nn.Module] | None = None,
                     **defaults: Any) -> Any:
  """Turns `build(options) -> module` into `builder(**options) -> module`.

  The builder takes `BackboneOptions`' fields as keywords, refuses any other
  name with the accepted list, and records the names in `builder.options`
  (what `jvrl.models.model_options` reports). Used bare (`@backbone_builder`)
  or with backbone-specific defaults that the caller's options override
  (`@backbone_builder(bn_epsilon=1e-3)`).
  """
  accepted = BackboneOptions.names()
  unknown_defaults = sorted(set(defaults) - set(accepted))
  if unknown_defaults:
    raise ValueError(f"Unknown default option(s) {unknown_defaults}; known: {list(accepted)}.")

  def decorate(build_fn: Callable[[BackboneOptions], nn.Module]) -> Callable[..., nn.Module]:
    @functools.wraps(build_fn)
    def builder(**options: Any) -> nn.Module:
      unknown = sorted(set(options) - set(accepted))
      if unknown:
        raise ValueError(f"Unknown option(s) {unknown} for backbone {build_fn.__name__!r}; "
                         f"it accepts {list(accepted)}.")
      return build_fn(BackboneOptions(**{**defaults, **options}))

    builder.options = accepted
    builder.defaults = dict(defaults)
    return builder

  return decorate if build is None else decorate(build)
