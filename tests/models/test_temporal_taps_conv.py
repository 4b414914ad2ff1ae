"""Tests for jvrl.models.temporal_taps_conv: the same convolution as lax's."""
import jax
import numpy as np
import pytest
from jax import lax

from jvrl.models import temporal_taps_conv

DN = ("NDHWC", "DHWIO", "NDHWC")


@pytest.mark.parametrize("kernel, strides, padding", [
    ((3, 3, 3), (1, 1, 1), [(1, 1)] * 3),
    ((3, 7, 7), (1, 2, 2), [(1, 1), (3, 3), (3, 3)]),
    ((3, 1, 1), (2, 1, 1), [(1, 1), (0, 0), (0, 0)]),
    ((1, 3, 3), (1, 1, 1), [(0, 0), (1, 1), (1, 1)]),
    ((2, 2, 2), (1, 1, 1), [(0, 1), (1, 0), (0, 0)]),
])
def test_matches_lax_conv_values_and_gradients(kernel, strides, padding):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 5, 9, 8, 3)).astype(np.float32)
  w = rng.normal(size=kernel + (3, 4)).astype(np.float32)
  dn = lax.conv_dimension_numbers(x.shape, w.shape, DN)

  def native(x, w):
    return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=dn)

  def taps(x, w):
    return temporal_taps_conv.temporal_taps_conv_general_dilated(
        x, w, strides, padding, dimension_numbers=dn)

  np.testing.assert_allclose(taps(x, w), native(x, w), rtol=1e-4, atol=1e-4)
  loss = lambda f: lambda x, w: (f(x, w) ** 2).sum()
  for got, want in zip(jax.grad(loss(taps), argnums=(0, 1))(x, w),
                       jax.grad(loss(native), argnums=(0, 1))(x, w)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_falls_back_for_what_it_does_not_cover():
  x = np.ones((1, 4, 4, 4, 2), np.float32)
  w = np.ones((3, 3, 3, 2, 2), np.float32)
  got = temporal_taps_conv.temporal_taps_conv_general_dilated(
      x, w, (1, 1, 1), "SAME", dimension_numbers=DN)
  np.testing.assert_allclose(got, lax.conv_general_dilated(x, w, (1, 1, 1), "SAME",
                                                           dimension_numbers=DN))
