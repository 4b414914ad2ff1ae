"""The generic trainer on a tiny CVRL run: loss, checkpoints, export, exact resume,
preemption, non-finite guard, mixed precision."""
import dataclasses
import os
import shutil
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import make_tiny_cvrl_config, random_cvrl_batches, train_steps

from jvrl.data.tf_setup import tf
from jvrl.objectives import build_objective
from jvrl.train import checkpointing
from jvrl.train import optimizers
from jvrl.train import trainer


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def _assert_states_equal(got, want):
  """Bit-for-bit: parameters, BN statistics, optimiser state, step, RNG, counters."""
  assert jax.tree.structure(got) == jax.tree.structure(want)
  for a, b in zip(_leaves(got), _leaves(want)):
    np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def full_run(synthetic_cache_dir, tmp_path_factory):
  """One uninterrupted tiny run (4 steps, checkpoints at 2 and 4): (dir, state, encoder)."""
  workdir = str(tmp_path_factory.mktemp("full"))
  state, encoder = trainer.train(make_tiny_cvrl_config(synthetic_cache_dir), workdir)
  return workdir, state, encoder


def test_train_resume_equals_uninterrupted(full_run, tiny_cvrl_config, tmp_path):
  config = tiny_cvrl_config
  full_dir, full_state, full_encoder = full_run
  resumed_dir = str(tmp_path / "resumed")
  assert int(full_state.step) == config.train.num_steps
  ckpt_dir = os.path.join(full_dir, trainer.CHECKPOINT_SUBDIR)
  assert sorted(os.listdir(ckpt_dir))[:2] == ["2", "4"]
  assert os.path.exists(os.path.join(full_dir, trainer.EXPORT_SUBDIR, "encoder.json"))
  assert os.listdir(os.path.join(full_dir, "tensorboard", "train"))

  # Same run, "interrupted" after the step-2 checkpoint: drop what came later.
  trainer.train(config, resumed_dir)
  shutil.rmtree(os.path.join(resumed_dir, trainer.CHECKPOINT_SUBDIR, "4"))
  shutil.rmtree(os.path.join(resumed_dir, "export"))
  resumed_state, _ = trainer.train(config, resumed_dir)
  assert int(resumed_state.step) == config.train.num_steps
  _assert_states_equal(resumed_state, full_state)

  # Training changed the encoder, and the export holds the final encoder.
  _, exported = checkpointing.load_encoder(os.path.join(full_dir, trainer.EXPORT_SUBDIR))
  for a, b in zip(_leaves(full_encoder), _leaves(exported)):
    np.testing.assert_array_equal(a, b)
  variables, step = trainer.restore_encoder_variables(config, full_dir)
  assert step == config.train.num_steps
  for a, b in zip(_leaves(full_encoder), _leaves(variables)):
    np.testing.assert_array_equal(a, b)


def test_sigterm_checkpoints_the_step_and_resume_is_bit_exact(full_run, tiny_cvrl_config,
                                                              tmp_path, monkeypatch):
  """Killed (SIGTERM) during step 3 of 4, between periodic checkpoints: the
  trainer finishes step 3, checkpoints it (state, RNG, input position) and
  stops; rerunning gives exactly the uninterrupted run's final state."""
  config = tiny_cvrl_config
  config.train.checkpoint_every = 100  # no periodic checkpoint before the end
  config.train.log_every = 1
  workdir = str(tmp_path / "preempted")

  class SigtermDuringStep3(trainer.MetricsWriter):
    def write_scalars(self, step, scalars):
      super().write_scalars(step, scalars)
      if step == 3:
        os.kill(os.getpid(), signal.SIGTERM)

  monkeypatch.setattr(trainer, "MetricsWriter", SigtermDuringStep3)
  with pytest.raises(trainer.Preempted, match="after step 3"):
    trainer.train(config, workdir)
  assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handler removed again
  assert os.listdir(os.path.join(workdir, trainer.CHECKPOINT_SUBDIR)) == ["3"]
  assert not os.path.exists(os.path.join(workdir, "export"))
  metadata = checkpointing.Checkpointer(
      os.path.join(workdir, trainer.CHECKPOINT_SUBDIR)).restore_metadata(3)
  assert metadata["input"]["next_example"] == [3 * config.train.batch_size]

  monkeypatch.undo()
  resumed_state, _ = trainer.train(config, workdir)
  _assert_states_equal(resumed_state, full_run[1])


def _poison_example(objective, bad_example: int):
  """`objective` whose loss is NaN on the batch holding example `bad_example`."""
  def preprocess(example, seed):
    out = objective.preprocess_train(example, seed)
    out["poison"] = tf.cast(tf.equal(seed[1], bad_example), tf.float32)
    return out

  def loss_fn(outputs, batch):
    loss, metrics = objective.loss_fn(outputs, batch)
    return loss + jnp.where(jnp.any(batch["poison"] > 0), jnp.nan, 0.0), metrics

  return dataclasses.replace(objective, preprocess_train=preprocess, loss_fn=loss_fn)


def test_nonfinite_loss_stops_naming_the_step_or_is_skipped(tiny_cvrl_config, tmp_path,
                                                            monkeypatch):
  config = tiny_cvrl_config
  config.train.checkpoint_every = 1
  bad_example = 2 * config.train.batch_size  # first example of step 3's batch
  monkeypatch.setattr(trainer, "build_objective",
                      lambda c: _poison_example(build_objective(c), bad_example))

  workdir = str(tmp_path / "fail")
  with pytest.raises(FloatingPointError, match="at step 3 .*skip_nonfinite"):
    trainer.train(config, workdir)
  # The last good checkpoint stays the newest: none was written after step 2.
  assert sorted(os.listdir(os.path.join(workdir, trainer.CHECKPOINT_SUBDIR))) == ["1", "2"]

  config.train.skip_nonfinite = True
  state, _ = trainer.train(config, str(tmp_path / "skip"))
  assert int(state.step) == 4
  assert int(state.nonfinite_steps) == 1 and int(state.first_nonfinite_step) == 3
  assert all(np.isfinite(leaf).all() for leaf in _leaves(state.params))


def test_skip_nonfinite_keeps_the_old_state():
  """Unit level: the guard inside the jitted step, on a one-layer objective."""
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  from jvrl.objectives import base  # pylint: disable=g-import-not-at-top

  class Linear(nn.Module):
    @nn.compact
    def __call__(self, batch, train):
      del train
      return {"y": nn.Dense(1)(batch["x"])}

  objective = base.Objective(
      name="toy", model=Linear(), preprocess_train=None,
      loss_fn=lambda out, batch: (jnp.mean(out["y"] * batch["scale"]), {}))
  optimizer = optax.sgd(0.1)
  state = trainer.init_train_state(objective, optimizer, {"x": np.ones((1, 3), np.float32)},
                                   jax.random.key(0), jax.random.key(1))
  batch = {"x": np.ones((2, 3), np.float32), "scale": np.full((2, 1), np.inf, np.float32)}
  for skip in (True, False):
    new, metrics = jax.jit(trainer.make_train_step(objective, optimizer,
                                                   skip_nonfinite=skip))(state, batch)
    assert int(new.step) == 1 and int(new.nonfinite_steps) == 1
    assert int(new.first_nonfinite_step) == 1 and int(metrics["nonfinite_steps"]) == 1
    params_finite = all(np.isfinite(leaf).all() for leaf in _leaves(new.params))
    assert params_finite == skip
    if skip:
      _assert_states_equal(new.params, state.params)
  good = dict(batch, scale=np.ones((2, 1), np.float32))
  new, _ = jax.jit(trainer.make_train_step(objective, optimizer, skip_nonfinite=True))(
      state, good)
  assert int(new.nonfinite_steps) == 0 and int(new.first_nonfinite_step) == 0
  assert not np.array_equal(_leaves(new.params)[1], _leaves(state.params)[1])


def test_bfloat16_compute_matches_float32_loss(tiny_cvrl_config):
  """config.model.dtype='bfloat16': bf16 convolutions, float32 master weights, same loss."""
  config = tiny_cvrl_config
  config.cvrl.temperature = 1.0  # 0.1 on an untrained tiny net magnifies rounding 10x
  batches = random_cvrl_batches(config, count=1)
  want, _, want_text = train_steps(config, batches)
  config.model.dtype = "bfloat16"
  got, state, text = train_steps(config, batches)
  assert "bf16" in text and "bf16" not in want_text
  assert {leaf.dtype for leaf in jax.tree.leaves(state.params)} == {jnp.dtype("float32")}
  np.testing.assert_allclose(got, want, rtol=2e-2)


def test_validate_batch_size_names_the_field():
  mesh = trainer.sharding.make_mesh({"data": 8})
  with pytest.raises(ValueError, match="config.train.batch_size=12"):
    trainer.validate_batch_size(12, mesh, "config.train.batch_size")


def test_validation_hook_keeps_the_best_state_and_feeds_the_plateau(tiny_cvrl_config,
                                                                    tmp_path):
  """Scripted scores: the state of the best top-1 (the later on a tie, as PRP) is kept
  with its step; the validation losses (not the training loss) drive reduce-on-plateau."""
  config = tiny_cvrl_config
  config.optimizer.update(dict(plateau_factor=0.5, plateau_patience=1,
                               plateau_metric="validation_loss"))
  config.data.held_out = dict(split="eval_train", ids_file="unused.json", use="exclude")
  top1s, losses, seen = [0.5, 0.7, 0.7, 0.2], [1.0, 2.0, 2.0, 2.0], []

  def evaluate(variables):
    seen.append(jax.device_get(variables["params"]))
    return {"loss": losses[len(seen) - 1], "top1": top1s[len(seen) - 1]}

  with pytest.raises(ValueError, match="validation split"):
    trainer.train(config, str(tmp_path / "without"))
  workdir = str(tmp_path / "run")
  state, _ = trainer.train(config, workdir, validation=trainer.Validation(1, evaluate))
  assert len(seen) == config.train.num_steps == 4
  best_state, best = trainer.restore_best_state(config, workdir)
  assert best == {"step": 3, "top1": 0.7, "loss": 2.0}
  for got, want in zip(_leaves(best_state.params), _leaves(seen[2])):
    np.testing.assert_array_equal(got, want)
  # Validation losses 1, 2, 2, 2 with patience 1: each of the three that does not
  # improve on 1 halves the rate (1 -> 0.5 -> 0.25 -> 0.125).
  assert optimizers.plateau_scale(state.opt_state) == pytest.approx(0.125)
