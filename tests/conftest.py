"""Test-session set-up shared by the whole suite.

Eight simulated CPU devices let sharding tests run on any machine; the
persistent compilation cache keeps repeated 3-D conv compiles cheap across the
suite's subprocesses (the end-to-end test runs `python -m jvrl.main`).
"""
import os
import pathlib

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
  os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    str(pathlib.Path(__file__).resolve().parent.parent / ".jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import pytest  # noqa: E402


def make_tiny_cvrl_config(cache_dir: str):
  """The default CVRL config shrunk to seconds: tiny videos, model and steps."""
  from configs import cvrl_synthetic  # pylint: disable=g-import-not-at-top
  config = cvrl_synthetic.get_config()
  config.data.synthetic.update(dict(
      height=32, width=32, num_frames=16, train_videos=32, eval_train_videos=20,
      eval_test_videos=10, cache_dir=cache_dir))
  config.data.clip_length = 4
  config.data.crop_size = 16
  config.data.shuffle_buffer = 16
  config.model.width_multiplier = 0.0625
  config.cvrl.projection_hidden_dim = 32
  config.cvrl.projection_dim = 16
  config.train.update(dict(batch_size=8, num_steps=4, log_every=2, checkpoint_every=2,
                           keep_checkpoints=3))
  config.optimizer.warmup_steps = 1
  config.eval.update(dict(resize_short_side=16, crop_size=16, batch_size=8))
  config.eval.linear_probe.steps = 50
  config.eval.knn.k = 5
  return config


@pytest.fixture(scope="session")
def synthetic_cache_dir(tmp_path_factory):
  """One cache of tiny synthetic datasets shared by the whole session."""
  return str(tmp_path_factory.mktemp("jvrl_cache"))


@pytest.fixture
def tiny_cvrl_config(synthetic_cache_dir):
  return make_tiny_cvrl_config(synthetic_cache_dir)
