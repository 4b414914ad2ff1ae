"""Temporal action localization evaluation of frozen per-clip features (TSP, REFERENCE §6).

Input: untrimmed videos (`LocalizationVideo`), each a sequence of clip
features with the clips' times and the annotated action segments, for a
train and a test split. Nothing is fitted on the test split.

Clip labels (`clip_labels`): a clip is foreground with class c when its
temporal centre lies inside (ends included) an annotated segment of class c;
inside several, the one overlapping the clip longest (equal overlaps: the
earlier segment); else background (-1).

Metrics (`evaluate_localization`):
- Single-clip linear probes (`jvrl.evaluation.linear_probe`: features
  L2-normalised, standardised with train statistics, weight decay chosen on
  held-out train clips):
  * `fgbg_auc`: ROC AUC of a foreground-vs-background probe's foreground
    probability on the test clips;
  * `fgbg_balanced_accuracy`: the mean of its foreground and background
    recalls when foreground means probability > 0.5;
  * `fg_action_top1`: top-1 of a C-way probe trained on the foreground train
    clips, on the foreground test clips.
- Localization: `localization_head.TemporalConvHead` trained on the train
  videos' sequences (the fg/bg probe's preprocessing), decoded per test video
  by `actionness_decoding.decode_segments`, scored by
  `temporal_map.mean_average_precision`:
  * `localization_map@0.3` ... `localization_map@0.7` (THUMOS14),
  * `localization_average_map` (ActivityNet, tIoU 0.5:0.05:0.95).

Videos without clips are skipped in training and get no predictions, so
their ground truth counts as missed. A metric that is undefined on the given
data is NaN: AUC with one class among the test clips, top-1 without
foreground train or test clips, mAP without test ground truth.
"""
import dataclasses
from typing import Sequence

import numpy as np

from jvrl.evaluation import actionness_decoding
from jvrl.evaluation import binary_metrics
from jvrl.evaluation import linear_probe
from jvrl.evaluation import localization_head
from jvrl.evaluation import retrieval
from jvrl.evaluation import temporal_map

BACKGROUND = -1


@dataclasses.dataclass(frozen=True)
class LocalizationVideo:
  """One untrimmed video's clip features and annotations (times in seconds).

  Attributes:
    video_id: unique within its split.
    features: float32 [N, D] one feature per clip, clips in temporal order
      (N may be 0).
    clip_starts: float64 [N], non-decreasing.
    clip_ends: float64 [N], >= clip_starts.
    segments: float64 [S, 2] annotated action instances (start, end).
    segment_labels: int [S] their classes in [0, num_classes).
    duration: the video's length.
  """
  video_id: str
  features: np.ndarray
  clip_starts: np.ndarray
  clip_ends: np.ndarray
  segments: np.ndarray
  segment_labels: np.ndarray
  duration: float


@dataclasses.dataclass(frozen=True)
class VideoLocalization:
  """Per-clip outputs and decoded segments of one test video (for timelines).

  Attributes:
    video_id: the test video's id.
    clip_starts, clip_ends: float64 [N] the clips' times.
    clip_labels: int32 [N] ground-truth clip classes (-1 background).
    foreground_probability: float32 [N] the fg/bg probe's output.
    actionness: float32 [N] the localization head's actionness.
    class_probabilities: float32 [N, C] the head's class distribution.
    detections: the decoded, scored segments.
    segments: float64 [S, 2] the annotated action instances (start, end).
    segment_labels: int [S] their classes.
    duration: the video's length in seconds.
  """
  video_id: str
  clip_starts: np.ndarray
  clip_ends: np.ndarray
  clip_labels: np.ndarray
  foreground_probability: np.ndarray
  actionness: np.ndarray
  class_probabilities: np.ndarray
  detections: actionness_decoding.DecodedSegments
  segments: np.ndarray
  segment_labels: np.ndarray
  duration: float


@dataclasses.dataclass(frozen=True)
class LocalizationResult:
  """`metrics` as returned by `evaluate_localization`, and per-test-video outputs."""
  metrics: dict[str, float]
  videos: list[VideoLocalization]


def clip_labels(
    clip_starts: np.ndarray, clip_ends: np.ndarray, segments: np.ndarray,
    segment_labels: np.ndarray,
) -> np.ndarray:
  """Class of each clip (module docstring): int32 [N], -1 for background.

  Args:
    clip_starts, clip_ends: float [N] clip times.
    segments: float [S, 2] annotated (start, end).
    segment_labels: int [S].
  """
  clip_starts = np.asarray(clip_starts, np.float64).reshape(-1, 1)
  clip_ends = np.asarray(clip_ends, np.float64).reshape(-1, 1)
  segments = np.asarray(segments, np.float64).reshape(-1, 2)
  labels = np.full(clip_starts.shape[0], BACKGROUND, np.int32)
  if not segments.shape[0]:
    return labels
  centres = (clip_starts + clip_ends) / 2
  inside = (segments[None, :, 0] <= centres) & (centres <= segments[None, :, 1])  # [N, S]
  overlap = (np.minimum(clip_ends, segments[None, :, 1])
             - np.maximum(clip_starts, segments[None, :, 0]))
  best = np.argmax(np.where(inside, overlap, -np.inf), axis=1)  # first of equal overlaps
  covered = inside.any(axis=1)
  labels[covered] = np.asarray(segment_labels).reshape(-1)[best[covered]]
  return labels


def _check_videos(videos: Sequence[LocalizationVideo], num_classes: int, name: str) -> int | None:
  """Validates a split; returns the feature dimension (None when no video has clips)."""
  ids = [video.video_id for video in videos]
  if len(set(ids)) != len(ids):
    raise ValueError(f"{name} has repeated video ids.")
  dims = set()
  for video in videos:
    features = np.asarray(video.features)
    num_clips = features.shape[0] if features.ndim else 0
    starts, ends = np.asarray(video.clip_starts), np.asarray(video.clip_ends)
    labels, segments = np.asarray(video.segment_labels), np.asarray(video.segments)
    where = f"{name} video {video.video_id!r}"
    if num_clips and (features.ndim != 2 or not np.all(np.isfinite(features))):
      raise ValueError(f"{where}: features must be finite [N, D], got shape {features.shape}.")
    if starts.shape != (num_clips,) or ends.shape != (num_clips,) \
        or not np.all(np.isfinite(starts) & np.isfinite(ends)) or np.any(ends < starts) \
        or np.any(np.diff(starts) < 0):
      raise ValueError(f"{where}: clip_starts / clip_ends must be finite [{num_clips}], "
                       "non-decreasing starts, ends >= starts.")
    segments = segments.reshape(-1, 2)
    if not np.all(np.isfinite(segments)) or np.any(segments[:, 1] < segments[:, 0]):
      raise ValueError(f"{where}: segments must be finite [S, 2] with end >= start.")
    if segments.shape[0] != labels.size or np.any(labels < 0) or np.any(labels >= num_classes) \
        or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
      raise ValueError(f"{where}: segment_labels must be {segments.shape[0]} integers in "
                       f"[0, {num_classes}).")
    if num_clips:
      dims.add(features.shape[1])
  if len(dims) > 1:
    raise ValueError(f"{name} videos have different feature sizes {sorted(dims)}.")
  return dims.pop() if dims else None


def _clips(
    videos: Sequence[LocalizationVideo], dim: int,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """Per video: float32 [N, D] clip features and int32 [N] clip labels."""
  features = [np.asarray(v.features, np.float32).reshape(-1, dim) for v in videos]
  labels = [clip_labels(v.clip_starts, v.clip_ends, v.segments, v.segment_labels) for v in videos]
  return features, labels


def _preprocess(features: np.ndarray, probe: linear_probe.LinearProbe) -> np.ndarray:
  """The probe's own preprocessing: L2-normalise, then standardise with train statistics."""
  return ((retrieval.l2_normalize(features) - probe.feature_mean) / probe.feature_std).astype(
      np.float32)


def _fg_action_top1(train_x, train_y, test_x, test_y, num_classes, probe_kwargs) -> float:
  """Top-1 of a C-way probe on foreground clips; NaN without foreground train or test clips."""
  train_fg, test_fg = train_y >= 0, test_y >= 0
  if not train_fg.any() or not test_fg.any():
    return float("nan")
  return linear_probe.linear_probe_top1(train_x[train_fg], train_y[train_fg], test_x[test_fg],
                                        test_y[test_fg], num_classes, **probe_kwargs)


def localize_and_evaluate(
    train_videos: Sequence[LocalizationVideo],
    test_videos: Sequence[LocalizationVideo],
    num_classes: int,
    *,
    seed: int = 0,
    probe_steps: int = 500,
    head_steps: int = 300,
    head_learning_rate: float = 3e-3,
    head_batch_size: int = 32,
    head_width: int = 128,
    head_layers: int = 3,
    actionness_thresholds: Sequence[float] = actionness_decoding.DEFAULT_ACTIONNESS_THRESHOLDS,
    nms_tiou_threshold: float = 0.5,
    max_segments_per_video: int = 100,
) -> LocalizationResult:
  """`evaluate_localization` that also returns every test video's outputs (same arguments)."""
  num_classes = retrieval.check_positive_int(num_classes, "num_classes")
  dim = _check_videos(train_videos, num_classes, "train_videos")
  test_dim = _check_videos(test_videos, num_classes, "test_videos")
  if dim is None:
    raise ValueError("no train video has clips: nothing to train on.")
  if test_dim not in (None, dim):
    raise ValueError(f"test features have {test_dim} dimensions, train features {dim}.")
  train_features, train_labels = _clips(train_videos, dim)
  test_features, test_labels = _clips(test_videos, dim)
  no_clips = [np.zeros((0, dim), np.float32)], [np.zeros(0, np.int32)]  # for empty splits
  train_x, train_y = (np.concatenate(train_features + no_clips[0]),
                      np.concatenate(train_labels + no_clips[1]))
  test_x, test_y = (np.concatenate(test_features + no_clips[0]),
                    np.concatenate(test_labels + no_clips[1]))
  probe_kwargs = dict(steps=probe_steps, seed=seed)

  fgbg_probe = linear_probe.train_linear_probe(
      train_x, (train_y >= 0).astype(np.int32), 2, **probe_kwargs)
  test_fg_probability = (linear_probe.linear_probe_probabilities(fgbg_probe, test_x)[:, 1]
                         if test_x.shape[0] else np.zeros(0, np.float32))
  metrics = {
      "fgbg_auc": binary_metrics.roc_auc(test_fg_probability, test_y >= 0),
      "fgbg_balanced_accuracy": binary_metrics.balanced_accuracy(
          test_fg_probability > 0.5, test_y >= 0),
      "fg_action_top1": _fg_action_top1(train_x, train_y, test_x, test_y, num_classes,
                                        probe_kwargs),
  }

  head = localization_head.train_localization_head(
      [_preprocess(x, fgbg_probe) for x in train_features], train_labels, num_classes,
      steps=head_steps, learning_rate=head_learning_rate, batch_size=head_batch_size,
      width=head_width, num_layers=head_layers, seed=seed)
  head_outputs = localization_head.predict_localization_head(
      head, [_preprocess(x, fgbg_probe) for x in test_features])

  videos, predictions, ground_truth = [], [], []
  clip_offsets = np.cumsum([0] + [len(labels) for labels in test_labels])
  for video, labels, (actionness, probabilities), offset in zip(
      test_videos, test_labels, head_outputs, clip_offsets):
    detections = actionness_decoding.decode_segments(
        actionness, probabilities, video.clip_starts, video.clip_ends,
        thresholds=actionness_thresholds, nms_tiou_threshold=nms_tiou_threshold,
        max_segments=max_segments_per_video)
    videos.append(VideoLocalization(
        video_id=video.video_id, clip_starts=np.asarray(video.clip_starts, np.float64),
        clip_ends=np.asarray(video.clip_ends, np.float64),
        clip_labels=labels,
        foreground_probability=test_fg_probability[offset:offset + len(labels)],
        actionness=actionness, class_probabilities=probabilities, detections=detections,
        segments=np.reshape(np.asarray(video.segments, np.float64), (-1, 2)),
        segment_labels=np.asarray(video.segment_labels), duration=float(video.duration)))
    predictions += [(video.video_id, start, end, label, score) for (start, end), label, score
                    in zip(detections.segments, detections.labels, detections.scores)]
    ground_truth += [(video.video_id, start, end, label) for (start, end), label
                     in zip(np.reshape(video.segments, (-1, 2)), video.segment_labels)]

  thresholds = temporal_map.THUMOS14_TIOU_THRESHOLDS + temporal_map.ACTIVITYNET_TIOU_THRESHOLDS
  if ground_truth:
    maps = temporal_map.mean_average_precision(predictions, ground_truth, thresholds)
  else:
    maps = {t: float("nan") for t in thresholds}
  metrics.update({f"localization_map@{t:.1f}": maps[t]
                  for t in temporal_map.THUMOS14_TIOU_THRESHOLDS})
  metrics["localization_average_map"] = float(
      np.mean([maps[t] for t in temporal_map.ACTIVITYNET_TIOU_THRESHOLDS]))
  return LocalizationResult(metrics={k: float(v) for k, v in metrics.items()}, videos=videos)


def evaluate_localization(
    train_videos: Sequence[LocalizationVideo],
    test_videos: Sequence[LocalizationVideo],
    num_classes: int,
    **options,
) -> dict[str, float]:
  """Localization metrics of frozen clip features (module docstring).

  Args:
    train_videos: videos the probes and the head are trained on (at least
      one with clips).
    test_videos: videos they are scored on (may include videos without clips).
    num_classes: C >= 1 action classes.
    **options: the keyword options of `localize_and_evaluate`:
    seed: seeds the probes and the head; equal seeds give equal metrics.
    probe_steps: Adam steps of each linear probe.
    head_steps: Adam steps of the localization head.
    head_learning_rate: its peak learning rate (cosine decay).
    head_batch_size: videos per head training step.
    head_width: channels of the head's conv layers.
    head_layers: number of conv layers (kernel 3).
    actionness_thresholds: thresholds whose runs become candidate segments.
    nms_tiou_threshold: per-class NMS suppresses tIoU above this.
    max_segments_per_video: segments kept per test video.

  Returns:
    {"fgbg_auc", "fgbg_balanced_accuracy", "fg_action_top1",
    "localization_map@0.3", ..., "localization_map@0.7",
    "localization_average_map"}: floats in [0, 1], or NaN when undefined.
  """
  return localize_and_evaluate(train_videos, test_videos, num_classes, **options).metrics
