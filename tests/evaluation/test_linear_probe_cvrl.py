"""CVRL's linear evaluation ('cvrl' protocol): training on augmented clips, test averaging."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvrl.data import pipeline
from jvrl.data import records
from jvrl.data.tf_setup import tf
from jvrl.evaluation import evaluate
from jvrl.evaluation import linear_probe_cvrl
from jvrl.train import sharding


class MeanColour(nn.Module):
  """A parameter-free 'encoder': each frame's mean colour, [B, T, 1, 1, 3]."""

  @nn.compact
  def __call__(self, video, train: bool):
    del train
    return jnp.mean(video, axis=(2, 3), keepdims=True)


def _solid_views(colours) -> np.ndarray:
  """uint8 [1, V, 2, 4, 4, 3]: one video whose V views are the given solid colours."""
  return np.stack([np.broadcast_to(np.asarray(c, np.uint8), (2, 4, 4, 3)) for c in colours])[None]


def test_test_views_average_probabilities_not_logits_or_features():
  """CVRL's test (video_classification.py `inference_step`): softmax per view, averaged.
  One confident red view against two mildly green ones: the probabilities vote green,
  averaged logits or averaged features would say red."""
  mesh = sharding.make_mesh({"data": -1})
  fn = linear_probe_cvrl.make_view_probabilities_fn(MeanColour(), mesh)
  kernel = jnp.asarray([[10.0, 0.0], [0.0, 2.0], [0.0, 0.0]])  # red -> class 0, green -> 1
  probe = {"kernel": kernel, "bias": jnp.zeros(2)}
  # Features (mean colours): red view (1, 0, 0), green views (0, 1, 0).
  video = np.repeat(_solid_views([(255, 0, 0), (0, 255, 0), (0, 255, 0)]), 8, axis=0)
  probabilities = np.asarray(fn({"encoder": {}, "probe": probe}, video))
  features = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
  logits = features / np.linalg.norm(features, axis=1, keepdims=True) @ np.asarray(kernel)
  softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
  np.testing.assert_allclose(probabilities, np.broadcast_to(softmax.mean(axis=0), (8, 2)),
                             rtol=1e-5)
  assert np.argmax(probabilities[0]) == 1
  assert np.argmax(logits.mean(axis=0)) == 0
  mean_feature = features.mean(axis=0)
  assert np.argmax(mean_feature / np.linalg.norm(mean_feature) @ np.asarray(kernel)) == 0


def test_schedule_is_epochs_of_the_videos_read():
  settings = linear_probe_cvrl.Settings()  # CVRL's: 100 epochs, 5 warm-up, batch 1024
  assert linear_probe_cvrl.schedule_steps(settings, 215_570) == (21_052, 1_053)
  # K600 as cvrl_linear_eval_k600.yaml: 35744 steps, 1787 warm-up.
  assert linear_probe_cvrl.schedule_steps(settings, 366_016) == (35_744, 1_787)
  tiny = linear_probe_cvrl.Settings(epochs=0.1, warmup_epochs=0.0, batch_size=8)
  assert linear_probe_cvrl.schedule_steps(tiny, 20) == (1, 0)


def test_train_clips_are_fresh_augmented_eval_length_clips(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.eval.clip_length, config.eval.frame_stride = 6, 1
  settings = linear_probe_cvrl.Settings(crop_size=12, flip_prob=0.5)
  preprocess = linear_probe_cvrl.make_train_clip_fn(config, settings)
  example = next(iter(pipeline.sources.make_example_dataset(
      config.data, "eval_train", shuffle_files=False, seed=0)))
  clips = [preprocess(example, tf.constant([0, i], tf.int64)) for i in range(4)]
  for out in clips:
    assert out["clip"].shape == (6, 12, 12, 3) and out["clip"].dtype == tf.uint8
    assert int(out["label"]) == int(example["label"])
  assert len({out["clip"].numpy().tobytes() for out in clips}) == 4  # new crop every draw
  np.testing.assert_array_equal(preprocess(example, tf.constant([0, 1], tf.int64))["clip"],
                                clips[1]["clip"])


@pytest.mark.parametrize("path,value,message", [
    ("protocol", "slow", r"protocol='slow' must be one of \('fast', 'cvrl'\)"),
    ("cvrl.epochs", 0.0, r"cvrl.epochs=0.0 must be a number > 0"),
    ("cvrl.warmup_epochs", 40.0, r"warmup_epochs=40.0 exceeds"),
    ("cvrl.batch_size", 0, r"cvrl.batch_size=0 must be an integer >= 1"),
    ("cvrl.area_range", (0.0, 1.0), r"cvrl.area_range=\(0.0, 1.0\) must be"),
    ("cvrl.momentum", 1.0, r"cvrl.momentum=1.0 must be in \[0, 1\)"),
    ("cvrl.learning_rte", 1.0, r"Unknown config.eval.linear_probe.cvrl field\(s\) \['learning"),
    ("..feature_pooling", "max_122", r"feature_pooling='max_122': use 'avg'"),
])
def test_protocol_and_settings_are_checked_at_start_up(tiny_cvrl_config, path, value, message):
  config = tiny_cvrl_config
  config.eval.linear_probe.protocol = "cvrl"
  evaluate.check_eval_config(config)
  node = config.eval if path.startswith("..") else config.eval.linear_probe
  *parents, leaf = path.lstrip(".").split(".")
  for parent in parents:
    node = node[parent]
  node[leaf] = value
  with pytest.raises(ValueError, match=message):
    evaluate.check_eval_config(config)


def test_eval_clip_shape_defaults_to_the_data_and_is_checked(tiny_cvrl_config):
  config = tiny_cvrl_config
  assert pipeline.eval_clip_shape(config) == (config.data.clip_length, config.data.frame_stride)
  config.eval.clip_length = 0
  with pytest.raises(ValueError, match=r"config.eval.clip_length=0 must be None"):
    evaluate.check_eval_config(config)


def _colour_videos(count: int, seed: int) -> list:
  """Noisy videos of 3 classes: class c has a bright channel c (labels i % 3)."""
  rng = np.random.default_rng(seed)
  examples = []
  for i in range(count):
    frames = rng.integers(0, 90, (8, 24, 32, 3))
    frames[..., i % 3] += 150
    examples.append(records.make_sequence_example(
        jpeg_frames=records.encode_jpeg_frames(frames.astype(np.uint8)), label=i % 3,
        filename=f"v{seed}_{i}.mp4"))
  return examples


def test_cvrl_protocol_learns_a_separable_problem(tiny_cvrl_config, tmp_path):
  """evaluate_encoder with protocol 'cvrl': the streamed linear layer separates the
  three colours, and the test predictions come from the views' averaged probabilities."""
  config = tiny_cvrl_config
  for split, count, seed in (("eval_train", 24, 1), ("eval_test", 12, 2)):
    records.write_sharded_records(_colour_videos(count, seed), str(tmp_path), 1, split)
    config.data[f"{split}_files"] = records.shard_glob(str(tmp_path), split)
  config.data.source = "records"
  config.eval.clip_length, config.eval.frame_stride = 3, 2
  config.eval.num_clips, config.eval.num_crops = 2, 3
  config.eval.linear_probe.protocol = "cvrl"
  config.eval.linear_probe.cvrl = dict(
      epochs=4.0, warmup_epochs=1.0, batch_size=8, learning_rate=32.0, lr_batch_scaling=1024.0,
      crop_size=8, flip_prob=0.5, log_every=4)
  evaluate.check_eval_config(config)
  mesh = sharding.make_mesh({"data": -1})
  metrics, splits, scores = evaluate.evaluate_encoder(
      config, MeanColour(), {}, mesh, return_outputs=True)
  assert splits["eval_test"].features.shape == (12, 3)
  assert metrics["linear_probe_top1"] == 1.0
  np.testing.assert_array_equal(scores.probe_predictions, splits["eval_test"].labels)
