"""Mesh construction and rule-based parameter shardings."""
import jax
import numpy as np
import pytest
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
