"""The PRP configs build: objective, optimiser, and the model on the configured clip sizes."""
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvrl.objectives import build_objective
from jvrl.train import optimizers


@pytest.mark.parametrize("module, model_name", [
    ("prp_synthetic", "r3d_prp"), ("prp_ucf101_c3d", "c3d"), ("prp_ucf101_r3d", "r3d_prp"),
    ("prp_ucf101_r2plus1d", "r2plus1d_prp")])
def test_prp_config_builds(module, model_name):
  config = importlib.import_module(f"configs.{module}").get_config()
  assert config.objective == "prp" and config.model_name == model_name
  objective = build_objective(config)
  t, s = config.data.clip_length, config.data.crop_size
  batch = {"clip": jax.ShapeDtypeStruct((1, t, s, s, 3), jnp.uint8),
           "target": jax.ShapeDtypeStruct((1, 2 * t, s, s, 3), jnp.uint8),
           "target_valid": jax.ShapeDtypeStruct((1, 2 * t), jnp.float32),
           "rate": jax.ShapeDtypeStruct((1,), jnp.int32)}
  variables = jax.eval_shape(
      lambda b: objective.model.init(jax.random.key(0), b, train=False), batch)
  outputs = jax.eval_shape(lambda v, b: objective.model.apply(v, b, train=False),
                           variables, batch)
  assert outputs["reconstruction"].shape == (1, 2 * t, s, s, 3)
  assert outputs["rate_logits"].shape == (1, len(config.prp.rates))
  optimizer = optimizers.make_optimizer(config.optimizer, config.train.num_steps,
                                        config.train.batch_size)
  assert optimizer.init(jax.tree.map(lambda x: np.zeros(x.shape, x.dtype),
                                     variables["params"]["rate_head"]))


def test_ucf101_recipe_is_prps():
  from configs import prp_ucf101_c3d  # pylint: disable=g-import-not-at-top
  config = prp_ucf101_c3d.get_config()
  opt = config.optimizer
  assert (opt.name, opt.learning_rate, opt.momentum, opt.weight_decay) == ("sgd", 0.01, 0.9, 5e-4)
  assert opt.lr_multipliers == ((r"rate_head/classifier/", 10.0),)
  assert (opt.plateau_factor, opt.plateau_patience) == (0.1, 51)  # PyTorch: 50 bad, then cut
  assert opt.weight_decay_mask == "all"  # PyTorch SGD over model.parameters()
  assert config.train.batch_size == 8
  assert config.train.num_steps == 300 * (9537 // 8)
  assert tuple(config.prp.rates) == (1, 2, 4, 8) and config.prp.rate_weight == 0.1
  assert (config.data.clip_length, config.data.crop_size, config.prp.resize_short_side) == (
      16, 112, 128)
  assert (config.eval.num_clips, config.eval.feature_pooling) == (10, "max_122")
  # The classifier multiplier matches the rate classifier's parameters only.
  params = {"rate_head": {"classifier": {"kernel": 0, "bias": 0}, "conv": {"kernel": 0}},
            "encoder": {"classifier": {"kernel": 0}}}
  factors = optimizers.lr_multiplier_tree(params, tuple(opt.lr_multipliers))
  assert factors == {"rate_head": {"classifier": {"kernel": 10.0, "bias": 10.0},
                                   "conv": {"kernel": 1.0}},
                     "encoder": {"classifier": {"kernel": 1.0}}}


def test_combined_cvrl_prp_config_builds():
  from configs import cvrl_prp_synthetic  # pylint: disable=g-import-not-at-top
  config = cvrl_prp_synthetic.get_config()
  objective = build_objective(config)
  assert objective.name == "combined" and objective.clips_per_example == 3
  t, s = config.data.clip_length, config.data.crop_size
  clip = lambda frames: jax.ShapeDtypeStruct((1, frames, s, s, 3), jnp.uint8)
  batch = {"cvrl/view1": clip(t), "cvrl/view2": clip(t), "prp/clip": clip(t),
           "prp/target": clip(2 * t), "prp/target_valid": jax.ShapeDtypeStruct((1, 2 * t),
                                                                                jnp.float32),
           "prp/rate": jax.ShapeDtypeStruct((1,), jnp.int32)}
  variables = jax.eval_shape(
      lambda b: objective.model.init(jax.random.key(0), b, train=False), batch)
  assert set(variables["params"]) == {"encoder", "cvrl", "prp"}


def test_ucf101_fine_tuning_is_prps(tmp_path):
  """ft_classfy.py: SGD 1e-3 at batch 8, momentum 0.9, wd 5e-4 on all parameters, 160
  epochs, x0.1 from the 100th epoch, no flip, 800 held-out videos validated every epoch."""
  from configs import prp_ucf101_c3d  # pylint: disable=g-import-not-at-top
  from jvrl.evaluation import finetune  # pylint: disable=g-import-not-at-top
  config = prp_ucf101_c3d.get_config()
  ft = config.eval.finetune
  epoch = (9537 - 800) // 8
  assert (ft.batch_size, ft.flip_prob, ft.steps) == (8, 0.0, 160 * epoch)
  assert (ft.validation_videos, ft.validation_every) == (800, epoch)
  derived = finetune.finetune_config(config, str(tmp_path))
  opt = derived.optimizer
  assert (opt.name, opt.learning_rate, opt.lr_batch_scaling, opt.momentum) == (
      "sgd", 0.001, 8, 0.9)
  assert (opt.weight_decay, opt.weight_decay_mask, opt.plateau_factor) == (5e-4, "all", 0.0)
  assert opt.lr_multipliers == ()
  schedule = optimizers.make_learning_rate_schedule(opt, derived.train.num_steps, 8)
  np.testing.assert_allclose([float(schedule(s)) for s in (0, 99 * epoch - 1, 99 * epoch,
                                                           160 * epoch - 1)],
                             [1e-3, 1e-3, 1e-4, 1e-4], rtol=1e-5)
  assert derived.data.held_out.use == "exclude"
  assert derived.data.held_out.split == "eval_train"
  assert (derived.eval.num_clips, derived.eval.num_crops) == (10, 1)


def test_synthetic_config_fine_tunes_on_residual_frames():
  """The synthetic classes are motion only: on RGB neither encoder learned in
  fine-tuning (chance loss after 400 steps), and at 400 steps on residual
  frames both still underfit and tie; the config feeds residual frames (as the
  CVRL main job) and fine-tunes near convergence at a lower lr than pretraining
  (configs/prp_synthetic.py)."""
  from configs import cvrl_synthetic  # pylint: disable=g-import-not-at-top
  from configs import prp_synthetic  # pylint: disable=g-import-not-at-top
  config = prp_synthetic.get_config()
  assert config.model.input_transform == "frame_difference"
  assert config.model.input_transform == cvrl_synthetic.get_config().model.input_transform
  assert config.model.conv_impl == "temporal_taps"  # pays for the fine-tuning on a CPU
  assert config.eval.finetune.steps >= 1200
  assert config.eval.finetune.optimizer.learning_rate < config.optimizer.learning_rate
  assert config.eval.finetune.random_init_baseline
  # The encoder that fine-tuning builds sees the same residual frames.
  from jvrl.evaluation import finetune  # pylint: disable=g-import-not-at-top
  derived = finetune.finetune_config(config)
  assert derived.model.input_transform == "frame_difference"
  assert derived.train.num_steps == config.eval.finetune.steps
