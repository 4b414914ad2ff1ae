"""Video backbones by name.

Every backbone is a `flax.linen.Module` called as `model(video, train=...)` on
float video [B, T, H, W, C] in [0, 1], returning its last feature
map [B, T', H', W', C'] (or logits [B, num_classes] when `num_classes` is set);
see `jvrl.models.resnet3d` for the full contract. The convolutional backbones
share one option list (`jvrl.models.backbone_options.BackboneOptions`: adding
an option is one field there); adding a backbone = a builder declared with
`@backbone_builder` (or, like VATT's, with keyword-only options of its own) in
its own module plus one line in `MODEL_BUILDERS`.
"""
import dataclasses
import inspect
import types
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax.numpy as jnp

from jvrl.models import c3d
from jvrl.models import resnet3d
from jvrl.models.backbone_options import BackboneOptions
from jvrl.models.vatt import vatt

# Read-only: name -> builder taking keyword-only options (width_multiplier,
# num_classes, dtype, bn_momentum, bn_epsilon, ...).
MODEL_BUILDERS: Mapping[str, Callable[..., nn.Module]] = types.MappingProxyType({
    "r3d_18": resnet3d.r3d_18,
    "r2plus1d_18": resnet3d.r2plus1d_18,
    "r2plus1d_34": resnet3d.r2plus1d_34,
    "r3d_50": resnet3d.r3d_50,
    "mc3_18": resnet3d.mc3_18,
    "c3d": c3d.c3d, "r3d_prp": resnet3d.r3d_prp, "r2plus1d_prp": resnet3d.r2plus1d_prp,
    "vatt_video": vatt.vatt_video, "vatt_mat": vatt.vatt_mat,
})
MODEL_NAMES: tuple[str, ...] = tuple(MODEL_BUILDERS)
# Options that change how a backbone is computed or trained but neither its
# variables nor (beyond rounding) the function it computes at inference; an
# encoder's variables move freely between settings of these.
COMPUTATION_OPTIONS: tuple[str, ...] = (
    "dtype", "strided_conv", "conv_impl", "bn_momentum",
    "drop_token_keep_ratio", "dropout_rate", "attention_dropout_rate")


def model_options(name: str) -> tuple[str, ...]:
  """The keyword options the backbone `name` accepts, e.g. ('width_multiplier', ...).

  `BackboneOptions`' fields for the convolutional backbones (recorded by
  `@backbone_builder`), the builder's keyword parameters otherwise.
  """
  builder = _builder(name)
  declared = getattr(builder, "options", None)
  if declared is not None:
    return tuple(declared)
  return tuple(inspect.signature(builder).parameters)


def option_values(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
  """Every option of backbone `name` with its value: `kwargs`' or the builder's default.

  Lists (as JSON stores tuples) come back as tuples, so values compare equal
  whatever they were read from.
  """
  builder = _builder(name)
  if getattr(builder, "options", None) is not None:  # @backbone_builder
    defaults = {field.name: field.default for field in dataclasses.fields(BackboneOptions)}
    defaults.update(builder.defaults)
  else:
    defaults = {key: parameter.default
                for key, parameter in inspect.signature(builder).parameters.items()}
  return {key: _tuples(value) for key, value in {**defaults, **kwargs}.items()}


def architecture_options(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
  """`option_values` without `COMPUTATION_OPTIONS`: what two encoders must share for
  one's variables to compute the same function in the other."""
  return {key: value for key, value in option_values(name, kwargs).items()
          if key not in COMPUTATION_OPTIONS}


def _tuples(value: Any) -> Any:
  if isinstance(value, (list, tuple)):
    return tuple(_tuples(item) for item in value)
  return value


def build_model(name: str, **kwargs: Any) -> nn.Module:
  """Returns the backbone `name` (one of `MODEL_NAMES`) built with `kwargs`.

  A string `dtype` (e.g. 'bfloat16', as written in a config) is converted to a
  dtype. Raises ValueError for an unknown name or an option the builder does
  not accept, naming what is accepted.
  """
  builder = _builder(name)
  accepted = model_options(name)
  unknown = sorted(set(kwargs) - set(accepted))
  if unknown:
    raise ValueError(f"Unknown option(s) {unknown} for model {name!r}; it accepts "
                     f"{list(accepted)}.")
  if isinstance(kwargs.get("dtype"), str):
    kwargs["dtype"] = jnp.dtype(kwargs["dtype"])
  return builder(**kwargs)


def _builder(name: str) -> Callable[..., nn.Module]:
  if name not in MODEL_BUILDERS:
    raise ValueError(f"Unknown model name {name!r}; known models: {list(MODEL_NAMES)}.")
  return MODEL_BUILDERS[name]
