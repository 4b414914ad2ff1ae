"""Non-maximum suppression of scored 1-D segments (temporal action localization).

Hard NMS (`nms`): take the highest-scoring segment, drop every remaining
segment whose tIoU with it is ABOVE the threshold (tIoU equal to the threshold
is kept, as in py-faster-rcnn's `ovr <= thresh`), repeat. `nms_per_class`
runs it within each label separately, so segments of different classes never
suppress each other.

Soft-NMS (`soft_nms`, Gaussian, Bodla et al. 2017): instead of dropping, each
remaining score is multiplied by exp(-tIoU^2 / sigma) with the segment just
taken; segments whose decayed score falls below `min_score` are dropped.

Equal scores are taken in input order (lowest index first) everywhere. The
loops run once per KEPT segment, each step vectorised over the rest.
"""
import numpy as np

from jvrl.evaluation import temporal_map


def _check(segments: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """float64 [N, 2] segments and [N] scores; ValueError on mismatched or non-finite input."""
  segments = np.asarray(segments, np.float64)
  scores = np.asarray(scores, np.float64)
  if segments.ndim != 2 or segments.shape[1] != 2:
    raise ValueError(f"segments must be [N, 2], got shape {segments.shape}.")
  if scores.shape != (segments.shape[0],):
    raise ValueError(f"scores must be [{segments.shape[0]}], got shape {scores.shape}.")
  if not (np.all(np.isfinite(segments)) and np.all(np.isfinite(scores))):
    raise ValueError("segments and scores must be finite.")
  return segments, scores


def _check_max_segments(max_segments: int | None) -> int | None:
  """`max_segments` as int, or None; ValueError unless None or an integer >= 0."""
  if max_segments is None:
    return None
  if isinstance(max_segments, bool) or not isinstance(max_segments, (int, np.integer)) \
      or max_segments < 0:
    raise ValueError(f"max_segments must be None or an integer >= 0, got {max_segments!r}.")
  return int(max_segments)


def nms(
    segments: np.ndarray, scores: np.ndarray, tiou_threshold: float = 0.5,
    max_segments: int | None = None,
) -> np.ndarray:
  """Hard 1-D non-maximum suppression.

  Args:
    segments: float [N, 2] (start, end), end >= start.
    scores: float [N].
    tiou_threshold: a segment is suppressed by a kept one when their tIoU is
      greater than this.
    max_segments: stop after this many kept segments (None: no limit).

  Returns:
    int64 [K] indices of the kept segments, by descending score (ties: lower
    index first).
  """
  segments, scores = _check(segments, scores)
  max_segments = _check_max_segments(max_segments)
  remaining = np.argsort(-scores, kind="stable")
  kept = []
  while remaining.size and (max_segments is None or len(kept) < max_segments):
    best, remaining = remaining[0], remaining[1:]
    kept.append(best)
    tiou = temporal_map.temporal_iou(segments[remaining], segments[best])
    remaining = remaining[tiou <= tiou_threshold]
  return np.asarray(kept, np.int64)


def nms_per_class(
    segments: np.ndarray, scores: np.ndarray, labels: np.ndarray, tiou_threshold: float = 0.5,
    max_segments: int | None = None,
) -> np.ndarray:
  """Hard NMS within each label; the survivors of all labels merged by score.

  Args:
    segments: float [N, 2]; scores: float [N]; labels: int [N].
    tiou_threshold: as in `nms`.
    max_segments: keep at most this many in total, the highest-scoring
      (None: all survivors).

  Returns:
    int64 [K] indices by descending score (ties: lower index first).
  """
  segments, scores = _check(segments, scores)
  max_segments = _check_max_segments(max_segments)
  labels = np.asarray(labels)
  if labels.shape != scores.shape:
    raise ValueError(f"labels must be [{scores.shape[0]}], got shape {labels.shape}.")
  survivors = []
  for label in np.unique(labels):
    members = np.flatnonzero(labels == label)
    survivors.append(members[nms(segments[members], scores[members], tiou_threshold,
                                 max_segments)])
  survivors = np.sort(np.concatenate(survivors or [np.zeros(0, np.int64)]))
  survivors = survivors[np.argsort(-scores[survivors], kind="stable")]
  return survivors[:max_segments].astype(np.int64)


def soft_nms(
    segments: np.ndarray, scores: np.ndarray, sigma: float = 0.5, min_score: float = 1e-3,
    max_segments: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """Gaussian Soft-NMS.

  Args:
    segments: float [N, 2]; scores: float [N].
    sigma: > 0; a remaining score is multiplied by exp(-tIoU^2 / sigma) with
      every segment taken before it.
    min_score: segments whose decayed score is below this are dropped.
    max_segments: stop after this many (None: no limit).

  Returns:
    (int64 [K] indices, float64 [K] decayed scores), by descending decayed
    score (ties: lower index first).
  """
  segments, scores = _check(segments, scores)
  max_segments = _check_max_segments(max_segments)
  if not sigma > 0:
    raise ValueError(f"sigma must be > 0, got {sigma}.")
  decayed = scores.copy()
  remaining = np.flatnonzero(decayed >= min_score)
  kept, kept_scores = [], []
  while remaining.size and (max_segments is None or len(kept) < max_segments):
    position = int(np.argmax(decayed[remaining]))  # remaining is in index order
    best = remaining[position]
    kept.append(best)
    kept_scores.append(decayed[best])
    remaining = np.delete(remaining, position)
    tiou = temporal_map.temporal_iou(segments[remaining], segments[best])
    decayed[remaining] *= np.exp(-np.square(tiou) / sigma)
    remaining = remaining[decayed[remaining] >= min_score]
  return np.asarray(kept, np.int64), np.asarray(kept_scores, np.float64)
