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

import numpy as np  # noqa: E402
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


def _with_overrides(config, overrides: dict, cache_dir: str):
  """`config` with each dotted-path override applied, caching under `cache_dir`."""
  for path, value in overrides.items():
    *parents, leaf = path.split(".")
    node = config
    for parent in parents:
      node = node[parent]
    node[leaf] = value
  for built_in in ("synthetic", "synthetic_untrimmed"):
    if built_in in config.data:
      config.data[built_in].cache_dir = cache_dir
  return config


def make_tiny_cvrl_config(cache_dir: str):
  """`configs/cvrl_synthetic.py` with TINY_CVRL_OVERRIDES, caching under `cache_dir`."""
  from configs import cvrl_synthetic  # pylint: disable=g-import-not-at-top
  config = cvrl_synthetic.get_config()
  return _with_overrides(config, TINY_CVRL_OVERRIDES, cache_dir)


@pytest.fixture(scope="session")
def synthetic_cache_dir(tmp_path_factory):
  """One cache of tiny synthetic datasets shared by the whole session."""
  return str(tmp_path_factory.mktemp("jvrl_cache"))


@pytest.fixture
def tiny_cvrl_config(synthetic_cache_dir):
  return make_tiny_cvrl_config(synthetic_cache_dir)


# The default VATT config shrunk the same way (same tiny videos as CVRL's).
TINY_VATT_OVERRIDES = {
    **{k: v for k, v in TINY_CVRL_OVERRIDES.items()
       if k.startswith(("data.", "train.", "optimizer.", "eval."))},
    "model.hidden_size": 32, "model.num_layers": 1, "model.mlp_dim": 64,
    "model.pos_buckets": (2, 2, 2),
    "vatt.audio_model.hidden_size": 32, "vatt.audio_model.num_layers": 1,
    "vatt.audio_model.mlp_dim": 64, "vatt.audio_model.pos_buckets": 50,
    "vatt.text_model.hidden_size": 32, "vatt.text_model.num_layers": 1,
    "vatt.text_model.mlp_dim": 64,
    "vatt.va_dim": 32, "vatt.vt_dim": 16, "vatt.text.word_dim": 16,
}


def make_tiny_vatt_config(cache_dir: str):
  """`configs/vatt_synthetic.py` with TINY_VATT_OVERRIDES, caching under `cache_dir`."""
  from configs import vatt_synthetic  # pylint: disable=g-import-not-at-top
  config = vatt_synthetic.get_config()
  return _with_overrides(config, TINY_VATT_OVERRIDES, cache_dir)


@pytest.fixture
def tiny_vatt_config(synthetic_cache_dir):
  return make_tiny_vatt_config(synthetic_cache_dir)


def random_cvrl_batches(config, count: int = 2, seed: int = 0) -> list[dict]:
  """`count` global CVRL batches (two uint8 views) of random pixels for `config`."""
  rng = np.random.default_rng(seed)
  t, s = config.data.clip_length, config.data.crop_size
  shape = (config.train.batch_size, t, s, s, 3)
  return [{"view1": rng.integers(0, 256, shape, np.uint8),
           "view2": rng.integers(0, 256, shape, np.uint8)} for _ in range(count)]


def jitted_train_step(config, batch, mesh=None):
  """(setup, fresh state, jitted train step) of `config` for batches shaped like the host
  `batch`, on `mesh` (default: `config.mesh`)."""
  import jax  # pylint: disable=g-import-not-at-top
  from jvrl.data import device_batches  # pylint: disable=g-import-not-at-top
  from jvrl.train import sharding  # pylint: disable=g-import-not-at-top
  from jvrl.train import trainer  # pylint: disable=g-import-not-at-top
  setup = trainer.Setup(config)
  if mesh is not None:
    setup.mesh = mesh
  spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in batch.items()}
  _, shardings = setup.abstract_state(spec)
  state = setup.fresh_state(spec, shardings)
  step = jax.jit(trainer.make_train_step(setup.objective, setup.optimizer),
                 in_shardings=(shardings, device_batches.batch_sharding(setup.mesh)),
                 out_shardings=(shardings, sharding.replicated(setup.mesh)))
  return setup, state, step


def train_steps(config, batches, num_devices=None):
  """Jitted train steps of `config` (fresh state) on host `batches`, one per batch.

  `num_devices`: run on a data-parallel mesh of the first `num_devices`
  devices instead of `config.mesh` (1 vs 8 comparisons).
  Returns (losses, final state, the lowered step's HLO text).
  """
  import jax  # pylint: disable=g-import-not-at-top
  from jvrl.data import device_batches  # pylint: disable=g-import-not-at-top
  from jvrl.train import sharding  # pylint: disable=g-import-not-at-top
  mesh = (sharding.make_mesh({"data": -1}, jax.devices()[:num_devices])
          if num_devices is not None else None)
  setup, state, step = jitted_train_step(config, batches[0], mesh)
  losses, text = [], None
  for batch in batches:
    global_batch = device_batches.make_global_batch(batch, setup.mesh)
    text = text or step.lower(state, global_batch).as_text()
    state, metrics = step(state, global_batch)
    losses.append(float(metrics["loss"]))
  return losses, state, text


# The TSP comparison shrunk the same way: tiny untrimmed videos, model and steps.
TINY_TSP_OVERRIDES = {
    "data.synthetic_untrimmed.height": 32, "data.synthetic_untrimmed.width": 32,
    "data.synthetic_untrimmed.num_frames_range": (40, 56),
    "data.synthetic_untrimmed.segments_per_video": (1, 2),
    "data.synthetic_untrimmed.segment_frames_range": (12, 20),
    "data.synthetic_untrimmed.background_frames_range": (6, 12),
    "data.synthetic_untrimmed.train_videos": 8, "data.synthetic_untrimmed.eval_train_videos": 8,
    "data.synthetic_untrimmed.eval_test_videos": 4,
    "data.synthetic_untrimmed.train_shards": 2, "data.synthetic_untrimmed.eval_train_shards": 1,
    "data.synthetic_untrimmed.eval_test_shards": 1,
    "data.clip_length": 4, "data.crop_size": 16, "data.shuffle_buffer": 16,
    "model.width_multiplier": 0.0625, "model.conv_impl": "native",
    "tsp.augment.resize_short_side": 16, "tsp.gvf_clip_stride": 8, "tsp.clips_per_segment": 2,
    "tsp.initial.steps": 2, "tsp.initial.batch_size": 8, "tsp.initial.optimizer.warmup_steps": 1,
    "train.batch_size": 8, "train.num_steps": 2, "train.log_every": 1, "train.checkpoint_every": 2,
    "optimizer.warmup_steps": 1,
    "eval.resize_short_side": 16, "eval.crop_size": 16, "eval.batch_size": 16,
    "eval.localization.clip_stride": 8, "eval.localization.probe_steps": 20,
    "eval.localization.head_steps": 10, "eval.localization.evaluation_seeds": 1,
}


def make_tiny_tsp_config(cache_dir: str):
  """`configs/tsp_synthetic.py` with TINY_TSP_OVERRIDES (and the tiny trimmed videos for
  the initial encoder), caching under `cache_dir`."""
  from configs import tsp_synthetic  # pylint: disable=g-import-not-at-top
  config = tsp_synthetic.get_config()
  for path, value in TINY_CVRL_OVERRIDES.items():
    if path.startswith("data.synthetic."):
      config.tsp.initial.synthetic[path.split(".")[-1]] = value
  config.tsp.initial.synthetic.cache_dir = cache_dir
  return _with_overrides(config, TINY_TSP_OVERRIDES, cache_dir)


@pytest.fixture
def tiny_tsp_config(synthetic_cache_dir):
  return make_tiny_tsp_config(synthetic_cache_dir)


def make_video_localization(video_id: str, num_clips: int, num_segments: int):
  """A `localization.VideoLocalization` of `num_clips` 2-second clips a second apart,
  with `num_segments` annotated and detected segments (for report tests)."""
  from jvrl.evaluation import actionness_decoding  # pylint: disable=g-import-not-at-top
  from jvrl.evaluation import localization  # pylint: disable=g-import-not-at-top
  starts = np.arange(num_clips, dtype=np.float64)
  return localization.VideoLocalization(
      video_id=video_id, clip_starts=starts, clip_ends=starts + 2,
      clip_labels=np.full(num_clips, -1, np.int32),
      foreground_probability=np.linspace(0, 1, num_clips).astype(np.float32),
      actionness=np.zeros(num_clips, np.float32),
      class_probabilities=np.full((num_clips, 3), 1 / 3, np.float32),
      detections=actionness_decoding.DecodedSegments(
          np.array([[1.0, 3.0]] * num_segments).reshape(-1, 2), np.zeros(num_segments, np.int32),
          np.full(num_segments, 0.5)),
      segments=np.array([[0.5, 2.5]] * num_segments).reshape(-1, 2),
      segment_labels=np.ones(num_segments, np.int64), duration=float(num_clips + 1))


def counting_video(num_frames: int, height: int = 24, width: int = 20) -> np.ndarray:
  """uint8 [L, H, W, 3] whose frame k is the flat value 2k: a clip's pixels say which
  frames it was read from (`clip[:, 0, 0, 0] // 2`)."""
  values = 2 * np.arange(num_frames, dtype=np.uint8)
  return np.broadcast_to(values[:, None, None, None], (num_frames, height, width, 3)).copy()


def parsed_examples(videos, step: int = 0) -> list[dict]:
  """Parsed-example dicts (the pipeline's contract, as TF tensors) of uint8 videos, each
  at training step `step` (`pipeline.TRAIN_STEP_FIELD`)."""
  from jvrl.data import pipeline  # pylint: disable=g-import-not-at-top
  from jvrl.data.tf_setup import tf  # pylint: disable=g-import-not-at-top
  return [{"frames": tf.constant(v), "num_frames": tf.constant(len(v), tf.int32),
           pipeline.TRAIN_STEP_FIELD: tf.constant(step, tf.int64)} for v in videos]


def without_view_augmentation(config):
  """`config` with CVRL's view augmentation turned into a plain resize of whole frames."""
  config.augment.update(dict(area_range=(1.0, 1.0), aspect_ratio_range=(1.0, 1.0),
                             flip_prob=0.0, color_prob=0.0, grayscale_prob=0.0,
                             blur_prob=(0.0, 0.0), solarize_prob=(0.0, 0.0)))
  return config
