"""3-D convolutions computed as sums of 2-D convolutions, one per temporal tap.

A (kt, kh, kw) convolution over [B, T, H, W, C] equals the sum over a < kt of
the 2-D (kh, kw) convolution of the frames shifted by a (time folded into the
batch) with the kernel slice rhs[a]. The result is mathematically identical;
only the computation differs. It exists because XLA's CPU backend runs 3-D
convolutions with few channels far slower than 2-D ones (measured on the
2-core CPU, forward + both gradients, batch 32: 8 -> 3 channels at 16x32x32,
2.9 s native vs 0.9 s as 2-D taps; 16 -> 8 at 8x16x16, 0.37 s vs 0.08 s; but
64 -> 64 at 8x28x28 (batch 8) got 2x SLOWER). Use it for narrow, high-
resolution layers on CPU: PRP's decoder, and the narrow backbones of the CPU
configs (`conv_impl='temporal_taps'`, composed with space-to-depth for strided
convs: a whole CVRL step of the x0.125 one-block R3D on 32 clips of 8x32x32
went from 0.69 s to 0.40 s, of R3D-18 from 1.02 s to 0.47 s; see README).
On GPU/TPU keep the native conv.

`temporal_taps_conv_general_dilated` has `jax.lax.conv_general_dilated`'s
signature so it can be handed to `flax.linen.Conv(conv_general_dilated=...)`.
"""
from typing import Any, Sequence

import jax
from jax import lax

CONV_IMPLS = ("native", "temporal_taps")


def temporal_taps_conv_general_dilated(
    lhs: jax.Array, rhs: jax.Array, window_strides: Sequence[int],
    padding: Sequence[tuple[int, int]], lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None, dimension_numbers: Any = None,
    feature_group_count: int = 1, precision: Any = None, **kwargs) -> jax.Array:
  """Drop-in for `lax.conv_general_dilated` on channels-last 3-D input, explicit padding.

  lhs: [B, T, H, W, C]; rhs: [kt, kh, kw, C, F] (flax's layout). Falls back to
  `lax.conv_general_dilated` for what it does not cover (other ranks or
  layouts, dilation, grouped convs, string padding).
  """
  channels_last = lhs.ndim == 5 and (dimension_numbers is None or lax.conv_dimension_numbers(
      lhs.shape, rhs.shape, dimension_numbers) == lax.conv_dimension_numbers(
          lhs.shape, rhs.shape, ("NDHWC", "DHWIO", "NDHWC")))
  simple = (not channels_last or isinstance(padding, str) or feature_group_count != 1
            or any(d != 1 for d in (lhs_dilation or ()))
            or any(d != 1 for d in (rhs_dilation or ())))
  if simple:
    return lax.conv_general_dilated(
        lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
        feature_group_count=feature_group_count, precision=precision, **kwargs)
  st, sh, sw = window_strides
  (t_lo, t_hi), h_pad, w_pad = padding
  kt = rhs.shape[0]
  x = lax.pad(lhs, lax.full((), 0, lhs.dtype), [(0, 0, 0), (t_lo, t_hi, 0)] + [(0, 0, 0)] * 3)
  batch, padded_t = x.shape[:2]
  out_t = (padded_t - kt) // st + 1
  total = None
  for tap in range(kt):  # a few taps, not frames
    frames = lax.slice_in_dim(x, tap, tap + (out_t - 1) * st + 1, stride=st, axis=1)
    frames = frames.reshape((batch * out_t,) + frames.shape[2:])
    y = lax.conv_general_dilated(
        frames, rhs[tap], (sh, sw), [tuple(h_pad), tuple(w_pad)],
        dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=precision, **kwargs)
    total = y if total is None else total + y
  return total.reshape((batch, out_t) + total.shape[1:])
