"""How a backbone computes its 3-D convolutions: one policy, resolved once.

Two user-facing options choose the computation, never the function:

* `strided_conv`: 'native' (lax's strided conv) or 'space_to_depth' (the same
  function as a stride-1 conv on space-to-depth input; much faster gradients
  on XLA:CPU, see `jvrl.models.strided_conv`);
* `conv_impl`: 'native' (lax's 3-D conv) or 'temporal_taps' (a sum of 2-D
  convs, one per temporal tap: ~2x faster training steps for the narrow CPU
  backbones, see `jvrl.models.temporal_taps_conv`); with 'space_to_depth' it
  computes the stride-1 conv that strided convs become.

`conv3d_factory` turns the pair (and the compute dtype) into ONE callable,
`conv(features, kernel_size, strides=(1, 1, 1), name=...) -> nn.Conv`, that a
backbone builds once and hands to its stems, blocks and shortcuts (the way
it hands them its batch-norm constructor). Parameters are identical whatever
the policy, so checkpoints move freely between CPU and accelerator settings.
"""
import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

from jvrl.models import strided_conv as strided_conv_lib
from jvrl.models import temporal_taps_conv

# conv(features, kernel_size, strides=(1, 1, 1), *, name=None) -> nn.Conv.
ConvFactory = Callable[..., nn.Module]
STRIDED_CONV_IMPLS = strided_conv_lib.STRIDED_CONV_IMPLS
CONV_IMPLS = temporal_taps_conv.CONV_IMPLS

# torchvision's kaiming_normal_(mode='fan_out', nonlinearity='relu'): an
# untruncated normal with variance 2 / (out_channels * kernel volume).
conv_kernel_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def check_conv_policy(strided_conv: str, conv_impl: str) -> None:
  """A ValueError naming the bad option and the accepted values."""
  if strided_conv not in STRIDED_CONV_IMPLS:
    raise ValueError(f"Unknown strided_conv {strided_conv!r}; known: {STRIDED_CONV_IMPLS}.")
  if conv_impl not in CONV_IMPLS:
    raise ValueError(f"Unknown conv_impl {conv_impl!r}; known: {CONV_IMPLS}.")


def conv_general_dilated_for(strided_conv: str = "native",
                             conv_impl: str = "native") -> Callable[..., Any] | None:
  """The `conv_general_dilated` that computes the policy (None = lax's own)."""
  check_conv_policy(strided_conv, conv_impl)
  impl = (temporal_taps_conv.temporal_taps_conv_general_dilated
          if conv_impl == "temporal_taps" else None)
  if strided_conv == "space_to_depth":
    impl = functools.partial(strided_conv_lib.space_to_depth_conv_general_dilated,
                             stride1_conv=impl)
  return impl


def conv3d(features: int, kernel_size: Sequence[int], strides: Sequence[int] = (1, 1, 1), *,
           dtype: Any = jnp.float32, name: str | None = None,
           conv_general_dilated: Callable[..., Any] | None = None) -> nn.Conv:
  """A bias-free 3-D conv with symmetric k // 2 padding and He fan-out init.

  Maps [B, T, H, W, C_in] -> [B, ceil(T/st), ceil(H/sh), ceil(W/sw), features]
  for odd kernels; params float32, compute in `dtype`. `conv_general_dilated`
  (from `conv_general_dilated_for`) chooses how it is computed.
  """
  return nn.Conv(
      features=features, kernel_size=tuple(kernel_size), strides=tuple(strides),
      padding=[(k // 2, k // 2) for k in kernel_size], use_bias=False,
      kernel_init=conv_kernel_init, dtype=dtype, param_dtype=jnp.float32, name=name,
      conv_general_dilated=conv_general_dilated)


def conv3d_factory(strided_conv: str = "native", conv_impl: str = "native",
                   dtype: Any = jnp.float32) -> ConvFactory:
  """`conv(features, kernel_size, strides=(1, 1, 1), *, name=None)`: `conv3d` with
  the policy and the compute dtype bound (see the module docstring)."""
  return functools.partial(conv3d, dtype=dtype,
                           conv_general_dilated=conv_general_dilated_for(strided_conv,
                                                                         conv_impl))
