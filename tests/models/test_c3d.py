"""Tests for jvrl.models.c3d: PRP's C3D with BN (layout, parameter count, shapes)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvrl import models
from jvrl.models import c3d

# PRP's C3D: (name, in, out) of the eight 3x3x3 convs.
LAYERS = [("conv1", 3, 64), ("conv2", 64, 128), ("conv3a", 128, 256), ("conv3b", 256, 256),
          ("conv4a", 256, 512), ("conv4b", 512, 512), ("conv5a", 512, 512),
          ("conv5b", 512, 512)]


def _variables(model, shape=(1, 16, 112, 112, 3)):
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(shape), train=False))


def _flat_shapes(tree):
  return {"/".join(str(k.key) for k in path): tuple(leaf.shape)
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def test_parameter_count_matches_hand_count():
  # Each conv: 27 * in * out (no bias: BN follows), each BN: scale + bias.
  hand = sum(27 * n_in * n_out + 2 * n_out for _, n_in, n_out in LAYERS)
  assert hand == 27_658_688
  params = _variables(c3d.c3d())["params"]
  assert sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params)) == hand
  # PyTorch's PRP C3D also has the 2,752 redundant conv biases.
  assert hand + sum(n_out for _, _, n_out in LAYERS) == 27_661_440


def test_layout_and_names():
  shapes = _flat_shapes(_variables(c3d.c3d(num_classes=101))["params"])
  for name, n_in, n_out in LAYERS:
    assert shapes[f"{name}/kernel"] == (3, 3, 3, n_in, n_out)
    assert shapes[f"{name.replace('conv', 'bn')}/scale"] == (n_out,)
  assert shapes["classifier/kernel"] == (512, 101)
  assert len(shapes) == 8 * 3 + 2


def test_output_shape_is_prp_feature_map():
  model = c3d.c3d()
  video = jax.ShapeDtypeStruct((2, 16, 112, 112, 3), jnp.float32)
  out = jax.eval_shape(lambda v, x: model.apply(v, x, train=False), _variables(model), video)
  assert out.shape == (2, 2, 7, 7, 512)  # pool1 (1,2,2), pools 2-4 (2,2,2)


def test_width_multiplier_and_small_clips_run():
  model = models.build_model("c3d", width_multiplier=0.0625, num_classes=None)
  shapes = _flat_shapes(_variables(model, (1, 8, 16, 16, 3))["params"])
  assert shapes["conv1/kernel"] == (3, 3, 3, 3, 4)
  assert shapes["conv5b/kernel"] == (3, 3, 3, 32, 32)
  video = np.random.default_rng(0).uniform(size=(2, 8, 16, 16, 3)).astype(np.float32)
  with jax.threefry_partitionable(False):
    variables = model.init(jax.random.key(0), video, train=False)
  out, updates = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))(
      variables, video)
  assert out.shape == (2, 1, 1, 1, 32) and np.all(np.isfinite(out)) and np.all(out >= 0)
  assert set(updates) == {"batch_stats"}


def test_bad_options_raise():
  with pytest.raises(ValueError, match="width_multiplier"):
    c3d.c3d(width_multiplier=0.0)
  with pytest.raises(ValueError, match="strided_conv"):
    c3d.c3d(strided_conv="fast")
