"""The on-device batch augmentation seam: config list, chaining, combined members, and
the trainer's augmentation stage on 1 and 8 devices."""
import dataclasses
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import random_cvrl_batches, train_steps

from configs import prp_synthetic
from jvrl import objectives
from jvrl.objectives import cvrl
from jvrl.objectives import device_augmentations
from jvrl.train import trainer


def _permute_view1(config):
  """A test augmentation: a random permutation of view 1's rows, recorded as mixing
  targets (so the contrastive loss must be unchanged by it)."""
  del config

  def augment(batch, key):
    size = batch["view1"].shape[0]
    order = jax.random.permutation(key, size)
    batch = dict(batch, view1=jnp.take(batch["view1"], order, axis=0))
    return device_augmentations.record_mixing(
        batch, "view1", jax.nn.one_hot(order, size, dtype=jnp.float32))

  return augment


FAKE_MODULE = types.SimpleNamespace(build_batch_augmentation=_permute_view1,
                                    check_config=lambda config: None, MIXES_EXAMPLES=True)


@pytest.fixture
def with_fake_augmentation(monkeypatch):
  real = device_augmentations.augmentation_module
  monkeypatch.setattr(device_augmentations, "augmentation_module",
                      lambda name: FAKE_MODULE if name == "permute" else real(name))


def test_chain_runs_in_order_each_with_its_own_key():
  seen = []

  def record(tag):
    def augment(batch, key):
      seen.append((tag, tuple(np.asarray(jax.random.key_data(key)))))
      return dict(batch, order=batch["order"] + (tag,))
    return augment

  chained = device_augmentations.chain([record("a"), None, record("b")])
  out = chained({"order": ()}, jax.random.key(0))
  assert out["order"] == ("a", "b")
  assert seen[0][1] != seen[1][1]
  assert device_augmentations.chain([None]) is None


def test_record_mixing_composes_in_order():
  first = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
  second = np.eye(3, dtype=np.float32)[[2, 0, 1]]  # row i takes example (2, 0, 1)[i]
  batch = device_augmentations.record_mixing({}, "view1", jnp.asarray(first))
  batch = device_augmentations.record_mixing(batch, "view1", jnp.asarray(second))
  np.testing.assert_allclose(batch["view1_mixing"], second @ first)


def test_config_list_goes_to_the_run_objective_not_to_combined_members(
    tiny_cvrl_config, with_fake_augmentation):
  config = tiny_cvrl_config
  assert objectives.build_objective(config).augment_batch is None
  config.device_augment = ("permute",)
  config.permute = dict(keys=("view1",))
  objectives.check_objective_config(config)
  assert objectives.build_objective(config).augment_batch is not None

  config.objective = "combined"
  config.combined = dict(cvrl=1.0, prp=1.0)
  config.prp = prp_synthetic.get_config().prp
  config.permute.keys = ("cvrl/view1",)
  objectives.check_objective_config(config)
  assert objectives.build_objective(config, "cvrl").augment_batch is None
  assert objectives.build_objective(config).augment_batch is not None


@pytest.mark.parametrize("objective, keys, message", [
    ("cvrl", ("clip",), "reads mixed targets only for"),
    ("prp", ("clip",), "reads mixed targets only for"),
    ("combined", ("view1",), "'<member>/<field>'"),
    ("cvrl", (), "must name the batch fields"),
])
def test_bad_device_augment_configs_raise(tiny_cvrl_config, with_fake_augmentation, objective,
                                          keys, message):
  config = tiny_cvrl_config
  config.objective = objective
  config.prp = prp_synthetic.get_config().prp
  config.combined = dict(cvrl=1.0)
  config.device_augment = ("permute",)
  config.permute = dict(keys=keys)
  with pytest.raises(ValueError, match=message):
    objectives.check_objective_config(config)


def test_unknown_or_repeated_names_raise(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.device_augment = ("sharpen",)
  with pytest.raises(ValueError, match="Unknown device augmentation 'sharpen'"):
    objectives.check_objective_config(config)
  config.device_augment = ("fame", "fame")
  with pytest.raises(ValueError, match="twice"):
    objectives.check_objective_config(config)


def test_combined_runs_a_members_own_augmentation_on_its_slice(tiny_cvrl_config, monkeypatch):
  config = tiny_cvrl_config
  config.objective = "combined"
  config.combined = dict(cvrl=1.0, prp=1.0)
  config.prp = prp_synthetic.get_config().prp
  build_cvrl = cvrl.build_objective

  def cvrl_with_augmentation(cfg):
    return dataclasses.replace(build_cvrl(cfg), augment_batch=lambda batch, key: dict(
        batch, view1=255 - batch["view1"], extra=jnp.zeros(())))

  monkeypatch.setattr(cvrl, "build_objective", cvrl_with_augmentation)
  objective = objectives.build_objective(config)
  batch = {"cvrl/view1": np.full((2, 1), 5, np.uint8), "cvrl/view2": np.zeros((2, 1), np.uint8),
           "prp/clip": np.full((2, 1), 5, np.uint8)}
  out = objective.augment_batch(batch, jax.random.key(0))
  assert set(out) == {"cvrl/view1", "cvrl/view2", "cvrl/extra", "prp/clip"}
  np.testing.assert_array_equal(out["cvrl/view1"], 250)
  np.testing.assert_array_equal(out["prp/clip"], 5)


def test_train_step_augments_the_global_batch_alike_on_1_and_8_devices(
    tiny_cvrl_config, with_fake_augmentation):
  """The stage runs inside the jitted step on the sharded global batch: the same key gives
  the same permutation on 1 and 8 devices, and a permutation recorded as mixing targets
  leaves the first step's loss equal to the loss of the batch as it came."""
  config = tiny_cvrl_config
  config.cvrl.temperature = 1.0  # well-conditioned: summation order noise stays small
  batches = random_cvrl_batches(config, count=2)
  plain = objectives.build_objective(config)
  config.device_augment = ("permute",)
  config.permute = dict(keys=("view1",))
  losses_1 = train_steps(config, batches, num_devices=1)[0]
  losses_8 = train_steps(config, batches, num_devices=8)[0]
  np.testing.assert_allclose(losses_8, losses_1, rtol=1e-5)

  setup = trainer.Setup(config)
  spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in batches[0].items()}
  state = setup.fresh_state(spec, setup.abstract_state(spec)[1])
  outputs, _ = plain.model.apply(trainer.model_variables(state), batches[0], train=True,
                                 mutable=["batch_stats"])
  np.testing.assert_allclose(losses_8[0], float(plain.loss_fn(outputs, batches[0])[0]),
                             rtol=1e-5)
