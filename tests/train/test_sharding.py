"""Mesh construction and rule-based parameter shardings."""
import jax
import numpy as np
import pytest
from conftest import random_cvrl_batches, train_steps
from jax.sharding import PartitionSpec

from jvrl.train import sharding


def test_make_mesh_fills_minus_one():
  mesh = sharding.make_mesh({"data": -1})
  assert mesh.shape["data"] == len(jax.devices())
  mesh = sharding.make_mesh({"data": -1, "model": 2})
  assert dict(mesh.shape) == {"data": len(jax.devices()) // 2, "model": 2}


@pytest.mark.parametrize("bad", [{"model": -1}, {"data": 3}, {"data": -1, "model": -1},
                                 {"data": 0}])
def test_make_mesh_rejects_bad_configs(bad):
  with pytest.raises(ValueError, match="config.mesh"):
    sharding.make_mesh(bad)


def test_infer_shardings_first_rule_wins():
  mesh = sharding.make_mesh({"data": 8})
  params = {"encoder": {"conv": {"kernel": np.zeros((3, 3, 16, 64)), "bias": np.zeros((64,))}},
            "head": {"kernel": np.zeros((5, 7))}}
  rules = [("encoder/.*/kernel", "fsdp"), (".*", "replicate")]
  out = sharding.infer_shardings(params, rules, mesh)
  # FSDP splits the largest dimension divisible by the data axis (64 by 8).
  assert out["encoder"]["conv"]["kernel"].spec == PartitionSpec(None, None, None, "data")
  assert out["encoder"]["conv"]["bias"].spec == PartitionSpec()
  # 5x7 has no dimension divisible by 8: replicated.
  assert out["head"]["kernel"].spec == PartitionSpec()


def test_fsdp_sharded_array_round_trips():
  mesh = sharding.make_mesh({"data": 8})
  x = np.arange(16 * 3, dtype=np.float32).reshape(16, 3)
  sh = sharding.infer_shardings({"w": x}, [(".*", "fsdp")], mesh)["w"]
  y = jax.device_put(x, sh)
  assert len(y.addressable_shards) == 8 and y.addressable_shards[0].data.shape == (2, 3)
  np.testing.assert_array_equal(np.asarray(y), x)


def test_unmatched_parameter_and_unknown_tactic_are_errors():
  mesh = sharding.make_mesh({"data": -1})
  with pytest.raises(ValueError, match="No sharding rule matches"):
    sharding.infer_shardings({"a": np.zeros(2)}, [("^b", "replicate")], mesh)
  with pytest.raises(ValueError, match="Unknown sharding tactic"):
    sharding.infer_shardings({"a": np.zeros(2)}, [(".*", "shard_everything")], mesh)


def test_mesh_with_fsdp_and_model_axes():
  mesh = sharding.make_mesh({"data": -1, "fsdp": 2, "model": 2})
  assert dict(mesh.shape) == {"data": 2, "fsdp": 2, "model": 2}
  with pytest.raises(ValueError, match="subset of"):
    sharding.make_mesh({"data": -1, "model": 2, "fsdp": 2})  # wrong order
  with pytest.raises(ValueError, match="subset of"):
    sharding.make_mesh({"data": -1, "tensor": 2})


def test_fsdp_uses_the_fsdp_axis_and_model_the_last_dimension():
  mesh = sharding.make_mesh({"data": 2, "fsdp": 2, "model": 2})
  tree = {"kernel": np.zeros((3, 3, 16, 64)), "odd": np.zeros((3, 5))}
  spec = lambda tactic: sharding.infer_shardings(tree, [(".*", tactic)], mesh)
  assert spec("fsdp")["kernel"].spec == PartitionSpec(None, None, None, "fsdp")
  assert spec("model")["kernel"].spec == PartitionSpec(None, None, None, "model")
  assert spec("fsdp+model")["kernel"].spec == PartitionSpec(None, None, "fsdp", "model")
  for tactic in ("fsdp", "model", "fsdp+model"):
    assert spec(tactic)["odd"].spec == PartitionSpec()  # nothing divides: replicated


def test_fsdp_and_tensor_parallel_train_like_replicated(tiny_cvrl_config):
  """Same losses and parameters as data parallelism; parameters really are split."""
  config = tiny_cvrl_config
  # Well-conditioned steps keep summation-order noise from growing: small SGD
  # steps (Adam's normalised first steps amplify it in near-zero gradients) and
  # temperature 1 (at 0.1 this untrained tiny net is extremely sharp).
  config.optimizer.name, config.optimizer.learning_rate = "sgd", 1e-3
  config.cvrl.temperature = 1.0
  batches = random_cvrl_batches(config)
  want_losses, want = train_steps(config, batches)[:2]
  for mesh, rules in (({"data": 2, "fsdp": 4}, ((r"kernel$", "fsdp"), (".*", "replicate"))),
                      ({"data": 2, "fsdp": 2, "model": 2},
                       ((r"kernel$", "fsdp+model"), (".*", "replicate")))):
    config.mesh, config.sharding_rules = mesh, rules
    losses, got = train_steps(config, batches)[:2]
    np.testing.assert_allclose(losses, want_losses, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(got.params), jax.tree.leaves(want.params)):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)
    # Parameters and the optimiser state (momentum) take less memory per device.
    for tree in (got.params, got.opt_state):
      assert sharding.bytes_per_device(tree) < 0.6 * sharding.bytes_per_device(
          want.params if tree is got.params else want.opt_state)
