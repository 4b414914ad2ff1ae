"""Tests for jvrl.train.checkpointing."""
import json
import os
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding, PartitionSpec

import jvrl
from jvrl import models
from jvrl.train import checkpointing


@flax.struct.dataclass
class _State:
  """TrainState-like: step, params, batch stats and optimiser state."""
  step: jax.Array
  params: Any
  model_state: Any
  opt_state: Any


@jax.jit
def _build_state(key: jax.Array, step: jax.Array) -> _State:
  keys = jax.random.split(key, 3)
  params = {"conv": {"kernel": jax.random.normal(keys[0], (3, 3, 2, 4))},
            "dense": {"kernel": jax.random.normal(keys[1], (4, 8)),
                      "bias": jax.random.normal(keys[2], (8,))}}
  optimizer = optax.adamw(1e-3)
  opt_state = optimizer.init(params)
  # One update so the optimiser moments and counter are non-trivial.
  grads = jax.tree.map(jnp.ones_like, params)
  _, opt_state = optimizer.update(grads, opt_state, params)
  model_state = {"batch_stats": {"bn": {"mean": jnp.arange(4.0), "var": jnp.ones(4)}}}
  return _State(step=step, params=params, model_state=model_state, opt_state=opt_state)


def _make_state(seed: int = 0) -> _State:
  """A small state whose values depend on `seed` (one jit compile for all seeds)."""
  return _build_state(jax.random.key(seed), jnp.array(7 + seed, jnp.int32))


def _assert_trees_equal(got, want):
  assert jax.tree.structure(got) == jax.tree.structure(want)
  for got_leaf, want_leaf in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    assert np.asarray(got_leaf).dtype == np.asarray(want_leaf).dtype
    np.testing.assert_array_equal(np.asarray(got_leaf), np.asarray(want_leaf))


def test_save_restore_round_trip_is_exact(tmp_path):
  state = _make_state()
  metadata = {"model_name": "r3d_18", "config": {"lr": 0.1, "stages": [1, 2]}}
  with checkpointing.Checkpointer(tmp_path / "ckpt") as checkpointer:
    assert checkpointer.latest_step() is None
    assert checkpointer.save(7, state, metadata)
    checkpointer.wait_until_finished()
    assert checkpointer.latest_step() == 7
    restored, restored_metadata = checkpointer.restore(checkpointing.abstract_like(state))
  assert isinstance(restored, _State)
  _assert_trees_equal(restored, state)
  assert restored_metadata == metadata
  assert checkpointer.directory == str(tmp_path / "ckpt")


def test_keeps_newest_n_and_restores_a_given_step(tmp_path):
  directory = tmp_path / "ckpt"
  with checkpointing.Checkpointer(directory, max_to_keep=2) as checkpointer:
    for step in (1, 2, 3, 4):
      checkpointer.save(step, _make_state(seed=step), {"step": step})
    checkpointer.wait_until_finished()
    assert checkpointer.all_steps() == [3, 4]
    assert checkpointer.latest_step() == 4
    abstract = checkpointing.abstract_like(_make_state())
    state_3, metadata_3 = checkpointer.restore(abstract, step=3)
    _assert_trees_equal(state_3, _make_state(seed=3))
    assert metadata_3 == {"step": 3}
    with pytest.raises(FileNotFoundError, match="step 1"):
      checkpointer.restore(abstract, step=1)
  assert sorted(os.listdir(directory)) == ["3", "4"]
  # A fresh Checkpointer on the same directory (a resumed run) sees the steps.
  with checkpointing.Checkpointer(directory, max_to_keep=2) as reopened:
    assert reopened.latest_step() == 4
    state_4, _ = reopened.restore(checkpointing.abstract_like(_make_state()))
  _assert_trees_equal(state_4, _make_state(seed=4))


@pytest.mark.parametrize("async_save", [True, False])
def test_save_then_wait_writes_files(tmp_path, async_save):
  checkpointer = checkpointing.Checkpointer(tmp_path, async_save=async_save)
  assert checkpointer.save(5, _make_state(), {})
  checkpointer.wait_until_finished()
  assert os.path.isdir(tmp_path / "5")
  assert checkpointer.latest_step() == 5
  # Saving an existing step again is skipped, not an error.
  assert not checkpointer.save(5, _make_state(), {})
  checkpointer.close()


def test_restore_onto_sharded_abstract_tree_keeps_sharding(tmp_path):
  assert jax.device_count() == 8  # tests/conftest.py simulates 8 CPU devices
  mesh = jax.make_mesh((4, 2), ("data", "model"))
  row_sharded = NamedSharding(mesh, PartitionSpec("data", "model"))
  replicated = NamedSharding(mesh, PartitionSpec())
  tree = {"kernel": jnp.arange(32.0).reshape(8, 4), "step": jnp.array(3)}
  with checkpointing.Checkpointer(tmp_path) as checkpointer:
    checkpointer.save(3, tree, {})  # saved from a single device
    abstract = {
        "kernel": jax.ShapeDtypeStruct((8, 4), jnp.float32, sharding=row_sharded),
        "step": jax.ShapeDtypeStruct((), jnp.int32, sharding=replicated)}
    restored, _ = checkpointer.restore(abstract)
    assert restored["kernel"].sharding == row_sharded
    assert restored["step"].sharding == replicated
    _assert_trees_equal(restored, tree)
    # And a sharded state round-trips through abstract_like with its sharding.
    sharded = jax.device_put(tree, {"kernel": row_sharded, "step": replicated})
    checkpointer.save(4, sharded, {})
    again, _ = checkpointer.restore(checkpointing.abstract_like(sharded))
    assert again["kernel"].sharding == row_sharded
    _assert_trees_equal(again, tree)


def test_abstract_like():
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[1])
  tree = {"a": jax.device_put(jnp.ones((2, 3), jnp.bfloat16), sharding),
          "b": np.zeros(4, np.int8), "c": 1.5}
  abstract = checkpointing.abstract_like(tree)
  assert abstract["a"] == jax.ShapeDtypeStruct((2, 3), jnp.bfloat16, sharding=sharding)
  assert abstract["a"].sharding == sharding
  assert abstract["b"].shape == (4,) and abstract["b"].dtype == np.int8
  assert abstract["c"].shape == () and abstract["c"].dtype == np.float64


def test_restore_without_checkpoint_raises(tmp_path):
  with checkpointing.Checkpointer(tmp_path / "empty") as checkpointer:
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
      checkpointer.restore(checkpointing.abstract_like(_make_state()))


def test_bad_arguments_raise(tmp_path):
  with pytest.raises(ValueError, match="max_to_keep"):
    checkpointing.Checkpointer(tmp_path, max_to_keep=0)
  with checkpointing.Checkpointer(tmp_path) as checkpointer:
    with pytest.raises(ValueError, match="metadata"):
      checkpointer.save(1, _make_state(), {"dtype": jnp.float32})
    with pytest.raises(ValueError, match="step"):
      checkpointer.save(-1, _make_state(), {})
    assert checkpointer.latest_step() is None


class _TinyEncoder(nn.Module):
  """Conv -> BN -> pooled features; stands in for jvrl.models' encoders."""
  features: int = 4
  kernel_size: tuple[int, int] = (3, 3)

  @nn.compact
  def __call__(self, x, train: bool = False):
    x = nn.Conv(self.features, self.kernel_size, use_bias=False)(x)
    x = nn.BatchNorm(use_running_average=not train)(x)
    return x.mean(axis=(1, 2))


def _tiny_build_model(name: str, **kwargs) -> nn.Module:
  if name != "tiny":
    raise ValueError(f"unknown model {name!r}")
  return _TinyEncoder(**kwargs)


def test_export_and_load_encoder_round_trip(tmp_path, monkeypatch):
  monkeypatch.setattr(models, "build_model", _tiny_build_model, raising=False)
  model = _TinyEncoder(features=6, kernel_size=(3, 3))
  inputs = np.random.default_rng(1).normal(size=(2, 5, 5, 3)).astype(np.float32)

  @jax.jit
  def trained_variables(key):
    variables = model.init(key, inputs)
    # Non-trivial batch statistics, as after training.
    _, updates = model.apply(variables, inputs, train=True, mutable=["batch_stats"])
    return {"params": variables["params"], "batch_stats": updates["batch_stats"]}

  variables = trained_variables(jax.random.key(0))
  export_dir = tmp_path / "export" / "encoder"
  kwargs = {"features": 6, "kernel_size": (3, 3)}
  checkpointing.export_encoder(export_dir, model_name="tiny", model_kwargs=kwargs,
                               variables=variables)

  with open(export_dir / "encoder.json") as spec_file:
    spec = json.load(spec_file)
  assert spec == {"model_name": "tiny", "model_kwargs": {"features": 6, "kernel_size": [3, 3]},
                  "jvrl_version": jvrl.__version__, "param_count": 3 * 3 * 3 * 6 + 6 + 6}

  loaded_model, loaded_variables = checkpointing.load_encoder(export_dir)
  assert loaded_model == model  # kernel_size came back as a tuple
  assert all(isinstance(leaf, np.ndarray) for leaf in jax.tree.leaves(loaded_variables))
  _assert_trees_equal(loaded_variables, jax.device_get(variables))
  apply = jax.jit(lambda module, v: module.apply(v, inputs), static_argnums=0)
  np.testing.assert_array_equal(apply(loaded_model, loaded_variables), apply(model, variables))

  # Exporting again to the same place overwrites the previous export.
  doubled = jax.tree.map(lambda x: 2 * x, variables)
  checkpointing.export_encoder(export_dir, model_name="tiny", model_kwargs=kwargs,
                               variables=doubled)
  _, reloaded = checkpointing.load_encoder(export_dir)
  _assert_trees_equal(reloaded, jax.device_get(doubled))


def test_export_and_load_errors(tmp_path, monkeypatch):
  monkeypatch.setattr(models, "build_model", _tiny_build_model, raising=False)
  with pytest.raises(FileNotFoundError, match="No exported encoder"):
    checkpointing.load_encoder(tmp_path / "nothing")
  params = {"params": {"w": np.ones(3, np.float32)}}
  with pytest.raises(ValueError, match="params"):
    checkpointing.export_encoder(tmp_path / "a", model_name="tiny", model_kwargs={},
                                 variables={"batch_stats": {}})
  with pytest.raises(ValueError, match="model_kwargs"):
    checkpointing.export_encoder(tmp_path / "b", model_name="tiny",
                                 model_kwargs={"dtype": jnp.float32}, variables=params)
  # An encoder.json whose parameter count disagrees with the stored variables.
  checkpointing.export_encoder(tmp_path / "c", model_name="tiny", model_kwargs={},
                               variables=params)
  spec_path = tmp_path / "c" / "encoder.json"
  spec = json.loads(spec_path.read_text())
  spec_path.write_text(json.dumps(dict(spec, param_count=4)))
  with pytest.raises(ValueError, match="parameters"):
    checkpointing.load_encoder(tmp_path / "c")


def test_check_export_fits_compares_architectures_with_defaults_filled(tmp_path):
  """The one check behind config.init_from and config.tsp.initial_encoder (reads
  encoder.json only): same model, same architecture options, whatever the compute settings."""
  directory = str(tmp_path / "export")
  checkpointing.export_encoder(  # the variables are not read by the check
      directory, model_name="r3d_18", variables={"params": {"w": np.ones(3, np.float32)}},
      model_kwargs={"input_normalization": "kinetics", "bn_epsilon": 1e-5, "bn_momentum": 0.9})
  spec = checkpointing.check_export_fits(
      directory, "r3d_18", {"input_normalization": "kinetics", "width_multiplier": 1.0,
                            "dtype": "bfloat16", "conv_impl": "temporal_taps",
                            "bn_momentum": 0.99}, field="config.init_from")
  assert spec["model_name"] == "r3d_18"
  with pytest.raises(ValueError, match=(
      r"config.init_from='.*export' is not the architecture this run trains \(model.input_"
      r"normalization is 'kinetics' there, 'none' here; model.width_multiplier is 1.0 there, "
      r"0.5 here\): set config.model_name / config.model to match it.")):
    checkpointing.check_export_fits(directory, "r3d_18", {"width_multiplier": 0.5},
                                    field="config.init_from")
  with pytest.raises(ValueError, match=r"model_name is 'r3d_18' there, 'mc3_18' here"):
    checkpointing.check_export_fits(directory, "mc3_18", {"input_normalization": "kinetics"},
                                    field="config.init_from")
  with pytest.raises(FileNotFoundError, match=r"config.tsp.initial_encoder='.*nothing'.*"
                                              r"encoder.json missing"):
    checkpointing.check_export_fits(tmp_path / "nothing", "r3d_18", {},
                                    field="config.tsp.initial_encoder")


_CRASH_DURING_SAVE = r"""
import os, sys
import numpy as np
from orbax.checkpoint._src.path import atomicity
from jvrl.train import checkpointing

checkpointer = checkpointing.Checkpointer(sys.argv[1], async_save=False)
checkpointer.save(2, {"w": np.arange(4.0)}, {"note": "good"})
checkpointer.wait_until_finished()

async def crash(self):  # every file of step 4 is written; the process dies before the commit
  os._exit(3)

atomicity.AtomicRenameTemporaryPath.finalize = crash
checkpointer.save(4, {"w": np.arange(4.0) * 10}, {"note": "never committed"})
checkpointer.wait_until_finished()
"""


def test_interrupted_save_never_replaces_the_last_good_checkpoint(tmp_path):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  directory = str(tmp_path / "ckpt")
  result = subprocess.run([sys.executable, "-c", _CRASH_DURING_SAVE, directory],
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 3, result.stderr[-2000:]
  leftovers = [name for name in os.listdir(directory) if "tmp" in name]
  assert sorted(os.listdir(directory)) == sorted(["2"] + leftovers) and leftovers

  with checkpointing.Checkpointer(directory) as checkpointer:
    assert checkpointer.latest_step() == 2
    state, metadata = checkpointer.restore({"w": jax.ShapeDtypeStruct((4,), np.float64)})
    np.testing.assert_array_equal(state["w"], np.arange(4.0))
    assert metadata == {"note": "good"}
    checkpointer.save(4, {"w": np.arange(4.0) * 10}, {"note": "retried"})
  assert sorted(os.listdir(directory)) == ["2", "4"]  # the leftover is cleaned up
