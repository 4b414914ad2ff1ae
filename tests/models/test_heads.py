"""Tests for jvrl.models.heads: global average pooling and the projection MLP."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvrl.models import heads


def test_global_average_pool_matches_numpy():
  x = np.random.default_rng(0).normal(size=(3, 2, 4, 5, 6)).astype(np.float32)
  pooled = heads.global_average_pool(jnp.asarray(x))
  assert pooled.shape == (3, 6)
  np.testing.assert_allclose(pooled, x.reshape(3, -1, 6).mean(axis=1), rtol=1e-6, atol=1e-6)
  with pytest.raises(ValueError, match="feature_map"):
    heads.global_average_pool(jnp.zeros((3, 4, 5, 6)))


def _init(head, x):
  # Classic threefry compiles random initializers much faster on XLA:CPU.
  with jax.threefry_partitionable(False):
    return jax.jit(lambda key: head.init(key, x, train=False))(jax.random.key(0))


def _np_batch_norm_train(h, scale, bias, eps):
  mean, var = h.mean(axis=0), h.var(axis=0)  # biased variance, as flax
  return (h - mean) / np.sqrt(var + eps) * scale + bias, mean, var


@pytest.fixture(scope="module")
def small_head():
  head = heads.ProjectionMLP(hidden_dim=32, num_hidden_layers=3, output_dim=8)
  x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 16)), jnp.float32)
  variables = _init(head, x)
  # Non-trivial BN affine parameters so the reference checks their use.
  rng = np.random.default_rng(1)
  variables = jax.tree_util.tree_map_with_path(
      lambda path, v: (jnp.asarray(rng.uniform(0.5, 1.5, v.shape), jnp.float32)
                       if str(path[-1].key) == "scale" else
                       jnp.asarray(rng.normal(0, 0.3, v.shape), jnp.float32)
                       if str(path[-1].key) == "bias" else v), variables)
  return head, x, variables, jax.jit(lambda v, x: head.apply(v, x, train=False))


def test_projection_mlp_layers_and_shapes(small_head):
  _, x, variables, eval_fn = small_head
  params = variables["params"]
  assert sorted(params) == ["hidden0_bn", "hidden0_dense", "hidden1_bn", "hidden1_dense",
                            "hidden2_bn", "hidden2_dense", "output_dense"]
  assert params["hidden0_dense"]["kernel"].shape == (16, 32)
  assert params["hidden2_dense"]["kernel"].shape == (32, 32)
  assert set(params["hidden1_dense"]) == {"kernel"}  # no bias before BN
  assert params["output_dense"]["kernel"].shape == (32, 8)
  assert params["output_dense"]["bias"].shape == (8,)
  assert sorted(variables["batch_stats"]) == ["hidden0_bn", "hidden1_bn", "hidden2_bn"]
  out = eval_fn(variables, x)
  assert out.shape == (6, 8) and out.dtype == jnp.float32


def test_projection_mlp_train_mode_matches_numpy(small_head):
  head, x, variables, _ = small_head
  out, updates = jax.jit(lambda v, x: head.apply(v, x, train=True, mutable=["batch_stats"]))(
      variables, x)
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), variables["params"])
  h = np.asarray(x, np.float64)
  for layer in range(3):
    bn = p[f"hidden{layer}_bn"]
    h, mean, var = _np_batch_norm_train(h @ p[f"hidden{layer}_dense"]["kernel"],
                                        bn["scale"], bn["bias"], 1e-5)
    h = np.maximum(h, 0.0)
    stats = updates["batch_stats"][f"hidden{layer}_bn"]
    # Running averages with CVRL's head momentum 0.997 from the initial (0, 1).
    np.testing.assert_allclose(stats["mean"], 0.003 * mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(stats["var"], 0.997 + 0.003 * var, rtol=1e-4, atol=1e-6)
  expected = h @ p["output_dense"]["kernel"] + p["output_dense"]["bias"]
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_projection_mlp_eval_mode_uses_running_stats(small_head):
  _, x, variables, eval_fn = small_head
  out = eval_fn(variables, x)
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), variables["params"])
  h = np.asarray(x, np.float64)
  for layer in range(3):
    bn = p[f"hidden{layer}_bn"]  # running mean 0, var 1 at init
    h = np.maximum(h @ p[f"hidden{layer}_dense"]["kernel"] / np.sqrt(1 + 1e-5) * bn["scale"]
                   + bn["bias"], 0.0)
  expected = h @ p["output_dense"]["kernel"] + p["output_dense"]["bias"]
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_projection_mlp_variants_via_shapes():
  x = jax.ShapeDtypeStruct((4, 16), jnp.float32)

  def abstract(head):
    return jax.eval_shape(lambda: head.init(jax.random.key(0), jnp.zeros(x.shape), train=False))

  linear = abstract(heads.ProjectionMLP(num_hidden_layers=0, output_dim=8))
  assert list(linear["params"]) == ["output_dense"] and "batch_stats" not in linear
  no_bn = abstract(heads.ProjectionMLP(hidden_dim=32, num_hidden_layers=2, use_bn=False))
  assert sorted(no_bn["params"]) == ["hidden0_dense", "hidden1_dense", "output_dense"]
  assert set(no_bn["params"]["hidden0_dense"]) == {"kernel", "bias"}
  default = abstract(heads.ProjectionMLP())  # CVRL: 3 x 2048 -> 128
  assert default["params"]["hidden2_dense"]["kernel"].shape == (2048, 2048)
  assert default["params"]["output_dense"]["kernel"].shape == (2048, 128)
  head = heads.ProjectionMLP(dtype=jnp.bfloat16)
  variables = abstract(head)
  assert {v.dtype for v in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
  out = jax.eval_shape(lambda v, x: head.apply(v, x, train=False), variables, x)
  assert out.dtype == jnp.float32 and out.shape == (4, 128)


def test_projection_mlp_invalid_arguments():
  with pytest.raises(ValueError, match="hidden_dim"):
    heads.ProjectionMLP(hidden_dim=0)
  with pytest.raises(ValueError, match="output_dim"):
    heads.ProjectionMLP(output_dim=0)
  with pytest.raises(ValueError, match="num_hidden_layers"):
    heads.ProjectionMLP(num_hidden_layers=-1)
  with pytest.raises(ValueError, match="pooled"):
    jax.eval_shape(lambda: heads.ProjectionMLP().init(
        jax.random.key(0), jnp.zeros((2, 3, 4)), train=False))
