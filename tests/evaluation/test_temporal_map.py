"""Tests for jvrl.evaluation.temporal_map: tIoU, AP matching, mAP protocols."""
import numpy as np
import pytest

from jvrl.evaluation import temporal_map


def _slow_tiou(a, b):
  """tIoU of two (start, end) pairs with plain Python floats."""
  intersection = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
  union = (a[1] - a[0]) + (b[1] - b[0]) - intersection
  return intersection / union if union > 0 else 0.0


def _slow_interpolated_prec_rec(precision, recall):
  """The official `interpolated_prec_rec`, written out with loops."""
  mprec = [0.0] + list(precision) + [0.0]
  mrec = [0.0] + list(recall) + [1.0]
  for i in range(len(mprec) - 2, -1, -1):
    mprec[i] = max(mprec[i], mprec[i + 1])
  return sum((mrec[i] - mrec[i - 1]) * mprec[i]
             for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1])


def _slow_average_precision(predictions, ground_truth, label, threshold):
  """One class at one threshold, prediction by prediction as the official evaluator."""
  truth = [(i, g) for i, g in enumerate(ground_truth) if g[3] == label]
  mine = sorted((p for p in predictions if p[3] == label), key=lambda p: -p[4])  # stable
  locked = set()
  flags = []
  for prediction in mine:
    same_video = [(i, _slow_tiou(prediction[1:3], g[1:3])) for i, g in truth
                  if g[0] == prediction[0]]
    hit = False
    for i, tiou in sorted(same_video, key=lambda item: (-item[1], item[0])):
      if tiou < threshold:
        break
      if i in locked:
        continue
      locked.add(i)
      hit = True
      break
    flags.append(hit)
  hits = np.cumsum(flags)
  precision = [h / (k + 1) for k, h in enumerate(hits)]
  recall = [h / len(truth) for h in hits]
  return _slow_interpolated_prec_rec(precision, recall)


def _slow_map(predictions, ground_truth, thresholds):
  labels = sorted({g[3] for g in ground_truth})
  return [np.mean([_slow_average_precision(predictions, ground_truth, c, t) for c in labels])
          for t in thresholds]


def test_temporal_iou_values_and_shapes():
  segments = np.array([[0.0, 10.0], [5.0, 15.0], [20.0, 30.0], [3.0, 3.0]])
  np.testing.assert_allclose(temporal_map.temporal_iou(segments, [0.0, 10.0]),
                             [1.0, 5 / 15, 0.0, 0.0])
  matrix = temporal_map.temporal_iou(segments, segments[:2])
  assert matrix.shape == (4, 2)
  np.testing.assert_allclose(matrix[:, 1], [5 / 15, 1.0, 0.0, 0.0])
  # Two equal empty segments: zero union gives 0, not NaN.
  assert temporal_map.temporal_iou(np.array([[3.0, 3.0]]), [3.0, 3.0])[0] == 0.0
  # Symmetric.
  np.testing.assert_allclose(matrix[:2], matrix[:2].T)


def test_interpolated_average_precision_matches_official_loop():
  rng = np.random.default_rng(0)
  for size in (0, 1, 5, 30):
    flags = rng.random(size) < 0.5
    hits = np.cumsum(flags)
    precision = hits / np.arange(1, size + 1)
    recall = hits / max(hits[-1] if size else 1, 1) * 0.8
    assert temporal_map.interpolated_average_precision(precision, recall) == pytest.approx(
        _slow_interpolated_prec_rec(precision, recall), abs=1e-12)


def test_worked_example():
  """One class, three ground truths (video a: [0,10], [20,30]; video b: [5,15]).

  By descending score:
    p1 a [0,10]  0.9  tIoU 1 with a[0,10]                          -> TP
    p2 a [1,10]  0.8  a[0,10] already matched (tIoU 0.9), a[20,30] 0 -> FP (duplicate)
    p3 b [5,12]  0.7  tIoU 7/10 = 0.7 with b[5,15]                  -> TP iff t <= 0.7
    p4 a [22,40] 0.6  tIoU 8/20 = 0.4 with a[20,30]                 -> TP iff t <= 0.4
  t = 0.3: TP FP TP TP; precision 1, 1/2, 2/3, 3/4; recall 1/3, 1/3, 2/3, 1;
    envelope 1, 3/4, 3/4, 3/4 -> AP = 1/3 * 1 + 1/3 * 3/4 + 1/3 * 3/4 = 5/6.
  t = 0.5 and 0.7 (a tIoU equal to the threshold matches): TP FP TP FP;
    precision 1, 1/2, 2/3, 1/2; recall 1/3, 1/3, 2/3, 2/3; envelope 1, 2/3, 2/3, 1/2
    -> AP = 1/3 * 1 + 1/3 * 2/3 = 5/9.
  t = 0.8: TP FP FP FP -> AP = 1/3 * 1 = 1/3.
  """
  ground_truth = [("a", 0.0, 10.0, 0), ("a", 20.0, 30.0, 0), ("b", 5.0, 15.0, 0)]
  predictions = [("a", 22.0, 40.0, 0, 0.6), ("b", 5.0, 12.0, 0, 0.7),
                 ("a", 0.0, 10.0, 0, 0.9), ("a", 1.0, 10.0, 0, 0.8)]
  result = temporal_map.mean_average_precision(predictions, ground_truth, (0.3, 0.5, 0.7, 0.8))
  assert list(result) == [0.3, 0.5, 0.7, 0.8]
  np.testing.assert_allclose(list(result.values()), [5 / 6, 5 / 9, 5 / 9, 1 / 3], atol=1e-12)


def test_perfect_predictions_give_map_one():
  ground_truth = [("v1", 0.0, 4.0, 0), ("v1", 6.0, 9.0, 1), ("v2", 1.0, 2.5, 1),
                  ("v3", 3.0, 8.0, 2)]
  predictions = [g + (0.5,) for g in ground_truth]
  result = temporal_map.mean_average_precision(
      predictions, ground_truth, temporal_map.ACTIVITYNET_TIOU_THRESHOLDS)
  assert all(value == 1.0 for value in result.values())
  assert temporal_map.average_map(predictions, ground_truth) == 1.0


def test_duplicate_of_matched_ground_truth_is_false_positive():
  # TP, FP (duplicate), TP: precision 1, 1/2, 2/3; recall 1/2, 1/2, 1 -> AP = 1/2 + 1/2 * 2/3.
  ground_truth = [("v", 0.0, 10.0, 0), ("v", 20.0, 30.0, 0)]
  predictions = [("v", 0.0, 10.0, 0, 0.9), ("v", 0.0, 10.0, 0, 0.8), ("v", 20.0, 30.0, 0, 0.7)]
  result = temporal_map.mean_average_precision(predictions, ground_truth, (0.5,))
  assert result[0.5] == pytest.approx(5 / 6)


def test_highest_tiou_ground_truth_is_matched_first():
  # p1 [2,12] overlaps g1 [0,10] (8/12) and g2 [2,12] (1): it takes g2, so p2 [0,9] finds
  # g1 (0.9) free. Taking g1 first would leave p2 only g2 (7/12 < 0.6): a false positive.
  ground_truth = [("v", 0.0, 10.0, 0), ("v", 2.0, 12.0, 0)]
  predictions = [("v", 2.0, 12.0, 0, 0.9), ("v", 0.0, 9.0, 0, 0.8)]
  assert temporal_map.mean_average_precision(predictions, ground_truth, (0.6,))[0.6] == 1.0


def test_wrong_class_is_false_positive_and_missed_class_scores_zero():
  # Class 0: FP (right place, wrong class; higher score) then TP -> AP 1/2. Class 1: no
  # predictions -> AP 0. mAP = 1/4.
  ground_truth = [("v", 0.0, 10.0, 0), ("v", 20.0, 30.0, 1)]
  predictions = [("v", 20.0, 30.0, 0, 0.95), ("v", 0.0, 10.0, 0, 0.9)]
  per_class = temporal_map.average_precision_per_class(predictions, ground_truth, (0.5,))
  assert per_class[0][0] == pytest.approx(0.5) and per_class[1][0] == 0.0
  assert temporal_map.mean_average_precision(predictions, ground_truth, (0.5,))[0.5] == 0.25


def test_prediction_in_video_without_ground_truth_is_false_positive():
  ground_truth = [("v", 0.0, 10.0, 0)]
  predictions = [("w", 0.0, 10.0, 0, 0.9), ("v", 0.0, 10.0, 0, 0.8)]
  assert temporal_map.mean_average_precision(predictions, ground_truth, (0.5,))[0.5] == 0.5


def test_score_ties_keep_input_order():
  # Equal scores: the prediction listed first is ranked first.
  ground_truth = [("v", 0.0, 10.0, 0)]
  miss, hit = ("v", 50.0, 60.0, 0, 0.5), ("v", 0.0, 10.0, 0, 0.5)
  assert temporal_map.mean_average_precision([miss, hit], ground_truth, (0.5,))[0.5] == 0.5
  assert temporal_map.mean_average_precision([hit, miss], ground_truth, (0.5,))[0.5] == 1.0


def test_empty_predictions_give_zero():
  ground_truth = [("v", 0.0, 10.0, 0), ("w", 1.0, 2.0, 3)]
  result = temporal_map.mean_average_precision([], ground_truth)
  assert list(result) == list(temporal_map.THUMOS14_TIOU_THRESHOLDS)
  assert all(value == 0.0 for value in result.values())


def test_class_without_ground_truth_is_excluded():
  ground_truth = [("v", 0.0, 10.0, 0)]
  predictions = [("v", 0.0, 10.0, 0, 0.9), ("v", 0.0, 10.0, 7, 0.99), ("w", 3.0, 4.0, 7, 0.9)]
  per_class = temporal_map.average_precision_per_class(predictions, ground_truth)
  assert list(per_class) == [0]
  assert temporal_map.mean_average_precision(predictions, ground_truth)[0.5] == 1.0


def test_protocol_constants():
  assert temporal_map.THUMOS14_TIOU_THRESHOLDS == (0.3, 0.4, 0.5, 0.6, 0.7)
  np.testing.assert_array_equal(temporal_map.ACTIVITYNET_TIOU_THRESHOLDS,
                                np.linspace(0.5, 0.95, 10))


@pytest.mark.parametrize("seed", range(6))
def test_matches_slow_reference_on_random_problems(seed):
  rng = np.random.default_rng(seed)
  videos = [f"video{i}" for i in range(4)]
  num_classes = 3
  ground_truth = []
  for _ in range(rng.integers(1, 15)):
    start = float(rng.integers(0, 40))  # whole seconds: ties in tIoU and at thresholds
    ground_truth.append((str(rng.choice(videos)), start, start + float(rng.integers(1, 12)),
                         int(rng.integers(0, num_classes))))
  predictions = []
  for _ in range(rng.integers(0, 40)):
    start = float(rng.integers(0, 40))
    predictions.append((str(rng.choice(videos)), start, start + float(rng.integers(1, 12)),
                        int(rng.integers(0, num_classes + 1)),
                        float(rng.integers(0, 5)) / 4))  # few scores: ties
  # Some predictions close to the ground truth, so that matches happen.
  for video, start, end, label in ground_truth:
    if rng.random() < 0.7:
      shift = float(rng.integers(-2, 3))
      predictions.append((video, start + shift, end + shift, label, float(rng.random())))
  order = rng.permutation(len(predictions))
  predictions = [predictions[i] for i in order]
  thresholds = sorted({0.0, 1.0, *temporal_map.THUMOS14_TIOU_THRESHOLDS,
                       *temporal_map.ACTIVITYNET_TIOU_THRESHOLDS})
  got = temporal_map.mean_average_precision(predictions, ground_truth, thresholds)
  np.testing.assert_allclose(list(got.values()), _slow_map(predictions, ground_truth, thresholds),
                             atol=1e-12)


def test_validates_inputs():
  ground_truth = [("v", 0.0, 10.0, 0)]
  with pytest.raises(ValueError, match="ground_truth is empty"):
    temporal_map.mean_average_precision([("v", 0.0, 1.0, 0, 0.5)], [])
  with pytest.raises(ValueError, match="end >= start"):
    temporal_map.mean_average_precision([("v", 5.0, 1.0, 0, 0.5)], ground_truth)
  with pytest.raises(ValueError, match="5 fields"):
    temporal_map.mean_average_precision([("v", 0.0, 1.0, 0)], ground_truth)
  with pytest.raises(ValueError, match="tiou_thresholds"):
    temporal_map.mean_average_precision([], ground_truth, (1.5,))
  with pytest.raises(ValueError, match="integers"):
    temporal_map.mean_average_precision([], [("v", 0.0, 10.0, 0.5)])
