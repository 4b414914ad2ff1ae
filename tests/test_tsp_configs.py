"""TSP's recipe configs validate and build a train step (traced, not run)."""
import importlib
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvrl import config_validation
from jvrl.data import feature_files
from jvrl.data import records
from jvrl.train import optimizers
from jvrl.train import trainer


def _recipe(module, tmp_path):
  config = importlib.import_module(f"configs.{module}").get_config()
  pattern = str(tmp_path / "*.tfrecord")
  records.write_sharded_records([records.make_sequence_example(jpeg_frames=[b"x"])],
                                str(tmp_path), 1, "train")
  config.data.train_files = config.data.eval_train_files = config.data.eval_test_files = pattern
  # The Kinetics-400 R(2+1)D-34 export the recipe starts from: validation reads only its
  # encoder.json (the weights are loaded when the run starts).
  export = tmp_path / "k400_encoder"
  export.mkdir()
  (export / "encoder.json").write_text(json.dumps(
      {"model_name": config.model_name, "model_kwargs": config.model.to_dict()}))
  config.tsp.initial_encoder = str(export)
  return config


@pytest.mark.parametrize("module, classes, head_lr, steps_per_epoch", [
    ("tsp_activitynet_r2plus1d34", 200, 0.002, 2451), ("tsp_thumos14_r2plus1d34", 20, 0.004, 406)])
def test_recipe_validates_and_builds_a_train_step(module, classes, head_lr, steps_per_epoch,
                                                  tmp_path):
  config = _recipe(module, tmp_path)
  config_validation.validate_config(config)
  assert config.model_name == "r2plus1d_34" and config.tsp.num_classes == classes
  assert (config.data.clip_length, config.data.crop_size, config.data.video_fps) == (16, 112, 15)
  assert config.train.batch_size == 64 and config.train.num_steps == 8 * steps_per_epoch
  opt = config.optimizer
  assert (opt.name, opt.momentum, opt.weight_decay) == ("sgd", 0.9, 0.005)
  assert opt.learning_rate == pytest.approx(2 * head_lr)  # x 2 GPUs
  assert tuple(opt.decay_boundaries) == (4 * steps_per_epoch, 6 * steps_per_epoch)
  assert opt.warmup_steps == 2 * steps_per_epoch and opt.decay_factor == 0.01
  # Per-group learning rates: stem frozen, backbone 1e-4 x 2, heads head_lr x 2.
  params = {"encoder": {"stem_conv": {"spatial_conv": {"kernel": 0}},
                        "stage1_block0": {"bn_a": {"scale": 0}}},
            "action_head": {"kernel": 0}, "region_head": {"kernel": 0}}
  factors = optimizers.lr_multiplier_tree(params, tuple(opt.lr_multipliers))
  assert factors["encoder"]["stem_conv"]["spatial_conv"]["kernel"] == 0.0
  assert factors["encoder"]["stage1_block0"]["bn_a"]["scale"] * opt.learning_rate == (
      pytest.approx(2e-4))
  assert factors["action_head"]["kernel"] == factors["region_head"]["kernel"] == 1.0

  # The TSP run's train step, traced on abstract arrays (no compile, nothing allocated).
  with feature_files.FeatureWriter(str(tmp_path / "gvf.h5")) as writer:
    writer.write("x", np.zeros((512,), np.float32))
  config.tsp.gvf_file = str(tmp_path / "gvf.h5")
  setup = trainer.Setup(config)
  t, s = config.data.clip_length, config.data.crop_size
  spec = {"clip": jax.ShapeDtypeStruct((64, t, s, s, 3), jnp.uint8),
          "action_label": jax.ShapeDtypeStruct((64,), jnp.int32),
          "region_label": jax.ShapeDtypeStruct((64,), jnp.int32),
          "gvf": jax.ShapeDtypeStruct((64, 512), jnp.float32)}
  abstract_state, _ = setup.abstract_state(spec)
  step = trainer.make_train_step(setup.objective, setup.optimizer, setup.learning_rate_fn)
  new_state, metrics = jax.eval_shape(step, abstract_state, spec)
  assert metrics["loss"].shape == () and "region_accuracy" in metrics
  assert new_state.params["region_head"]["kernel"].shape == (512 + 512, 2)
  assert new_state.params["action_head"]["kernel"].shape == (512, classes)
