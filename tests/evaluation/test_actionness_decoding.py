"""Tests for jvrl.evaluation.actionness_decoding: runs, candidate scoring, NMS, top-K."""
import numpy as np
import pytest

from jvrl.evaluation import actionness_decoding


def _unit_clips(num_clips):
  """Clip i covers [i, i + 1] seconds."""
  starts = np.arange(num_clips, dtype=np.float64)
  return starts, starts + 1.0


def test_actionness_runs():
  first, last = actionness_decoding.actionness_runs(
      np.array([0.9, 0.2, 0.6, 0.7, 0.5, 0.8]), 0.5)
  np.testing.assert_array_equal(first, [0, 2, 5])
  np.testing.assert_array_equal(last, [0, 3, 5])  # 0.5 itself is not above 0.5
  first, last = actionness_decoding.actionness_runs(np.zeros(0), 0.5)
  assert first.shape == last.shape == (0,)


def test_hand_made_sequence():
  """Two actions: clips 1-2 (class 1) and 4-5 (class 0), with background around them.

  Thresholds (0.3, 0.5, 0.8): clips 1-2 form a run at every threshold (one candidate), clips
  4-5 at 0.3 and 0.5 only. Scores: mean actionness x mean class probability:
    [1, 3]: 0.9 x (0.8 + 0.6) / 2 = 0.63, class 1;
    [4, 6]: (0.6 + 0.7) / 2 x 0.7 = 0.455, class 0.
  """
  actionness = np.array([0.1, 0.9, 0.9, 0.2, 0.6, 0.7, 0.1])
  probabilities = np.array([[0.5, 0.5], [0.2, 0.8], [0.4, 0.6], [0.5, 0.5],
                            [0.7, 0.3], [0.7, 0.3], [0.5, 0.5]])
  decoded = actionness_decoding.decode_segments(
      actionness, probabilities, *_unit_clips(7), thresholds=(0.3, 0.5, 0.8))
  np.testing.assert_allclose(decoded.segments, [[1.0, 3.0], [4.0, 6.0]])
  np.testing.assert_array_equal(decoded.labels, [1, 0])
  np.testing.assert_allclose(decoded.scores, [0.63, 0.455])
  assert decoded.labels.dtype == np.int32


def test_nested_runs_are_candidates_and_nms_removes_overlaps():
  # At 0.3 one run, seconds [0, 4]; at 0.5 two, [1, 2] and [3, 4]. Both have tIoU 1/4 with
  # [0, 4], so all three survive NMS at 0.5; NMS at 0.2 drops [0, 4] (score 2.3 / 4).
  actionness = np.array([0.4, 0.6, 0.4, 0.9])
  probabilities = np.tile([[1.0, 0.0]], (4, 1))
  decoded = actionness_decoding.decode_segments(
      actionness, probabilities, *_unit_clips(4), thresholds=(0.3, 0.5))
  np.testing.assert_allclose(decoded.segments, [[3.0, 4.0], [1.0, 2.0], [0.0, 4.0]])
  np.testing.assert_allclose(decoded.scores, [0.9, 0.6, 0.575])
  decoded = actionness_decoding.decode_segments(
      actionness, probabilities, *_unit_clips(4), thresholds=(0.3, 0.5), nms_tiou_threshold=0.2)
  np.testing.assert_allclose(decoded.segments, [[3.0, 4.0], [1.0, 2.0]])
  decoded = actionness_decoding.decode_segments(
      actionness, probabilities, *_unit_clips(4), thresholds=(0.3, 0.5), max_segments=1)
  np.testing.assert_allclose(decoded.segments, [[3.0, 4.0]])


def test_overlapping_clips_give_segments_from_first_start_to_last_end():
  starts = np.array([0.0, 0.5, 1.0, 1.5])
  decoded = actionness_decoding.decode_segments(
      np.array([0.1, 0.9, 0.9, 0.1]), np.full((4, 3), 1 / 3), starts, starts + 1.0,
      thresholds=(0.5,))
  np.testing.assert_allclose(decoded.segments, [[0.5, 2.0]])
  assert decoded.labels[0] == 0  # equal class means: the lowest class
  assert decoded.scores[0] == pytest.approx(0.3)


def test_nothing_above_threshold_and_zero_clips_give_empty_output():
  for num_clips in (0, 5):
    decoded = actionness_decoding.decode_segments(
        np.zeros(num_clips), np.full((num_clips, 2), 0.5), *_unit_clips(num_clips))
    assert decoded.segments.shape == (0, 2)
    assert decoded.labels.shape == decoded.scores.shape == (0,)


def test_validates_shapes():
  with pytest.raises(ValueError, match="class_probabilities"):
    actionness_decoding.decode_segments(np.zeros(3), np.zeros((2, 2)), *_unit_clips(3))
  with pytest.raises(ValueError, match="clip_starts"):
    actionness_decoding.decode_segments(np.zeros(3), np.zeros((3, 2)), *_unit_clips(2))
