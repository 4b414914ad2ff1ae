"""Strided convolutions as stride-1 convolutions on space-to-depth input.

A convolution with stride s and kernel k equals a stride-1 convolution with
kernel ceil(k / s) on the input rearranged "space to depth" (each s x s x s
block of positions becomes s^3 x channels), with the kernel rearranged the same
way. The result is mathematically identical (same parameters, same outputs);
only the computation differs. It exists because XLA's CPU backend computes the
gradients of strided 3-D convolutions very slowly (measured on a 2-core CPU:
the input gradient of R3D-18's (3,7,7)/(1,2,2) stem took 15.6 s on 128 clips of
8x32x32, the kernel gradient 2.3 s), while stride-1 gradients are fast.
On GPU/TPU the native strided convolution is the better choice.

`space_to_depth_conv_general_dilated` has `jax.lax.conv_general_dilated`'s
signature so it can be handed to `flax.linen.Conv(conv_general_dilated=...)`.
"""
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from jax import lax

STRIDED_CONV_IMPLS = ("native", "space_to_depth")


def space_to_depth_conv_general_dilated(
    lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int],
    padding: Sequence[tuple[int, int]], lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None, dimension_numbers: Any = None,
    feature_group_count: int = 1, precision: Any = None, *,
    stride1_conv: Callable[..., jax.Array] | None = None, **kwargs) -> jax.Array:
  """Drop-in for `lax.conv_general_dilated` on channels-last input, explicit padding.

  Falls back to `lax.conv_general_dilated` for features it does not cover
  (dilation, grouped convs, string padding). lhs: [B, *spatial, C]; rhs:
  [*kernel, C, F] (flax's layout). `stride1_conv` (default
  `lax.conv_general_dilated`, same signature) computes the stride-1 conv: the
  rearranged one, or the whole conv when every stride is already 1 (e.g.
  `jvrl.models.temporal_taps_conv.temporal_taps_conv_general_dilated`).
  """
  stride1_conv = stride1_conv or lax.conv_general_dilated
  strides = tuple(window_strides)
  if all(s == 1 for s in strides):
    return stride1_conv(lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
                        rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
                        feature_group_count=feature_group_count, precision=precision, **kwargs)
  simple = (any(d != 1 for d in (lhs_dilation or ())) or any(d != 1 for d in (rhs_dilation or ()))
            or feature_group_count != 1 or isinstance(padding, str))
  if simple:
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count, precision=precision, **kwargs)
  num_spatial = lhs.ndim - 2
  kernel = rhs.shape[:num_spatial]
  in_features, out_features = rhs.shape[-2], rhs.shape[-1]
  taps = [-(-k // s) for k, s in zip(kernel, strides)]  # ceil(k / s)
  outputs = [(n + lo + hi - k) // s + 1
             for n, (lo, hi), k, s in zip(lhs.shape[1:-1], padding, kernel, strides)]
  # Pad (or crop, negative high padding) so each axis is exactly (out + taps - 1) * s.
  pad_config = [(0, 0, 0)]
  for n, (lo, _), s, o, q in zip(lhs.shape[1:-1], padding, strides, outputs, taps):
    pad_config.append((lo, (o + q - 1) * s - n - lo, 0))
  pad_config.append((0, 0, 0))
  x = lax.pad(lhs, jnp.zeros((), lhs.dtype), pad_config)
  blocks = [o + q - 1 for o, q in zip(outputs, taps)]
  # [B, J1, s1, J2, s2, ..., C] -> [B, J1, J2, ..., s1, s2, ..., C] -> merge into channels.
  x = x.reshape((x.shape[0],) + sum(((j, s) for j, s in zip(blocks, strides)), ()) + (in_features,))
  perm = ((0,) + tuple(1 + 2 * i for i in range(num_spatial))
          + tuple(2 + 2 * i for i in range(num_spatial)) + (x.ndim - 1,))
  x = x.transpose(perm).reshape((x.shape[0],) + tuple(blocks) + (math.prod(strides) * in_features,))
  # Kernel: zero-pad each axis to taps * s, then the same rearrangement.
  w = jnp.pad(rhs, [(0, q * s - k) for k, q, s in zip(kernel, taps, strides)] + [(0, 0), (0, 0)])
  w = w.reshape(sum(((q, s) for q, s in zip(taps, strides)), ()) + (in_features, out_features))
  wperm = (tuple(2 * i for i in range(num_spatial)) + tuple(2 * i + 1 for i in range(num_spatial))
           + (w.ndim - 2, w.ndim - 1))
  w = w.transpose(wperm).reshape(tuple(taps) + (math.prod(strides) * in_features, out_features))
  return stride1_conv(
      x, w, (1,) * num_spatial, [(0, 0)] * num_spatial,
      dimension_numbers=dimension_numbers, precision=precision, **kwargs)
