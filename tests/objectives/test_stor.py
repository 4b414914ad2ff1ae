"""STOR / CSTP: overlap sampling statistics, labels on the frames and boxes really read
(each clip at its own start), the playback rate, and the loss."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import counting_video, parsed_examples, without_view_augmentation

from configs import stor_synthetic
from jvrl.data.tf_setup import tf
from jvrl.objectives import build_objective
from jvrl.objectives import stor
from jvrl.objectives.stor import sampling

RATES = (1.0, 0.8, 0.6, 0.4, 0.2)


@pytest.fixture
def tiny_stor_config(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.objective = "stor"
  config.stor = stor_synthetic.get_config().stor
  return config


def _many(fn, count=2000):
  return next(tf.data.Dataset.range(count).map(
      lambda i: fn(tf.stack([tf.constant(11, tf.int64), i]))).batch(count).as_numpy_iterator())


@pytest.mark.parametrize("num_frames, feasible", [(32, 5), (20, 3), (10, 1)])
def test_temporal_pairs_have_uniform_feasible_classes_and_their_offsets(num_frames, feasible):
  reach = 7 * 2  # T=8, s=2
  out = _many(lambda seed: sampling.sample_temporal_pair(tf.constant(num_frames), 8, 2, RATES,
                                                         seed))
  offsets = np.array([int((1 - r) * reach + 1e-9) for r in RATES])  # 0, 2, 5, 8, 11
  labels, starts = out["label"], out["starts"]
  np.testing.assert_array_equal(np.bincount(labels, minlength=5)[feasible:], 0)
  counts = np.bincount(labels, minlength=5)[:feasible]
  assert np.all(np.abs(counts - 2000 / feasible) < 5 * np.sqrt(2000 / feasible))
  positions = max(num_frames - reach, 1)
  np.testing.assert_array_equal(np.abs(starts[:, 1] - starts[:, 0]),
                                np.minimum(offsets[labels], positions - 1))
  assert starts.min() >= 0 and starts.max() <= positions - 1  # both clips inside (if any fits)
  moved = starts[:, 0] != starts[:, 1]
  if moved.any():
    assert np.mean(starts[moved, 1] > starts[moved, 0]) == pytest.approx(0.5, abs=0.06)


def test_boxes_have_one_size_stay_inside_and_share_the_labelled_area():
  out = _many(lambda seed: sampling.sample_overlapping_boxes(seed, 64, 48, RATES), count=1000)
  boxes, labels = out["boxes"], out["label"]
  np.testing.assert_array_equal(boxes[:, 0, 2:], boxes[:, 1, 2:])
  assert boxes[..., :2].min() >= 0
  assert np.all(boxes[..., 0] + boxes[..., 2] <= 64) and np.all(boxes[..., 1] + boxes[..., 3] <= 48)
  counts = np.bincount(labels, minlength=5)
  assert np.all(np.abs(counts - 200) < 5 * np.sqrt(200))
  # The area the two boxes really share, over a box's area, is the labelled rate.
  (y1, x1, h, w), (y2, x2) = boxes[:, 0].T, boxes[:, 1, :2].T
  shared = (np.maximum(0, np.minimum(y1, y2) + h - np.maximum(y1, y2))
            * np.maximum(0, np.minimum(x1, x2) + w - np.maximum(x1, x2)))
  np.testing.assert_allclose(shared / (h * w), out["overlap"], rtol=1e-6)
  error = np.abs(out["overlap"] - np.array(RATES)[labels])
  assert np.all(error <= 1.0 / np.minimum(h, w) + 0.02)


def test_each_clip_is_read_at_its_own_start_with_the_labelled_overlap(tiny_stor_config):
  """CSTP's loaders read clip 2 at clip 1's start frame; here the frames of each view
  (read off a counting video) are its own clip's, `offset` apart as the label says."""
  config = without_view_augmentation(tiny_stor_config)
  preprocess = stor.make_stor_preprocess(config)
  example = parsed_examples([counting_video(32, 40, 40)])[0]
  reach = (config.data.clip_length - 1) * config.data.frame_stride
  seen = set()
  for seed in range(30):
    out = preprocess(example, tf.constant([1, seed], tf.int64))
    first, second = (np.asarray(out[k])[:, 0, 0, 0].astype(int) // 2 for k in ("view1", "view2"))
    np.testing.assert_array_equal(np.diff(first), config.data.frame_stride)
    np.testing.assert_array_equal(np.diff(second), config.data.frame_stride)
    label = int(out["temporal_overlap"])
    assert abs(int(second[0]) - int(first[0])) == int((1 - RATES[label]) * reach + 1e-9)
    seen.add(label)
    assert 0 <= int(out["spatial_overlap"]) < 5
  assert len(seen) >= 4


def test_playback_rate_sets_both_clips_stride(tiny_stor_config):
  config = without_view_augmentation(tiny_stor_config)
  config.stor.playback_rates = (1, 2)
  preprocess = stor.make_stor_preprocess(config)
  example = parsed_examples([counting_video(32, 40, 40)])[0]
  rates = []
  for seed in range(16):
    out = preprocess(example, tf.constant([2, seed], tf.int64))
    rate = (1, 2)[int(out["playback_rate"])]
    rates.append(rate)
    for key in ("view1", "view2"):
      frames = np.asarray(out[key])[:, 0, 0, 0].astype(int) // 2
      np.testing.assert_array_equal(np.diff(frames), config.data.frame_stride * rate)
  assert set(rates) == {1, 2}


def test_model_outputs_and_weighted_loss(tiny_stor_config):
  config = tiny_stor_config
  config.stor.playback_rates = (1, 2)
  config.stor.spatial_weight = 0.5
  objective = build_objective(config)
  shape = (4, config.data.clip_length, config.data.crop_size, config.data.crop_size, 3)
  batch = {"view1": jax.ShapeDtypeStruct(shape, jnp.uint8),
           "view2": jax.ShapeDtypeStruct(shape, jnp.uint8)}
  variables = jax.eval_shape(lambda b: objective.model.init(jax.random.key(0), b, train=False),
                             batch)
  assert set(variables["params"]) == {"encoder", "projection", "temporal_head", "spatial_head",
                                      "playback_head"}
  outputs = jax.eval_shape(lambda v, b: objective.model.apply(
      v, b, train=True, mutable=["batch_stats"])[0], variables, batch)
  assert outputs["temporal_logits"].shape == (4, 5) and outputs["playback_logits_2"].shape == (4, 2)
  rng = np.random.default_rng(0)
  outputs = {k: jnp.asarray(rng.normal(size=v.shape), jnp.float32) for k, v in outputs.items()}
  labels = {"temporal_overlap": np.array([0, 1, 2, 3], np.int32),
            "spatial_overlap": np.array([4, 3, 2, 1], np.int32),
            "playback_rate": np.array([0, 1, 1, 0], np.int32)}
  loss, metrics = objective.loss_fn(outputs, labels)
  want = (metrics["contrastive_loss"] + metrics["temporal_loss"] + 0.5 * metrics["spatial_loss"]
          + metrics["playback_1_loss"] + metrics["playback_2_loss"])
  np.testing.assert_allclose(loss, want, rtol=1e-6)
  logits = np.asarray(outputs["spatial_logits"], np.float64)
  log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
  np.testing.assert_allclose(metrics["spatial_loss"],
                             -log_probs[np.arange(4), labels["spatial_overlap"]].mean(), rtol=1e-5)


@pytest.mark.parametrize("field, value, message", [
    ("temporal_overlaps", (1.0,), "temporal_overlaps"), ("playback_rates", (2, 4), "playback"),
    ("spatial_weight", -1.0, "spatial_weight")])
def test_bad_stor_config_raises(tiny_stor_config, field, value, message):
  config = tiny_stor_config
  config.stor = dict(config.stor.to_dict(), **{field: value})
  with pytest.raises(ValueError, match=message):
    stor.check_config(config)
