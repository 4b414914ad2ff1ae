"""config.init_from: a training run starts its encoder from an exported encoder.

(Refusing an export of another architecture: tests/test_config_validation.py at
start-up, tests/train/test_checkpointing.py for the check itself.)"""
import logging
import os

import jax
import numpy as np

from jvrl import experiments
from jvrl import models
from jvrl.train import checkpointing
from jvrl.train import trainer


def _export_random_encoder(config, directory, seed=123):
  """An export of `config`'s encoder with parameters no run of `config` would draw."""
  encoder = models.build_model(config.model_name, **config.model.to_dict())
  clip = np.zeros((1, config.data.clip_length, config.data.crop_size, config.data.crop_size, 3),
                  np.float32)
  variables = jax.device_get(encoder.init(jax.random.key(seed), clip, train=False))
  checkpointing.export_encoder(directory, model_name=config.model_name,
                               model_kwargs=config.model.to_dict(), variables=variables)
  return variables


def test_training_starts_from_the_export_and_resuming_ignores_it(tiny_cvrl_config, tmp_path,
                                                                 caplog):
  config = tiny_cvrl_config
  export_dir = str(tmp_path / "export")
  exported = _export_random_encoder(config, export_dir)
  config.init_from = export_dir
  # A learning rate of 0 keeps the parameters where training started them.
  config.optimizer.learning_rate = 0.0
  config.train.num_steps = config.train.checkpoint_every = config.train.log_every = 1
  workdir = str(tmp_path / "run")
  caplog.set_level(logging.INFO)
  experiments.run_train_and_evaluate(config, workdir, "train")
  assert f"Initialised the encoder from {export_dir}." in caplog.text
  _, trained = checkpointing.load_encoder(os.path.join(workdir, trainer.EXPORT_SUBDIR))
  jax.tree.map(np.testing.assert_array_equal, trained["params"], exported["params"])

  # Resuming continues from the checkpoint: init_from is not read again.
  config.init_from = str(tmp_path / "no_such_export")
  caplog.clear()
  experiments.run_train_and_evaluate(config, workdir, "train")
  assert "Resumed from checkpoint at step 1" in caplog.text
  assert "Initialised the encoder" not in caplog.text

