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


# The default CVRL config shrunk to seconds: tiny videos, model and steps.
# Shared by the in-process tests (applied to a ConfigDict) and the end-to-end
# test (passed as --config.* flags).
TINY_CVRL_OVERRIDES = {
    "data.synthetic.height": 32, "data.synthetic.width": 32,
    "data.synthetic.num_frames": 16, "data.synthetic.train_videos": 32,
    "data.synthetic.eval_train_videos": 20, "data.synthetic.eval_test_videos": 10,
    "data.clip_length": 4, "data.crop_size": 16, "data.shuffle_buffer": 16,
    "model.width_multiplier": 0.0625,
    "cvrl.projection_hidden_dim": 32, "cvrl.projection_dim": 16,
    "train.batch_size": 8, "train.num_steps": 4, "train.log_every": 2,
    "train.checkpoint_every": 2, "train.keep_checkpoints": 3,
    "optimizer.warmup_steps": 1,
    "eval.resize_short_side": 16, "eval.crop_size": 16, "eval.batch_size": 8,
    "eval.linear_probe.steps": 50, "eval.knn.k": 5,
}


def make_tiny_cvrl_config(cache_dir: str):
  """`configs/cvrl_synthetic.py` with TINY_CVRL_OVERRIDES, caching under `cache_dir`."""
  from configs import cvrl_synthetic  # pylint: disable=g-import-not-at-top
  config = cvrl_synthetic.get_config()
  for path, value in TINY_CVRL_OVERRIDES.items():
    *parents, leaf = path.split(".")
    node = config
    for parent in parents:
      node = node[parent]
    node[leaf] = value
  config.data.synthetic.cache_dir = cache_dir
  return config


@pytest.fixture(scope="session")
def synthetic_cache_dir(tmp_path_factory):
  """One cache of tiny synthetic datasets shared by the whole session."""
  return str(tmp_path_factory.mktemp("jvrl_cache"))


@pytest.fixture
def tiny_cvrl_config(synthetic_cache_dir):
  return make_tiny_cvrl_config(synthetic_cache_dir)
