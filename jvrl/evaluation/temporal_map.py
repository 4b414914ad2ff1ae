"""Detection mAP of temporal action localization (THUMOS14 / ActivityNet, REFERENCE §6).

A prediction is (video_id, start, end, label, score), a ground-truth instance
(video_id, start, end, label); times in seconds. For every class and tIoU
threshold, as ActivityNet's official evaluator
(`Evaluation/eval_detection.py`, `compute_average_precision_detection`):

1. The class's predictions are taken by descending score. The sort is stable:
   predictions of equal score keep their input order (the official code's
   reversed `argsort` leaves the order of ties unspecified).
2. Each prediction matches the not-yet-matched ground truth of its class in
   its video with the highest tIoU >= threshold (equal tIoUs: the earlier
   ground truth in input order) and is a true positive; otherwise (no such
   ground truth, a video without ground truth of the class, or only already
   matched ones, i.e. a duplicate) it is a false positive.
3. AP = area under the interpolated precision-recall curve
   (`interpolated_prec_rec`, VOC 2011): precision at rank k = TP_k / k,
   recall = TP_k / (number of ground truths of the class); the precision is
   replaced by its running maximum from the right (a monotone envelope) and
   summed over the recall steps. Recall never reached contributes 0.

A class with ground truth but no predictions has AP 0. A class without
ground truth is left out (its predictions are ignored), as the official code
loops over the ground-truth classes only. mAP at a threshold is the mean AP
over the classes that have ground truth; `average_map` is the mean mAP over
ActivityNet's ten thresholds 0.5:0.05:0.95.

tIoU of two segments is |intersection| / |union|; a pair whose union has
zero length (two equal empty segments) has tIoU 0.
"""
from typing import NamedTuple, Sequence

import numpy as np

# THUMOS14's reported tIoU thresholds.
THUMOS14_TIOU_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
# ActivityNet's 0.5:0.05:0.95, the same float values as the official evaluator's.
ACTIVITYNET_TIOU_THRESHOLDS = tuple(float(t) for t in np.linspace(0.5, 0.95, 10))


class Prediction(NamedTuple):
  """A scored segment predicted for one video (any 5-tuple in this order works)."""
  video_id: str
  start: float
  end: float
  label: int
  score: float


class GroundTruth(NamedTuple):
  """An annotated action instance (any 4-tuple in this order works)."""
  video_id: str
  start: float
  end: float
  label: int


def temporal_iou(segments: np.ndarray, segment: np.ndarray) -> np.ndarray:
  """Temporal intersection over union of segments.

  Args:
    segments: float [N, 2] of (start, end) with end >= start.
    segment: float [2] (one segment) or [M, 2].

  Returns:
    float64 [N] for a single `segment`, else [N, M] (tIoU of segments[i] and
    segment[j]); 0 where the union has zero length.
  """
  segments = np.asarray(segments, np.float64).reshape(-1, 2)
  other = np.asarray(segment, np.float64)
  single = other.ndim == 1
  other = other.reshape(-1, 2)
  intersection = np.clip(np.minimum(segments[:, None, 1], other[None, :, 1])
                         - np.maximum(segments[:, None, 0], other[None, :, 0]), 0.0, None)
  union = ((segments[:, 1] - segments[:, 0])[:, None] + (other[:, 1] - other[:, 0])[None, :]
           - intersection)
  tiou = np.divide(intersection, union, out=np.zeros_like(union), where=union > 0)
  return tiou[:, 0] if single else tiou


def interpolated_average_precision(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
  """Area under the interpolated precision-recall curve (VOC 2011, as the official code).

  Args:
    precision: float [..., K] precision at ranks 1..K.
    recall: float [..., K] recall at ranks 1..K (non-decreasing).

  Returns:
    float64 [...]: sum over recall steps of (recall step) x (the maximum
    precision at this or any later rank); 0 when K = 0.
  """
  precision, recall = np.asarray(precision, np.float64), np.asarray(recall, np.float64)
  batch = precision.shape[:-1]
  padded_precision = np.concatenate([np.zeros(batch + (1,)), precision, np.zeros(batch + (1,))], -1)
  padded_recall = np.concatenate([np.zeros(batch + (1,)), recall, np.ones(batch + (1,))], -1)
  envelope = np.flip(np.maximum.accumulate(np.flip(padded_precision, -1), axis=-1), -1)
  # Where the recall does not change the term is 0, as skipping it in the official code.
  return np.sum(np.diff(padded_recall, axis=-1) * envelope[..., 1:], axis=-1)


def _match(
    prediction_videos: np.ndarray, prediction_segments: np.ndarray,
    truth_videos: np.ndarray, truth_segments: np.ndarray, thresholds: np.ndarray,
) -> np.ndarray:
  """bool [T, P]: is each prediction (already in score order) a true positive per threshold.

  Ground truth must be sorted by video (stable), so each video's ground truth
  is one slice; the walk over predictions is sequential by nature (greedy
  matching), vectorised over thresholds and the video's ground truth.
  """
  num_thresholds = thresholds.shape[0]
  matched = np.zeros((num_thresholds, truth_videos.shape[0]), bool)
  true_positive = np.zeros((num_thresholds, prediction_videos.shape[0]), bool)
  lows = np.searchsorted(truth_videos, prediction_videos, side="left")
  highs = np.searchsorted(truth_videos, prediction_videos, side="right")
  every_threshold = np.arange(num_thresholds)
  for rank in range(prediction_videos.shape[0]):
    low, high = lows[rank], highs[rank]
    if low == high:
      continue
    tiou = temporal_iou(truth_segments[low:high], prediction_segments[rank])
    candidate = (tiou[None, :] >= thresholds[:, None]) & ~matched[:, low:high]
    best = np.argmax(np.where(candidate, tiou[None, :], -1.0), axis=1)  # first of equal tIoUs
    hit = candidate[every_threshold, best]
    matched[every_threshold[hit], low + best[hit]] = True
    true_positive[hit, rank] = True
  return true_positive


def _columns(rows: Sequence[tuple], width: int, name: str) -> tuple[np.ndarray, ...]:
  """Validated columns of `rows`: video ids (object [N]), segments float64 [N, 2],
  labels int64 [N] and, for width 5, scores float64 [N]."""
  rows = list(rows)
  if any(len(row) != width for row in rows):
    raise ValueError(f"every entry of {name} must have {width} fields.")
  videos = np.array([str(row[0]) for row in rows], dtype=object)
  segments = np.array([(row[1], row[2]) for row in rows], np.float64).reshape(-1, 2)
  labels = np.array([row[3] for row in rows]).reshape(-1)
  if labels.size and not np.issubdtype(labels.dtype, np.integer):
    raise ValueError(f"{name} labels must be integers, got dtype {labels.dtype}.")
  if not np.all(np.isfinite(segments)) or np.any(segments[:, 1] < segments[:, 0]):
    raise ValueError(f"{name} segments must be finite with end >= start.")
  columns = (videos, segments, labels.astype(np.int64))
  if width == 5:
    scores = np.array([row[4] for row in rows], np.float64).reshape(-1)
    if not np.all(np.isfinite(scores)):
      raise ValueError(f"{name} scores must be finite.")
    columns += (scores,)
  return columns


def _check_thresholds(tiou_thresholds: Sequence[float]) -> np.ndarray:
  """float64 [T] thresholds; ValueError unless 1 <= T and each is in [0, 1]."""
  thresholds = np.asarray(tiou_thresholds, np.float64).reshape(-1)
  if thresholds.size == 0 or np.any(~(thresholds >= 0)) or np.any(thresholds > 1):
    raise ValueError(f"tiou_thresholds must be non-empty values in [0, 1], got {tiou_thresholds}.")
  return thresholds


def average_precision_per_class(
    predictions: Sequence[tuple], ground_truth: Sequence[tuple],
    tiou_thresholds: Sequence[float] = THUMOS14_TIOU_THRESHOLDS,
) -> dict[int, np.ndarray]:
  """AP of every class that has ground truth, at every tIoU threshold (module docstring).

  Args:
    predictions: (video_id, start, end, label, score) entries (`Prediction`).
    ground_truth: (video_id, start, end, label) entries (`GroundTruth`).
    tiou_thresholds: T thresholds in [0, 1].

  Returns:
    {class label: float64 [T] AP per threshold}, classes in increasing order;
    classes without ground truth are absent.
  """
  thresholds = _check_thresholds(tiou_thresholds)
  videos, segments, labels, scores = _columns(predictions, 5, "predictions")
  truth_videos, truth_segments, truth_labels = _columns(ground_truth, 4, "ground_truth")
  average_precisions = {}
  for label in np.unique(truth_labels):
    truth = np.flatnonzero(truth_labels == label)
    truth = truth[np.argsort(truth_videos[truth], kind="stable")]
    mine = np.flatnonzero(labels == label)
    mine = mine[np.argsort(-scores[mine], kind="stable")]
    true_positive = _match(videos[mine], segments[mine], truth_videos[truth],
                           truth_segments[truth], thresholds)
    hits = np.cumsum(true_positive, axis=1)
    precision = hits / np.arange(1, mine.size + 1)
    recall = hits / truth.size
    average_precisions[int(label)] = interpolated_average_precision(precision, recall)
  return average_precisions


def mean_average_precision(
    predictions: Sequence[tuple], ground_truth: Sequence[tuple],
    tiou_thresholds: Sequence[float] = THUMOS14_TIOU_THRESHOLDS,
) -> dict[float, float]:
  """mAP over the classes with ground truth, per tIoU threshold.

  Args:
    predictions: (video_id, start, end, label, score) entries.
    ground_truth: (video_id, start, end, label) entries, at least one.
    tiou_thresholds: thresholds in [0, 1].

  Returns:
    {float(threshold): mAP in [0, 1]}, keys exactly the given threshold
    values (ActivityNet's include 0.6000000000000001: iterate, or look them up
    with the values of `ACTIVITYNET_TIOU_THRESHOLDS`).
  """
  per_class = average_precision_per_class(predictions, ground_truth, tiou_thresholds)
  if not per_class:
    raise ValueError("ground_truth is empty: mAP is undefined without ground truth.")
  means = np.mean(np.stack(list(per_class.values())), axis=0)
  return {float(t): float(value) for t, value in zip(tiou_thresholds, means)}


def average_map(predictions: Sequence[tuple], ground_truth: Sequence[tuple]) -> float:
  """ActivityNet's average mAP: the mean of the mAPs at tIoU 0.5:0.05:0.95."""
  return float(np.mean(list(
      mean_average_precision(predictions, ground_truth, ACTIVITYNET_TIOU_THRESHOLDS).values())))
