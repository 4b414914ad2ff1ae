"""The generic trainer on a tiny CVRL run: loss, checkpoints, export, resume."""
import os
import shutil

import jax
import numpy as np

from jvrl.train import checkpointing
from jvrl.train import trainer


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(tree))]


def test_train_resume_equals_uninterrupted(tiny_cvrl_config, tmp_path):
  config = tiny_cvrl_config
  full_dir, resumed_dir = str(tmp_path / "full"), str(tmp_path / "resumed")
  full_state, full_encoder = trainer.train(config, full_dir)
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
  for a, b in zip(_leaves(full_state.params), _leaves(resumed_state.params)):
    np.testing.assert_array_equal(a, b)
  for a, b in zip(_leaves(full_state.opt_state), _leaves(resumed_state.opt_state)):
    np.testing.assert_array_equal(a, b)

  # Training changed the encoder, and the export holds the final encoder.
  _, exported = checkpointing.load_encoder(os.path.join(full_dir, trainer.EXPORT_SUBDIR))
  for a, b in zip(_leaves(full_encoder), _leaves(exported)):
    np.testing.assert_array_equal(a, b)
  variables, step = trainer.restore_encoder_variables(config, full_dir)
  assert step == config.train.num_steps
  for a, b in zip(_leaves(full_encoder), _leaves(variables)):
    np.testing.assert_array_equal(a, b)


def test_validate_batch_size_names_the_field():
  mesh = trainer.sharding.make_mesh({"data": 8})
  import pytest
  with pytest.raises(ValueError, match="config.train.batch_size=12"):
    trainer.validate_batch_size(12, mesh, "config.train.batch_size")
