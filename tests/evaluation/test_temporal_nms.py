"""Tests for jvrl.evaluation.temporal_nms: hard NMS (global and per class) and Soft-NMS."""
import math

import numpy as np
import pytest

from jvrl.evaluation import temporal_nms


def _slow_tiou(a, b):
  intersection = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
  union = (a[1] - a[0]) + (b[1] - b[0]) - intersection
  return intersection / union if union > 0 else 0.0


def _slow_nms(segments, scores, threshold, max_segments=None):
  """Textbook loop: visit by (score desc, index asc); keep unless it overlaps a kept one."""
  kept = []
  for i in sorted(range(len(scores)), key=lambda i: (-scores[i], i)):
    if all(_slow_tiou(segments[i], segments[k]) <= threshold for k in kept):
      kept.append(i)
  return kept[:max_segments]


def _slow_soft_nms(segments, scores, sigma, min_score):
  scores = [float(s) for s in scores]
  remaining = [i for i in range(len(scores)) if scores[i] >= min_score]
  kept = []
  while remaining:
    best = max(remaining, key=lambda i: (scores[i], -i))
    kept.append((best, scores[best]))
    remaining.remove(best)
    for i in remaining:
      scores[i] *= math.exp(-_slow_tiou(segments[i], segments[best]) ** 2 / sigma)
    remaining = [i for i in remaining if scores[i] >= min_score]
  return kept


def _random_segments(seed, size=40):
  rng = np.random.default_rng(seed)
  starts = rng.integers(0, 30, size).astype(np.float64)
  segments = np.stack([starts, starts + rng.integers(1, 10, size)], axis=1)
  return segments, rng.integers(0, 6, size) / 5.0, rng.integers(0, 3, size)


def test_nms_hand_example():
  segments = np.array([[0.0, 10.0], [1.0, 10.0], [20.0, 30.0], [5.0, 15.0], [0.0, 5.0]])
  scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
  # [1,10] has tIoU 0.9 with [0,10]: suppressed. [5,15] has 5/15 and [0,5] 0.5: kept at 0.5.
  np.testing.assert_array_equal(temporal_nms.nms(segments, scores, 0.5), [0, 2, 3, 4])
  np.testing.assert_array_equal(temporal_nms.nms(segments, scores, 0.3), [0, 2])
  np.testing.assert_array_equal(temporal_nms.nms(segments, scores, 0.5, max_segments=2), [0, 2])
  assert temporal_nms.nms(np.zeros((0, 2)), np.zeros(0)).shape == (0,)


def test_nms_ties_take_lower_index_first():
  segments = np.array([[0.0, 10.0], [0.0, 10.0]])
  np.testing.assert_array_equal(temporal_nms.nms(segments, np.array([0.5, 0.5])), [0])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7, 1.0])
def test_nms_matches_slow_reference(seed, threshold):
  segments, scores, _ = _random_segments(seed)
  np.testing.assert_array_equal(temporal_nms.nms(segments, scores, threshold),
                                _slow_nms(segments, scores, threshold))
  np.testing.assert_array_equal(temporal_nms.nms(segments, scores, threshold, max_segments=3),
                                _slow_nms(segments, scores, threshold, 3))


@pytest.mark.parametrize("seed", range(4))
def test_nms_per_class_matches_reference(seed):
  segments, scores, labels = _random_segments(seed)
  survivors = [i for label in range(3) for i in np.flatnonzero(labels == label)[
      _slow_nms(segments[labels == label], scores[labels == label], 0.5)]]
  expected = sorted(survivors, key=lambda i: (-scores[i], i))
  got = temporal_nms.nms_per_class(segments, scores, labels, 0.5)
  np.testing.assert_array_equal(got, expected)
  np.testing.assert_array_equal(
      temporal_nms.nms_per_class(segments, scores, labels, 0.5, max_segments=5), expected[:5])


def test_nms_per_class_does_not_suppress_across_classes():
  segments = np.array([[0.0, 10.0], [0.0, 10.0], [0.0, 10.0]])
  got = temporal_nms.nms_per_class(segments, np.array([0.2, 0.9, 0.5]), np.array([1, 0, 1]))
  np.testing.assert_array_equal(got, [1, 2])
  assert temporal_nms.nms_per_class(np.zeros((0, 2)), np.zeros(0), np.zeros(0, int)).shape == (0,)


@pytest.mark.parametrize("seed", range(3))
def test_soft_nms_matches_slow_reference(seed):
  segments, scores, _ = _random_segments(seed, size=25)
  indices, decayed = temporal_nms.soft_nms(segments, scores, sigma=0.5, min_score=0.05)
  expected = _slow_soft_nms(segments, scores, 0.5, 0.05)
  np.testing.assert_array_equal(indices, [i for i, _ in expected])
  np.testing.assert_allclose(decayed, [s for _, s in expected], rtol=1e-12)
  assert np.all(np.diff(decayed) <= 0)


def test_soft_nms_hand_example_and_max_segments():
  segments = np.array([[0.0, 10.0], [0.0, 5.0], [20.0, 30.0]])
  indices, decayed = temporal_nms.soft_nms(segments, np.array([0.9, 0.8, 0.3]), sigma=0.5)
  # [0,5] has tIoU 0.5 with [0,10]: 0.8 * exp(-0.25 / 0.5) = 0.485 > 0.3.
  np.testing.assert_array_equal(indices, [0, 1, 2])
  np.testing.assert_allclose(decayed, [0.9, 0.8 * math.exp(-0.5), 0.3])
  indices, _ = temporal_nms.soft_nms(segments, np.array([0.9, 0.8, 0.3]), max_segments=1)
  np.testing.assert_array_equal(indices, [0])


def test_validates_inputs():
  with pytest.raises(ValueError, match="scores"):
    temporal_nms.nms(np.zeros((3, 2)), np.zeros(2))
  with pytest.raises(ValueError, match="segments"):
    temporal_nms.nms(np.zeros((3, 3)), np.zeros(3))
  with pytest.raises(ValueError, match="max_segments"):
    temporal_nms.nms(np.zeros((3, 2)), np.zeros(3), max_segments=-1)
  with pytest.raises(ValueError, match="labels"):
    temporal_nms.nms_per_class(np.zeros((3, 2)), np.zeros(3), np.zeros(2, int))
  with pytest.raises(ValueError, match="sigma"):
    temporal_nms.soft_nms(np.zeros((3, 2)), np.zeros(3), sigma=0.0)
