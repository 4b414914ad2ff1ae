"""Supervised objective: labelled clips, the classifier and its loss."""
import jax
import numpy as np
import optax
import pytest

from jvrl.data.tf_setup import tf

from jvrl.data import pipeline
from jvrl.objectives import build_objective
from jvrl.objectives import supervised


@pytest.fixture
def tiny_supervised_config(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.objective = "supervised"
  config.supervised = dict(num_classes=10)
  return config


def test_preprocess_gives_one_clip_and_its_label(tiny_supervised_config):
  config = tiny_supervised_config
  objective = build_objective(config)
  dataset = pipeline.make_train_dataset(config, objective.preprocess_train, 8)
  batch = next(dataset.as_numpy_iterator())
  t, s = config.data.clip_length, config.data.crop_size
  assert set(batch) == {"clip", "label"}
  assert batch["clip"].shape == (8, t, s, s, 3) and batch["clip"].dtype == np.uint8
  assert batch["label"].dtype == np.int32
  assert np.all((batch["label"] >= 0) & (batch["label"] < 10))
  assert len(np.unique(batch["label"])) > 1


def test_crop_augmentation_is_a_random_window_of_the_resized_clip(tiny_supervised_config):
  """'crop' (fine-tuning): resize the short side, one random crop for every frame."""
  config = tiny_supervised_config
  config.supervised.augmentation = "crop"
  config.supervised.resize_short_side = 16  # = crop_size: the window is the whole frame
  objective = build_objective(config)
  batch = next(pipeline.make_train_dataset(config, objective.preprocess_train, 8)
               .as_numpy_iterator())
  t, s = config.data.clip_length, config.data.crop_size
  assert batch["clip"].shape == (8, t, s, s, 3)
  # The 32x32 frames resized to 16x16 are cropped whole and not colour-jittered:
  # each output frame is a resized source frame, at the sampled stride.
  from jvrl.data import sources  # pylint: disable=g-import-not-at-top
  example = next(iter(sources.make_example_dataset(config.data, "train", shuffle_files=False,
                                                   seed=0)))
  out = supervised.make_supervised_preprocess(config)(
      {k: v for k, v in example.items() if not k.startswith("_")},
      tf.constant([0, 5], tf.int64))["clip"].numpy().astype(np.int32)
  source = np.round(tf.image.resize(tf.cast(tf.stack(
      [tf.io.decode_jpeg(f) for f in example["frames"]]), tf.float32), [s, s]).numpy())
  errors = np.abs(out[:, None] - source[None].astype(np.int32)).max(axis=(2, 3, 4))  # [t, N]
  matched = errors.argmin(axis=1)
  assert errors.min(axis=1).max() <= 1
  np.testing.assert_array_equal(np.diff(matched), config.data.frame_stride)
  config.supervised.resize_short_side = s - 1
  with pytest.raises(ValueError, match="resize_short_side"):
    supervised.make_supervised_preprocess(config)
  config.supervised.augmentation = "mixup"
  with pytest.raises(ValueError, match="augmentation"):
    supervised.make_supervised_preprocess(config)


def test_unlabelled_video_is_an_error(tiny_supervised_config):
  preprocess = supervised.make_supervised_preprocess(tiny_supervised_config)
  from jvrl.data.tf_setup import tf  # pylint: disable=g-import-not-at-top
  frames = tf.io.encode_jpeg(tf.zeros((16, 16, 3), tf.uint8))
  example = {"frames": tf.stack([frames] * 8), "num_frames": tf.constant(8),
             "label": tf.constant(-1, tf.int64)}
  with pytest.raises(tf.errors.InvalidArgumentError, match="labelled videos"):
    preprocess(example, tf.constant([0, 0], tf.int64))


def test_classification_loss_matches_reference():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(6, 4)).astype(np.float32)
  labels = np.array([0, 1, 2, 3, 0, 1], np.int32)
  loss, metrics = supervised.classification_loss({"logits": logits}, {"label": labels})
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  np.testing.assert_allclose(loss, -log_probs[np.arange(6), labels].mean(), rtol=1e-5)
  np.testing.assert_allclose(metrics["accuracy"], np.mean(logits.argmax(-1) == labels))


def test_classifier_fits_a_fixed_batch(tiny_supervised_config):
  """A few Adam steps on one batch drive the training loss down (the wiring learns)."""
  objective = build_objective(tiny_supervised_config)
  batch = next(pipeline.make_train_dataset(
      tiny_supervised_config, objective.preprocess_train, 8).as_numpy_iterator())
  variables = objective.model.init(jax.random.key(0), batch, train=False)
  params, batch_stats = variables["params"], variables["batch_stats"]
  assert "classifier" in params
  optimizer = optax.adam(1e-2)
  opt_state = optimizer.init(params)

  @jax.jit
  def step(params, batch_stats, opt_state):
    def loss_fn(p):
      outputs, updates = objective.model.apply(
          {"params": p, "batch_stats": batch_stats}, batch, train=True, mutable=["batch_stats"])
      return objective.loss_fn(outputs, batch)[0], updates["batch_stats"]
    (loss, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), new_stats, opt_state, loss

  losses = []
  for _ in range(15):
    params, batch_stats, opt_state, loss = step(params, batch_stats, opt_state)
    losses.append(float(loss))
  assert losses[-1] < 0.5 * losses[0], losses
