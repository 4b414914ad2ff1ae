"""Tests for jvrl.evaluation.localization: clip labels and the whole evaluation on synthetic
features (separable, pure noise), determinism, videos without clips, per-video outputs."""
import dataclasses

import numpy as np
import pytest

from jvrl.evaluation import localization

NUM_CLASSES = 3
DIM = 16
# Small and shared by every test (one set of compilations).
FAST = dict(probe_steps=100, head_steps=150, head_batch_size=16, head_width=32)
EXPECTED_KEYS = ["fgbg_auc", "fgbg_balanced_accuracy", "fg_action_top1",
                 "localization_map@0.3", "localization_map@0.4", "localization_map@0.5",
                 "localization_map@0.6", "localization_map@0.7", "localization_average_map"]


def _synthetic_videos(seed, num_videos, separable=True, prefix="v"):
  """Videos of 16-24 one-second clips with 1-2 action segments on whole seconds.

  Separable: a clip's feature is its class's mean (background has its own) plus noise.
  Otherwise every feature is pure noise.
  """
  rng = np.random.default_rng(seed)
  means = np.random.default_rng(100).normal(size=(NUM_CLASSES + 1, DIM)) * 2.0
  videos = []
  for index in range(num_videos):
    num_clips = int(rng.integers(16, 25))
    starts = np.arange(num_clips, dtype=np.float64)
    first_start = float(rng.integers(1, 5))
    first_end = first_start + float(rng.integers(3, 7))
    segments = [(first_start, first_end)]
    if rng.random() < 0.5:
      second_start = first_end + float(rng.integers(2, 4))
      segments.append((second_start, min(second_start + float(rng.integers(3, 6)), num_clips)))
    segments = np.array(segments)
    labels = rng.integers(0, NUM_CLASSES, len(segments))
    clip_classes = localization.clip_labels(starts, starts + 1.0, segments, labels)
    noise = rng.normal(size=(num_clips, DIM))
    features = means[clip_classes + 1] + noise if separable else noise
    videos.append(localization.LocalizationVideo(
        video_id=f"{prefix}{index}", features=features.astype(np.float32), clip_starts=starts,
        clip_ends=starts + 1.0, segments=segments, segment_labels=labels,
        duration=float(num_clips)))
  return videos


def _empty_video(video_id, with_ground_truth=True):
  return localization.LocalizationVideo(
      video_id=video_id, features=np.zeros((0, DIM), np.float32), clip_starts=np.zeros(0),
      clip_ends=np.zeros(0), segments=np.array([[1.0, 4.0]]) if with_ground_truth else np.zeros(
          (0, 2)), segment_labels=np.array([0]) if with_ground_truth else np.zeros(0, int),
      duration=10.0)


@pytest.fixture(scope="module")
def separable_result():
  train = _synthetic_videos(0, 40, prefix="train") + [_empty_video("train_empty")]
  test = _synthetic_videos(1, 16, prefix="test")
  return train, test, localization.localize_and_evaluate(train, test, NUM_CLASSES, **FAST)


def test_clip_labels():
  starts = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
  ends = starts + 2.0  # centres 1, 2, 3, 4, 5, 6
  segments = np.array([[0.5, 2.0], [2.0, 4.2], [3.9, 9.0]])
  labels = np.array([2, 0, 1])
  # Centre 2 is inside segments 0 and 1: the clip [1, 3] overlaps them 1 and 1 -> the earlier.
  # Centre 4 is inside segments 1 and 2: [3, 5] overlaps them 1.2 and 1.1 -> segment 1.
  np.testing.assert_array_equal(localization.clip_labels(starts, ends, segments, labels),
                                [2, 2, 0, 0, 1, 1])
  np.testing.assert_array_equal(
      localization.clip_labels(starts, ends, np.array([[10.0, 12.0]]), np.array([1])),
      np.full(6, -1))
  got = localization.clip_labels(starts, ends, np.zeros((0, 2)), np.zeros(0, int))
  np.testing.assert_array_equal(got, np.full(6, -1))
  assert got.dtype == np.int32
  assert localization.clip_labels(np.zeros(0), np.zeros(0), segments, labels).shape == (0,)


def test_separable_features_localize_well(separable_result):
  _, _, result = separable_result
  metrics = result.metrics
  assert list(metrics) == EXPECTED_KEYS
  assert metrics["fgbg_auc"] > 0.95
  assert metrics["fgbg_balanced_accuracy"] > 0.9
  assert metrics["fg_action_top1"] > 0.9
  assert metrics["localization_map@0.5"] > 0.7
  assert metrics["localization_map@0.3"] >= metrics["localization_map@0.7"]
  assert 0.0 < metrics["localization_average_map"] <= 1.0


def test_per_video_outputs(separable_result):
  _, test, result = separable_result
  assert [video.video_id for video in result.videos] == [video.video_id for video in test]
  for video, output in zip(test, result.videos):
    num_clips = len(video.clip_starts)
    assert output.foreground_probability.shape == output.actionness.shape == (num_clips,)
    assert output.class_probabilities.shape == (num_clips, NUM_CLASSES)
    np.testing.assert_array_equal(output.clip_labels, localization.clip_labels(
        video.clip_starts, video.clip_ends, video.segments, video.segment_labels))
    detections = output.detections
    assert detections.segments.shape == (len(detections.scores), 2)
    assert np.all(np.diff(detections.scores) <= 0)


def test_deterministic_with_a_seed(separable_result):
  train, test, result = separable_result
  again = localization.evaluate_localization(train, test, NUM_CLASSES, **FAST)
  assert again == result.metrics


def test_noise_features_score_at_chance():
  train = _synthetic_videos(2, 40, separable=False, prefix="train")
  test = _synthetic_videos(3, 16, separable=False, prefix="test")
  metrics = localization.evaluate_localization(train, test, NUM_CLASSES, **FAST)
  assert abs(metrics["fgbg_auc"] - 0.5) < 0.12
  assert metrics["localization_map@0.5"] < 0.3
  assert metrics["localization_average_map"] < 0.15


def test_videos_without_clips_count_as_missed(separable_result):
  train, test, result = separable_result
  with_empty = test + [_empty_video("test_empty"), _empty_video("test_empty_no_gt", False)]
  extended = localization.localize_and_evaluate(train, with_empty, NUM_CLASSES, **FAST)
  # Clip metrics do not change; the empty video's instance is one more missed ground truth.
  for key in ("fgbg_auc", "fgbg_balanced_accuracy", "fg_action_top1"):
    assert extended.metrics[key] == result.metrics[key]
  assert extended.metrics["localization_map@0.5"] < result.metrics["localization_map@0.5"]
  empty = extended.videos[-2]
  assert empty.actionness.shape == (0,) and empty.detections.scores.shape == (0,)


def test_undefined_metrics_are_nan_and_bad_input_raises():
  train = _synthetic_videos(4, 6, prefix="train")
  only_empty = localization.evaluate_localization(
      train, [_empty_video("e", with_ground_truth=False)], NUM_CLASSES, **FAST)
  assert all(np.isnan(value) for value in only_empty.values())
  with pytest.raises(ValueError, match="no train video has clips"):
    localization.evaluate_localization([_empty_video("e")], train, NUM_CLASSES, **FAST)
  with pytest.raises(ValueError, match="repeated video ids"):
    localization.evaluate_localization(train, train[:1] * 2, NUM_CLASSES, **FAST)
  with pytest.raises(ValueError, match="segment_labels"):
    localization.evaluate_localization(train, train, 1, **FAST)
  backwards = dataclasses.replace(train[0], segments=np.array([[5.0, 2.0]]))
  with pytest.raises(ValueError, match="end >= start"):
    localization.evaluate_localization(train, [backwards], NUM_CLASSES, **FAST)
  unsorted = dataclasses.replace(train[0], clip_starts=train[0].clip_starts[::-1].copy())
  with pytest.raises(ValueError, match="non-decreasing"):
    localization.evaluate_localization([unsorted], train, NUM_CLASSES, **FAST)
  narrow = dataclasses.replace(train[0], features=train[0].features[:, :4])
  with pytest.raises(ValueError, match="dimensions"):
    localization.evaluate_localization(train, [narrow], NUM_CLASSES, **FAST)
