"""The CVRL recipes: what configs/cvrl_k400_r3d50.py reproduces of the reference."""
import math

import jax
import jax.numpy as jnp
import numpy as np

from configs import cvrl_k400_r3d50
from jvrl.train import optimizers


def _one_update(opt_config, params, grads, step_count: int = 1):
  """The parameters after `step_count` updates with constant `grads`, from step 0."""
  optimizer = optimizers.make_optimizer(opt_config, 42_104, 1024)
  state = optimizer.init(params)
  for _ in range(step_count):
    updates, state = optimizer.update(grads, state, params)
    params = jax.tree.map(lambda p, u: p + u, params, updates)
  return params


def test_k400_pretraining_optimizer_is_cvrls_sgd():
  """SGD momentum 0.9 without Nesterov, lr 0.32 at batch 1024, 5 warm-up epochs onto a
  cosine over all 200 epochs of 215,570 videos, weight decay 1e-6 on kernels only
  (cvrl_pretrain_k600_200ep.yaml + video_classification.py + losses.py)."""
  config = cvrl_k400_r3d50.get_config()
  opt = config.optimizer
  assert (opt.name, opt.momentum, opt.nesterov, opt.weight_decay) == ("sgd", 0.9, False, 1e-6)
  assert (opt.learning_rate, opt.lr_batch_scaling, config.train.batch_size) == (0.32, 0, 1024)
  assert cvrl_k400_r3d50.K400_TRAIN_VIDEOS == 215_570
  assert config.train.num_steps == round(200 * 215_570 / 1024) == 42_104
  assert opt.warmup_steps == round(5 * 215_570 / 1024) == 1_053
  assert opt.schedule == "cosine" and opt.decay_from_step_zero
  schedule = optimizers.make_learning_rate_schedule(opt, config.train.num_steps, 1024)
  total, warmup = config.train.num_steps, opt.warmup_steps
  cosine = lambda s: 0.32 * 0.5 * (1 + math.cos(math.pi * s / total))
  for step in (0, 500, 1052, 1053, 21_052, 42_103):
    expected = cosine(warmup) * step / warmup if step < warmup else cosine(step)
    np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-5, atol=1e-9)

  # Weight decay on kernels only, coupled (in the gradient): with zero gradients the
  # first update is -lr(0 -> lr at step 1) * wd * kernel; biases and BN scales stay.
  params = {"conv": {"kernel": jnp.ones((3,))}, "bn": {"scale": jnp.ones((3,)),
                                                        "bias": jnp.ones((3,))}}
  zeros = jax.tree.map(jnp.zeros_like, params)
  after = _one_update(opt, params, zeros, step_count=2)
  lr_1 = float(schedule(1))
  np.testing.assert_allclose(after["conv"]["kernel"], 1 - lr_1 * 1e-6 * (1 + 0.9), rtol=1e-7)
  np.testing.assert_array_equal(after["bn"]["scale"], 1.0)
  np.testing.assert_array_equal(after["bn"]["bias"], 1.0)
  # Plain momentum: a constant gradient g moves by -(lr_1 * (1 + 0.9)) g after two steps
  # (Nesterov would give lr_1 * (1 + 0.9 + 0.81)).
  grads = {"conv": {"kernel": jnp.ones((3,))}, "bn": {"scale": jnp.ones((3,)),
                                                       "bias": jnp.ones((3,))}}
  moved = _one_update(opt, params, grads, step_count=2)
  np.testing.assert_allclose(moved["bn"]["bias"], 1 - lr_1 * 1.9, rtol=1e-6)


def test_lars_is_still_selectable():
  config = cvrl_k400_r3d50.get_config()
  config.optimizer.name = "lars"
  params = {"conv": {"kernel": jnp.full((4,), 2.0)}}
  grads = {"conv": {"kernel": jnp.ones((4,))}}
  lars = _one_update(config.optimizer, params, grads, step_count=2)
  sgd = _one_update(cvrl_k400_r3d50.get_config().optimizer, params, grads, step_count=2)
  # LARS scales the kernel's step by trust * ||w|| / ||g + wd w||: far smaller.
  assert 0 < float(2.0 - lars["conv"]["kernel"][0]) < 0.01 * float(2.0 - sgd["conv"]["kernel"][0])


def test_k400_linear_evaluation_is_cvrls_and_the_cpu_config_keeps_the_fast_probe():
  """cvrl_linear_eval_k600.yaml / video_ssl.py `video_ssl_linear_eval_kinetics400`."""
  from configs import cvrl_synthetic  # pylint: disable=g-import-not-at-top
  from jvrl.data import pipeline  # pylint: disable=g-import-not-at-top
  from jvrl.evaluation import evaluate  # pylint: disable=g-import-not-at-top
  from jvrl.evaluation import linear_probe_cvrl  # pylint: disable=g-import-not-at-top
  config = cvrl_k400_r3d50.get_config()
  evaluate.check_eval_config(config)
  assert linear_probe_cvrl.protocol(config) == "cvrl"
  assert pipeline.eval_clip_shape(config) == (32, 2)  # pretraining: 16 frames
  assert (config.data.clip_length, config.data.crop_size) == (16, 224)
  assert (config.eval.num_clips, config.eval.num_crops) == (10, 3)
  assert (config.eval.resize_short_side, config.eval.crop_size) == (256, 256)
  settings = linear_probe_cvrl.settings_from_config(config)
  assert settings == linear_probe_cvrl.Settings(
      epochs=100.0, warmup_epochs=5.0, batch_size=1024, learning_rate=32.0,
      lr_batch_scaling=0.0, momentum=0.9, weight_decay=0.0, crop_size=224,
      area_range=(0.3, 1.0), aspect_ratio_range=(0.5, 2.0), flip_prob=0.5, log_every=100)
  assert linear_probe_cvrl.protocol(cvrl_synthetic.get_config()) == "fast"
