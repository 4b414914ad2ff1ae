"""Space-to-depth strided conv == lax's strided conv (values and gradients).

Also with the temporal-taps conv computing its stride-1 conv (conv_impl).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jvrl.models import strided_conv
from jvrl.models import temporal_taps_conv

DN = ("NDHWC", "DHWIO", "NDHWC")


@pytest.mark.parametrize("shape,kernel,strides,padding", [
    ((2, 8, 17, 16, 3), (3, 7, 7), (1, 2, 2), [(1, 1), (3, 3), (3, 3)]),
    ((2, 8, 9, 9, 4), (3, 3, 3), (2, 2, 2), [(1, 1)] * 3),
    ((1, 5, 7, 6, 2), (1, 1, 1), (2, 2, 2), [(0, 0)] * 3),
    ((1, 9, 8, 8, 2), (5, 7, 7), (2, 2, 2), [(2, 2), (3, 3), (3, 3)]),
    ((1, 6, 8, 8, 2), (3, 1, 1), (2, 1, 1), [(1, 1), (0, 0), (0, 0)]),
])
@pytest.mark.parametrize("stride1_conv", ["lax", "temporal_taps"])
def test_matches_native_strided_conv(shape, kernel, strides, padding, stride1_conv):
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=shape), jnp.float32)
  w = jnp.asarray(rng.normal(size=kernel + (shape[-1], 5)), jnp.float32)
  dn = lax.conv_dimension_numbers(x.shape, w.shape, DN)

  def native(x, w):
    return lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=dn,
                                    precision=lax.Precision.HIGHEST)

  inner = (temporal_taps_conv.temporal_taps_conv_general_dilated
           if stride1_conv == "temporal_taps" else None)

  def s2d(x, w):
    return strided_conv.space_to_depth_conv_general_dilated(
        x, w, strides, padding, dimension_numbers=dn, precision=lax.Precision.HIGHEST,
        stride1_conv=inner)

  np.testing.assert_allclose(s2d(x, w), native(x, w), rtol=1e-4, atol=1e-4)
  loss = lambda f: lambda x, w: jnp.sum(jnp.sin(f(x, w)))
  for g_s2d, g_native in zip(jax.grad(loss(s2d), (0, 1))(x, w), jax.grad(loss(native), (0, 1))(x, w)):
    np.testing.assert_allclose(g_s2d, g_native, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_backbone_output_is_the_same_with_either_impl(name):
  from jvrl import models
  video = jnp.asarray(np.random.default_rng(1).uniform(size=(2, 4, 16, 16, 3)), jnp.float32)
  native = models.build_model(name, width_multiplier=0.0625)
  s2d = models.build_model(name, width_multiplier=0.0625, strided_conv="space_to_depth")
  with jax.threefry_partitionable(False):
    variables = native.init(jax.random.key(0), video, train=False)
  assert jax.tree.structure(variables) == jax.tree.structure(
      jax.eval_shape(lambda: s2d.init(jax.random.key(0), video, train=False)))
  np.testing.assert_allclose(s2d.apply(variables, video, train=False),
                             native.apply(variables, video, train=False), rtol=2e-4, atol=2e-4)


def test_unknown_impl_is_an_error():
  from jvrl import models
  with pytest.raises(ValueError, match="strided_conv"):
    models.build_model("r3d_18", strided_conv="fft").init(
        jax.random.key(0), jnp.zeros((1, 2, 8, 8, 3)), train=False)


def test_stride1_conv_computes_stride1_convs_too():
  calls = []

  def recording_conv(*args, **kwargs):
    calls.append(args[2])
    return lax.conv_general_dilated(*args, **kwargs)

  x = jnp.ones((1, 4, 6, 6, 2))
  w = jnp.ones((3, 3, 3, 2, 3))
  for strides in [(1, 1, 1), (2, 2, 2)]:
    strided_conv.space_to_depth_conv_general_dilated(
        x, w, strides, [(1, 1)] * 3, dimension_numbers=DN, stride1_conv=recording_conv)
  assert calls == [(1, 1, 1), (1, 1, 1)]  # the stride-2 conv became a stride-1 one
