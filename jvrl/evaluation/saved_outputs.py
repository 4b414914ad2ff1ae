"""What an evaluation saves beside results.json, so a report can be drawn later.

`jvrl.report` reads these files (never re-evaluating); this module owns their
format, writer and reader. Under WORKDIR/eval/:

  features.npz             the shared evaluation's frozen features of both
                           splits, per encoder (pretrained, random_init),
                           with labels, filenames, class names, the linear
                           probe's test predictions and each test video's
                           nearest train videos;
  localization.npz         per-test-video localization outputs of each
                           encoder (TSP's comparison; the first
                           `MAX_LOCALIZATION_VIDEOS` test videos);
  zero_shot_examples.json  text->video zero-shot examples (VATT).

Arrays are stored without pickling (strings as fixed-width unicode), and
files are replaced atomically, so a reader never sees half a file.
"""
import dataclasses
import json
import os
from typing import Any, Mapping, Sequence

import numpy as np

from jvrl.evaluation import actionness_decoding
from jvrl.evaluation import localization

EVAL_SUBDIR = "eval"
FEATURES_FILE = "features.npz"
LOCALIZATION_FILE = "localization.npz"
ZERO_SHOT_FILE = "zero_shot_examples.json"
# Test videos whose localization outputs are kept (a report shows a few timelines).
MAX_LOCALIZATION_VIDEOS = 16


@dataclasses.dataclass(frozen=True)
class EncoderOutputs:
  """One encoder's evaluation outputs.

  Attributes:
    train_features: float32 [N_train, D] eval-train features (views averaged).
    test_features: float32 [N_test, D] eval-test features.
    probe_predictions: int32 [N_test] the linear probe's predicted classes.
    neighbours: int32 [N_test, K] each test video's nearest eval-train videos
      (cosine similarity, nearest first), indices into the train split.
  """
  train_features: np.ndarray
  test_features: np.ndarray
  probe_predictions: np.ndarray
  neighbours: np.ndarray


@dataclasses.dataclass(frozen=True)
class FeatureOutputs:
  """The shared evaluation's outputs (`features.npz`).

  Attributes:
    train_labels, test_labels: int32 [N] class of each video (-1 unlabelled).
    train_filenames, test_filenames: str [N] each video's record filename
      ('' when the record has none); row i is the i-th video of the split in
      the evaluation's reading order.
    class_names: str [C] the records' label text of each class ('' unknown).
    encoders: {'pretrained': ..., 'random_init': ...} (the latter only with
      `config.eval.random_init_baseline`).
  """
  train_labels: np.ndarray
  test_labels: np.ndarray
  train_filenames: np.ndarray
  test_filenames: np.ndarray
  class_names: np.ndarray
  encoders: dict[str, EncoderOutputs]


def eval_dir(workdir: str) -> str:
  return os.path.join(workdir, EVAL_SUBDIR)


def _save_npz(path: str, arrays: Mapping[str, np.ndarray]) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".tmp", "wb") as f:
    np.savez(f, **arrays)
  os.replace(path + ".tmp", path)


def _strings(values: Sequence[Any]) -> np.ndarray:
  """A unicode array (bytes decoded as UTF-8); never an object array."""
  texts = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]
  return np.asarray(texts, dtype=str) if texts else np.zeros(0, dtype="<U1")


def class_names_from_texts(labels: np.ndarray, texts: Sequence[Any]) -> np.ndarray:
  """str [C]: the first non-empty label text seen for each class 0 .. max(labels)."""
  labels = np.asarray(labels)
  texts = _strings(texts)
  num_classes = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
  names = [""] * num_classes
  for label, text in zip(labels, texts):
    if label >= 0 and text and not names[label]:
      names[label] = str(text)
  return _strings(names)


def save_feature_outputs(workdir: str, outputs: FeatureOutputs) -> str:
  """Writes WORKDIR/eval/features.npz; returns its path."""
  arrays = {
      "train_labels": np.asarray(outputs.train_labels, np.int32),
      "test_labels": np.asarray(outputs.test_labels, np.int32),
      "train_filenames": _strings(outputs.train_filenames),
      "test_filenames": _strings(outputs.test_filenames),
      "class_names": _strings(outputs.class_names),
      "encoders": _strings(list(outputs.encoders)),
  }
  for name, encoder in outputs.encoders.items():
    arrays[f"{name}/train_features"] = np.asarray(encoder.train_features, np.float32)
    arrays[f"{name}/test_features"] = np.asarray(encoder.test_features, np.float32)
    arrays[f"{name}/probe_predictions"] = np.asarray(encoder.probe_predictions, np.int32)
    arrays[f"{name}/neighbours"] = np.asarray(encoder.neighbours, np.int32)
  path = os.path.join(eval_dir(workdir), FEATURES_FILE)
  _save_npz(path, arrays)
  return path


def load_feature_outputs(workdir: str) -> FeatureOutputs | None:
  """The shared evaluation's outputs of the run in `workdir`; None when it saved none."""
  path = os.path.join(eval_dir(workdir), FEATURES_FILE)
  if not os.path.isfile(path):
    return None
  with np.load(path, allow_pickle=False) as data:
    encoders = {
        str(name): EncoderOutputs(**{field: data[f"{name}/{field}"] for field in (
            "train_features", "test_features", "probe_predictions", "neighbours")})
        for name in data["encoders"]}
    return FeatureOutputs(
        train_labels=data["train_labels"], test_labels=data["test_labels"],
        train_filenames=data["train_filenames"], test_filenames=data["test_filenames"],
        class_names=data["class_names"], encoders=encoders)


# Per-clip arrays of a `localization.VideoLocalization`, concatenated over videos.
_CLIP_FIELDS = ("clip_starts", "clip_ends", "clip_labels", "foreground_probability",
                "actionness", "class_probabilities")


def _offsets(lengths: Sequence[int]) -> np.ndarray:
  return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def save_localization_outputs(
    workdir: str, videos_by_encoder: Mapping[str, Sequence[localization.VideoLocalization]],
    max_videos: int = MAX_LOCALIZATION_VIDEOS,
) -> str:
  """Writes the first `max_videos` test videos' outputs of each encoder to
  WORKDIR/eval/localization.npz; returns its path."""
  arrays = {"encoders": _strings(list(videos_by_encoder))}
  for name, videos in videos_by_encoder.items():
    videos = list(videos)[:max_videos]
    arrays[f"{name}/video_ids"] = _strings([v.video_id for v in videos])
    arrays[f"{name}/durations"] = np.asarray([v.duration for v in videos], np.float64)
    arrays[f"{name}/clip_offsets"] = _offsets([len(v.clip_starts) for v in videos])
    probabilities = [np.asarray(v.class_probabilities, np.float32) for v in videos]
    num_classes = max([p.shape[-1] for p in probabilities if p.ndim == 2] + [0])
    for field in _CLIP_FIELDS:
      if field == "class_probabilities":
        parts = [p.reshape(-1, num_classes) if p.size else np.zeros((0, num_classes), np.float32)
                 for p in probabilities] + [np.zeros((0, num_classes), np.float32)]
      else:
        parts = [np.asarray(getattr(v, field)) for v in videos] + [np.zeros(0)]
      arrays[f"{name}/{field}"] = np.concatenate(parts)
    arrays[f"{name}/segment_offsets"] = _offsets([len(v.segment_labels) for v in videos])
    arrays[f"{name}/segments"] = np.concatenate(
        [np.reshape(v.segments, (-1, 2)) for v in videos] + [np.zeros((0, 2))])
    arrays[f"{name}/segment_labels"] = np.concatenate(
        [np.asarray(v.segment_labels, np.int64) for v in videos] + [np.zeros(0, np.int64)])
    arrays[f"{name}/detection_offsets"] = _offsets([len(v.detections.labels) for v in videos])
    arrays[f"{name}/detection_segments"] = np.concatenate(
        [np.reshape(v.detections.segments, (-1, 2)) for v in videos] + [np.zeros((0, 2))])
    arrays[f"{name}/detection_labels"] = np.concatenate(
        [np.asarray(v.detections.labels, np.int64) for v in videos] + [np.zeros(0, np.int64)])
    arrays[f"{name}/detection_scores"] = np.concatenate(
        [np.asarray(v.detections.scores, np.float64) for v in videos] + [np.zeros(0)])
  path = os.path.join(eval_dir(workdir), LOCALIZATION_FILE)
  _save_npz(path, arrays)
  return path


def load_localization_outputs(
    workdir: str) -> dict[str, list[localization.VideoLocalization]] | None:
  """{encoder: its saved test videos' outputs}; None when the run saved none."""
  path = os.path.join(eval_dir(workdir), LOCALIZATION_FILE)
  if not os.path.isfile(path):
    return None
  result = {}
  with np.load(path, allow_pickle=False) as data:
    for name in map(str, data["encoders"]):
      get = lambda field, name=name: data[f"{name}/{field}"]  # noqa: E731
      clips, segs, dets = get("clip_offsets"), get("segment_offsets"), get("detection_offsets")
      videos = []
      for i, video_id in enumerate(get("video_ids")):
        clip = slice(clips[i], clips[i + 1])
        seg, det = slice(segs[i], segs[i + 1]), slice(dets[i], dets[i + 1])
        videos.append(localization.VideoLocalization(
            video_id=str(video_id), **{field: get(field)[clip] for field in _CLIP_FIELDS},
            detections=actionness_decoding.DecodedSegments(
                segments=get("detection_segments")[det], labels=get("detection_labels")[det],
                scores=get("detection_scores")[det]),
            segments=get("segments")[seg], segment_labels=get("segment_labels")[seg],
            duration=float(get("durations")[i])))
      result[name] = videos
  return result


def save_zero_shot_examples(workdir: str, examples: Mapping[str, Sequence[Mapping]]) -> str:
  """Writes {encoder: [example, ...]} (see `multimodal.zero_shot_examples`) to
  WORKDIR/eval/zero_shot_examples.json; returns its path."""
  path = os.path.join(eval_dir(workdir), ZERO_SHOT_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump({name: list(values) for name, values in examples.items()}, f, indent=1)
  os.replace(path + ".tmp", path)
  return path


def load_zero_shot_examples(workdir: str) -> dict[str, list[dict]] | None:
  """What `save_zero_shot_examples` wrote; None when the run saved none."""
  path = os.path.join(eval_dir(workdir), ZERO_SHOT_FILE)
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)
