"""PRP objective: the training examples, the model outputs, the loss wiring, and learning."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import prp_synthetic
from jvrl.data import pipeline
from jvrl.data.tf_setup import tf
from jvrl.objectives import build_objective
from jvrl.objectives import prp as prp_objective
from jvrl.train import optimizers

# The tiny synthetic videos of tests/conftest.py (the dataset cache is shared).
TINY_SYNTHETIC = dict(height=32, width=32, num_frames=16, train_videos=32,
                      eval_train_videos=20, eval_test_videos=10)


@pytest.fixture
def tiny_prp_config(synthetic_cache_dir):
  config = prp_synthetic.get_config()
  config.data.synthetic.update(TINY_SYNTHETIC)
  config.data.synthetic.cache_dir = synthetic_cache_dir
  config.data.shuffle_buffer = 16
  config.data.clip_length = 8
  config.data.crop_size = 16
  config.prp.resize_short_side = 16
  config.prp.rates = (1, 2, 4, 8)
  config.model.width_multiplier = 0.0625
  return config


def _examples(frames_per_video):
  """A dataset of parsed examples from a list of uint8 [L, H, W, 3] arrays."""
  return [{"frames": tf.constant(f), "num_frames": tf.constant(len(f), tf.int32)}
          for f in frames_per_video]


def _preprocess(config, example, seed):
  out = prp_objective.make_prp_preprocess(config)(example, tf.constant(seed, tf.int64))
  return {k: np.asarray(v) for k, v in out.items()}


def test_training_batches_have_aligned_input_target_and_mask(tiny_prp_config):
  config = tiny_prp_config
  objective = build_objective(config)
  batch = next(pipeline.make_train_dataset(config, objective.preprocess_train, 8)
               .as_numpy_iterator())
  assert {"clip", "target", "target_valid", "rate", "motion_frames"} <= set(batch)
  assert batch["motion_frames"].shape == (8, 32, 16, 16, 3)  # 4 frames x 8 chunks (rate 8)
  assert batch["clip"].shape == (8, 8, 16, 16, 3) and batch["clip"].dtype == np.uint8
  assert batch["target"].shape == (8, 16, 16, 16, 3) and batch["target"].dtype == np.uint8
  assert batch["target_valid"].shape == (8, 16) and batch["target_valid"].dtype == np.float32
  assert batch["rate"].dtype == np.int32 and np.all((0 <= batch["rate"]) & (batch["rate"] < 4))
  np.testing.assert_array_equal(batch["clip"], batch["target"][:, 0::2])
  for rate, valid in zip(batch["rate"], batch["target_valid"]):
    want = np.tile([1.0, 0.0], 8) if rate == 0 else np.ones(16)
    np.testing.assert_array_equal(valid, want)


def test_frames_follow_the_rate_on_a_video_that_counts_its_frames(tiny_prp_config):
  """Frame k of the video is the flat value 2k: the pixels reveal which frames were taken."""
  config = tiny_prp_config
  video = np.broadcast_to(2 * np.arange(100, dtype=np.uint8)[:, None, None, None],
                          (100, 24, 20, 3)).copy()
  example = _examples([video])[0]
  seen = set()
  for i in range(16):
    out = _preprocess(config, example, [5, i])
    rate = config.prp.rates[out["rate"]]
    seen.add(rate)
    values = out["target"][:, 0, 0, 0].astype(int)
    assert np.all(out["target"] == values[:, None, None, None])  # flat frames stay flat
    index = values // 2
    real = out["target_valid"] > 0
    np.testing.assert_array_equal(np.diff(out["clip"][:, 0, 0, 0].astype(int)) // 2, rate)
    if rate == 1:
      np.testing.assert_array_equal(real, np.tile([True, False], 8))
      np.testing.assert_array_equal(np.diff(index[real]), 1)
      # Missing frames: the mean of their neighbours (the last copies its predecessor).
      want = (values[0:-2:2] + values[2::2]) / 2
      np.testing.assert_allclose(values[1:-1:2], want, atol=1)
      assert values[-1] == values[-2]
    else:
      assert real.all()
      np.testing.assert_array_equal(np.diff(index), rate // 2)
    # The motion map's frames: {0, 2, 5, 7} of each 8-frame chunk of the decoded window
    # (PRP's {0, 5, 10, 15} of 16), also where the target skips frames (rates 4, 8).
    motion = out["motion_frames"][:4 * rate, 0, 0, 0].astype(int) // 2
    want = index[0] + np.concatenate([8 * c + np.array([0, 2, 5, 7]) for c in range(rate)])
    np.testing.assert_array_equal(motion, want)
  assert seen == {1, 2, 4, 8}


@pytest.mark.parametrize("crop", ["center", "random"])
def test_input_and_target_share_one_crop_and_flip(tiny_prp_config, crop):
  """A static texture plus a per-frame brightness offset: every frame minus its mean must
  be the same picture, so all 2T frames were cut (and flipped) identically."""
  config = tiny_prp_config
  config.prp.crop = crop
  config.prp.flip_prob = 0.5
  texture = np.random.default_rng(0).integers(0, 130, (1, 28, 36, 3))
  video = (texture + 2 * np.arange(40)[:, None, None, None]).astype(np.uint8)
  example = _examples([video])[0]
  for i in range(4):
    out = _preprocess(config, example, [9, i])
    frames = np.concatenate([out["target"], out["motion_frames"]]).astype(float)
    centred = frames - frames.mean(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(centred, np.broadcast_to(centred[:1], centred.shape), atol=1.5)


def test_model_outputs_and_loss(tiny_prp_config):
  config = tiny_prp_config
  objective = build_objective(config)
  rng = np.random.default_rng(0)
  batch = {"clip": rng.integers(0, 256, (2, 8, 16, 16, 3), np.uint8),
           "target": rng.integers(0, 256, (2, 16, 16, 16, 3), np.uint8),
           "target_valid": np.stack([np.tile([1.0, 0.0], 8), np.ones(16)]).astype(np.float32),
           "rate": np.array([0, 3], np.int32),
           "motion_frames": rng.integers(0, 256, (2, 32, 16, 16, 3), np.uint8)}
  with jax.threefry_partitionable(False):
    variables = jax.jit(lambda b: objective.model.init(jax.random.key(0), b, train=False))(batch)
  assert set(variables["params"]) == {"encoder", "rate_head", "decoder"}
  outputs, _ = jax.jit(lambda v, b: objective.model.apply(
      v, b, train=True, mutable=["batch_stats"]))(variables, batch)
  assert outputs["rate_logits"].shape == (2, 4)
  assert outputs["reconstruction"].shape == (2, 16, 16, 16, 3)
  loss, metrics = jax.jit(objective.loss_fn)(outputs, batch)
  assert np.isfinite(loss)
  assert set(metrics) == {"reconstruction_loss", "rate_loss", "rate_accuracy"}
  np.testing.assert_allclose(loss, metrics["reconstruction_loss"] + 0.1 * metrics["rate_loss"],
                             rtol=1e-5)


@pytest.mark.parametrize("field, value, message", [
    ("crop", "corner", "crop"), ("mask_mode", "flow", "mask_mode"),
    ("short_videos", "other_video", "short_videos"), ("rates", (1, 3), "divisible"),
    ("rates", (2, 1), "rates")])
def test_bad_prp_config_raises(tiny_prp_config, field, value, message):
  tiny_prp_config.prp[field] = value
  with pytest.raises(ValueError, match=message):
    build_objective(tiny_prp_config)


def _grating_videos(num_videos, size=16, length=64, seed=0):
  """Gratings (period 32 px) along a random axis, moving 1 px per frame either way:
  at playback rate s consecutive input frames are s pixels apart."""
  rng = np.random.default_rng(seed)
  videos = []
  for _ in range(num_videos):
    axis, sign = rng.integers(2), rng.choice([-1, 1])
    coords = np.arange(length)[:, None, None] * sign + np.arange(size)[None, :, None]
    wave = 127.5 + 100 * np.sin(2 * np.pi * coords / 32 + rng.uniform(0, 2 * np.pi, 3))
    frames = np.repeat(wave[:, :, None, :], size, axis=2)  # [L, H, W, 3], varies along H
    videos.append((frames.transpose(0, 2, 1, 3) if axis else frames).astype(np.uint8))
  return np.stack(videos)


def test_rate_classifier_learns_on_a_tiny_run(tiny_prp_config):
  """60 AdamW steps on moving gratings, PRP's loss weights: held-out rate accuracy well
  above the 0.25 of chance (4 rates)."""
  config = tiny_prp_config
  objective = build_objective(config)
  videos = _grating_videos(64)
  examples = tf.data.Dataset.from_tensor_slices(
      {"frames": videos, "num_frames": np.full(len(videos), videos.shape[1], np.int32)})
  batches = examples.repeat().enumerate().map(
      lambda i, e: objective.preprocess_train(e, tf.stack([tf.constant(0, tf.int64), i])))
  batches = batches.batch(16).as_numpy_iterator()
  optimizer = optimizers.make_optimizer(
      dict(name="adamw", learning_rate=1e-2, schedule="constant"), 60, 16)
  batch = next(batches)
  with jax.threefry_partitionable(False):
    variables = jax.jit(lambda b: objective.model.init(jax.random.key(0), b, train=False))(batch)
  params = variables.pop("params")
  state = (params, variables, optimizer.init(params))

  @jax.jit
  def train_step(state, batch):
    params, model_state, opt_state = state

    def loss_fn(p):
      outputs, new_model_state = objective.model.apply(
          {"params": p, **model_state}, batch, train=True, mutable=list(model_state))
      return objective.loss_fn(outputs, batch)[0], new_model_state

    (_, new_model_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), dict(new_model_state), opt_state

  for _ in range(60):
    state = train_step(state, batch)
    batch = next(batches)
  predict = jax.jit(lambda s, b: jnp.argmax(objective.model.apply(
      {"params": s[0], **s[1]}, b, train=False)["rate_logits"], axis=-1))
  correct = []
  for _ in range(4):  # 64 new examples (new clips and rates), running BN statistics
    batch = next(batches)
    correct.extend(np.asarray(predict(state, batch)) == batch["rate"])
  print(f"held-out rate accuracy {np.mean(correct):.3f}")
  assert np.mean(correct) > 0.5
