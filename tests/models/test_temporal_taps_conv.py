"""Tests for jvrl.models.temporal_taps_conv: the same convolution as lax's."""
import jax
import jax.numpy as jnp
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


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18", "r2plus1d_prp", "r3d_50", "c3d"])
@pytest.mark.parametrize("strided", ["native", "space_to_depth"])
def test_backbone_conv_impl_reaches_every_conv(name, strided, monkeypatch):
  """With conv_impl='temporal_taps' every 3-D conv of the backbone goes through the taps."""
  from jvrl import models
  calls = []
  taps = temporal_taps_conv.temporal_taps_conv_general_dilated

  def recording_taps(lhs, rhs, *args, **kwargs):
    calls.append(rhs.shape)
    return taps(lhs, rhs, *args, **kwargs)

  monkeypatch.setattr(temporal_taps_conv, "temporal_taps_conv_general_dilated", recording_taps)
  model = models.build_model(name, width_multiplier=0.0625, strided_conv=strided,
                             conv_impl="temporal_taps")
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 4, 16, 16, 3)),
                                                train=False))
  conv_kernels = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(variables["params"])
                  if leaf.ndim == 5]
  assert len(conv_kernels) > 5
  assert len(calls) == len(conv_kernels)


def test_backbone_conv_impl_temporal_taps_is_the_same_function():
  """conv_impl='temporal_taps' changes no number: outputs and training gradients."""
  from jvrl import models
  video = jnp.asarray(np.random.default_rng(1).uniform(size=(2, 4, 8, 8, 3)), jnp.float32)
  weights = jnp.asarray(np.random.default_rng(2).normal(size=(2, 1, 1, 1, 32)), jnp.float32)
  native = models.build_model("r3d_prp", width_multiplier=0.0625)
  variables = native.init(jax.random.key(0), video, train=False)

  def loss_and_output(model, params):
    out, _ = model.apply({**variables, "params": params}, video, train=True,
                         mutable=["batch_stats"])
    return jnp.sum(out * weights), out

  def output_and_grads(model):
    (_, out), grads = jax.jit(jax.value_and_grad(
        lambda p: loss_and_output(model, p), has_aux=True))(variables["params"])
    return out, grads

  want, want_grads = output_and_grads(native)
  for strided in ["native", "space_to_depth"]:
    taps = models.build_model("r3d_prp", width_multiplier=0.0625, strided_conv=strided,
                              conv_impl="temporal_taps")
    got, got_grads = output_and_grads(taps)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    for g, w in zip(jax.tree.leaves(got_grads), jax.tree.leaves(want_grads)):
      np.testing.assert_allclose(g, w, rtol=1e-2, atol=1e-2 * float(jnp.max(jnp.abs(w))))


def test_unknown_backbone_conv_impl_is_an_error():
  from jvrl import models
  with pytest.raises(ValueError, match="conv_impl"):
    models.build_model("r3d_18", conv_impl="winograd")
