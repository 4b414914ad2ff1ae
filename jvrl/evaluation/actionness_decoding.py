"""Decoding per-clip actionness and class probabilities into scored action segments.

For one video with N clips in temporal order:

1. Candidates: for every actionness threshold, each maximal run of
   consecutive clips whose actionness is ABOVE it (strictly) becomes the
   candidate segment [start of its first clip, end of its last clip]. A run
   found at several thresholds is one candidate.
2. Label and score: a candidate's class is the argmax of its clips' mean
   class probability (equal means: the lower class index); its score is its
   clips' mean actionness x that mean class probability.
3. Per-class hard NMS (`temporal_nms.nms_per_class`, tIoU threshold 0.5 by
   default), then the `max_segments` highest-scoring survivors.

Runs and means come from vectorised edge detection and cumulative sums; the
only loop is over the few thresholds.
"""
from typing import NamedTuple, Sequence

import numpy as np

from jvrl.evaluation import temporal_nms

DEFAULT_ACTIONNESS_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


class DecodedSegments(NamedTuple):
  """Scored segments of one video, by descending score.

  Attributes:
    segments: float64 [K, 2] (start, end) in seconds.
    labels: int32 [K] class indices.
    scores: float64 [K] in [0, 1].
  """
  segments: np.ndarray
  labels: np.ndarray
  scores: np.ndarray


def actionness_runs(actionness: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
  """Maximal runs of consecutive entries of `actionness` [N] strictly above `threshold`.

  Returns:
    (first, last): int64 [R] index of each run's first and last entry
    (inclusive), in temporal order.
  """
  above = np.concatenate([[False], np.asarray(actionness) > threshold, [False]])
  edges = np.diff(above.astype(np.int8))
  return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1


def decode_segments(
    actionness: np.ndarray,
    class_probabilities: np.ndarray,
    clip_starts: np.ndarray,
    clip_ends: np.ndarray,
    *,
    thresholds: Sequence[float] = DEFAULT_ACTIONNESS_THRESHOLDS,
    nms_tiou_threshold: float = 0.5,
    max_segments: int | None = 100,
) -> DecodedSegments:
  """Scored segments of one video from per-clip predictions (module docstring).

  Args:
    actionness: float [N] per-clip probability of an action, in [0, 1].
    class_probabilities: float [N, C] per-clip class distribution.
    clip_starts: float [N] clip start times (seconds), clips in temporal order.
    clip_ends: float [N] clip end times.
    thresholds: actionness thresholds that cut runs into candidates.
    nms_tiou_threshold: per-class NMS suppresses tIoU above this.
    max_segments: keep at most this many segments (None: all).

  Returns:
    `DecodedSegments`, empty when N = 0 or no clip passes a threshold.
  """
  actionness = np.asarray(actionness, np.float64).reshape(-1)
  class_probabilities = np.asarray(class_probabilities, np.float64)
  clip_starts = np.asarray(clip_starts, np.float64).reshape(-1)
  clip_ends = np.asarray(clip_ends, np.float64).reshape(-1)
  num_clips = actionness.shape[0]
  if class_probabilities.ndim != 2 or class_probabilities.shape[0] != num_clips:
    raise ValueError(f"class_probabilities must be [{num_clips}, C], got shape "
                     f"{class_probabilities.shape}.")
  if clip_starts.shape != (num_clips,) or clip_ends.shape != (num_clips,):
    raise ValueError(f"clip_starts and clip_ends must be [{num_clips}], got shapes "
                     f"{clip_starts.shape} and {clip_ends.shape}.")
  runs = [np.stack(actionness_runs(actionness, t), axis=1) for t in thresholds]
  runs = np.unique(np.concatenate(runs + [np.zeros((0, 2), np.int64)]), axis=0)
  first, last = runs[:, 0], runs[:, 1]
  lengths = (last - first + 1).astype(np.float64)
  actionness_sums = np.concatenate([[0.0], np.cumsum(actionness)])
  probability_sums = np.concatenate(
      [np.zeros((1, class_probabilities.shape[1])), np.cumsum(class_probabilities, axis=0)])
  mean_actionness = (actionness_sums[last + 1] - actionness_sums[first]) / lengths
  mean_probabilities = (probability_sums[last + 1] - probability_sums[first]) / lengths[:, None]
  labels = np.argmax(mean_probabilities, axis=1).astype(np.int32)
  scores = mean_actionness * mean_probabilities[np.arange(labels.shape[0]), labels]
  segments = np.stack([clip_starts[first], clip_ends[last]], axis=1)
  keep = temporal_nms.nms_per_class(segments, scores, labels, nms_tiou_threshold, max_segments)
  return DecodedSegments(segments=segments[keep], labels=labels[keep], scores=scores[keep])
