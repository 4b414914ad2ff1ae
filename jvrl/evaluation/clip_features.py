"""Dense per-clip features of whole (untrimmed) videos from a frozen encoder.

What temporal localization models take as input (TSP's `extract_features/`,
REFERENCE §6): every video is cut into clips of `clip_length` frames at
`frame_stride`, one starting every `clip_stride` frames (starts 0, stride,
... up to the last start that keeps the clip inside the video), each clip's
frames resized (short side `resize_short_side`) and centre-cropped
(`crop_size`), and the encoder's globally average-pooled feature of each clip
becomes one row: a [num_clips, D] array per video. A video shorter than one
clip gets zero rows (and is flagged, never dropped).

Clips of consecutive videos share batches (sharded over the mesh's batch
axes), so short videos do not leave the devices idle. Two passes over the
records: a cheap one reads each video's name, length, rate and segments (no
frame is decoded), then the clip pass decodes only the frames of each clip.
"""
import dataclasses
import time
from typing import Any, Iterator, Mapping

import jax
import numpy as np
from absl import logging

from jvrl.data import augment
from jvrl.data import decode
from jvrl.data import device_batches
from jvrl.data import feature_files
from jvrl.data import pipeline
from jvrl.data import sources
from jvrl.data.tf_setup import tf
from jvrl.evaluation import features as features_lib
from jvrl.objectives.tsp import segments as segments_lib


@dataclasses.dataclass(frozen=True)
class ClipGrid:
  """Where the clips of a video are and how they are cut.

  Attributes:
    clip_length, frame_stride: frames per clip and the step between them.
    clip_stride: frames between consecutive clip starts.
    resize_short_side, crop_size: the centre crop of the resized frames.
  """
  clip_length: int
  frame_stride: int
  clip_stride: int
  resize_short_side: int
  crop_size: int

  def __post_init__(self):
    for name in ("clip_length", "frame_stride", "clip_stride", "resize_short_side",
                 "crop_size"):
      if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
        raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}.")
    if self.crop_size > self.resize_short_side:
      raise ValueError(f"crop_size={self.crop_size} exceeds resize_short_side="
                       f"{self.resize_short_side}.")

  @property
  def span(self) -> int:
    return segments_lib.clip_span(self.clip_length, self.frame_stride)

  def num_clips(self, num_frames: int) -> int:
    """Clips of a video of `num_frames` frames (0 when it is shorter than one clip)."""
    return max(0, (num_frames - self.span) // self.clip_stride + 1)


@dataclasses.dataclass
class VideoClipFeatures:
  """One video's clip features and what a localization evaluation needs about it.

  Attributes:
    key: `feature_files.video_key` of its filename (the name it is stored under).
    filename: the record's video/filename.
    features: float32 [num_clips, D] (num_clips may be 0).
    clip_starts: int [num_clips], each clip's first frame.
    clip_span: frames a clip spans.
    num_frames, fps: the video's length and rate (fps 0 when the record has none).
    segment_start_us, segment_end_us, segment_labels: its annotations.
  """
  key: str
  filename: str
  features: np.ndarray
  clip_starts: np.ndarray
  clip_span: int
  num_frames: int
  fps: float
  segment_start_us: np.ndarray
  segment_end_us: np.ndarray
  segment_labels: np.ndarray


def _video_metadata(examples: tf.data.Dataset) -> list[dict[str, Any]]:
  fields = ("filename", "num_frames", "fps", "segment_start_us", "segment_end_us",
            "segment_labels")
  described = examples.map(lambda e: {k: e[k] for k in fields},
                           num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return list(described.as_numpy_iterator())


def make_clip_dataset(examples: tf.data.Dataset, grid: ClipGrid,
                      batch_size: int) -> tf.data.Dataset:
  """The clips of every video of `examples`, in order, in padded batches.

  Each element: 'video' uint8 [B, 1, T, S, S, 3] (one view per clip),
  'video_index' int32 [B] (the video's position in `examples`), 'mask' [B]
  (False on padding rows).
  """
  span, clip_stride = grid.span, grid.clip_stride

  def clips_of_video(video_index, example):
    starts = tf.range(0, tf.maximum(example["num_frames"] - span + 1, 0), clip_stride)
    per_clip = tf.data.Dataset.from_tensor_slices(starts)
    return per_clip.map(lambda start: {"frames": example["frames"], "start": start,
                                       "video_index": tf.cast(video_index, tf.int32)})

  def decode_clip(clip):
    indices = clip["start"] + tf.range(grid.clip_length, dtype=tf.int32) * grid.frame_stride
    frames = decode.resize_short_side(decode.decode_frames(clip["frames"], indices),
                                      grid.resize_short_side)
    crop = augment.spatial_crops(frames, grid.crop_size, 1)  # [1, T, S, S, 3]
    return {"video": tf.cast(tf.round(tf.clip_by_value(crop, 0.0, 255.0)), tf.uint8),
            "video_index": clip["video_index"], "mask": tf.constant(True)}

  clips = examples.enumerate().flat_map(
      lambda index, example: clips_of_video(index, example))
  clips = clips.map(decode_clip, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return pipeline.batch_and_pad(clips, batch_size)


def extract_clip_features(encoder, variables: Mapping[str, Any], examples: tf.data.Dataset,
                          grid: ClipGrid, mesh, batch_size: int, *,
                          log_every_seconds: float = 30.0) -> Iterator[VideoClipFeatures]:
  """Yields the `VideoClipFeatures` of every video of `examples`, in order.

  `examples`: parsed examples (`sources.make_example_dataset`, not shuffled).
  Features come from `encoder` with `variables`, globally average-pooled,
  computed in batches of `batch_size` clips sharded over `mesh`. Logs progress
  (videos, clips, clips/s) every `log_every_seconds`.
  """
  metadata = _video_metadata(examples)
  keys = [feature_files.video_key(m["filename"] or f"video_{i:06d}")
          for i, m in enumerate(metadata)]
  if len(set(keys)) != len(keys):
    seen, duplicates = set(), []
    for key, meta in zip(keys, metadata):
      if key in seen:
        duplicates.append(meta["filename"].decode("utf-8", "replace"))
      seen.add(key)
    raise ValueError(f"Several videos would be stored under the same name (file name without "
                     f"folders or extension), e.g. {duplicates[:3]}: rename them or extract "
                     "their features into separate files.")
  encode = features_lib.make_encode_views_fn(encoder, mesh, "avg")
  one_clip = jax.ShapeDtypeStruct(  # one clip per batch shard
      (device_batches.num_batch_shards(mesh), 1, grid.clip_length, grid.crop_size,
       grid.crop_size, 3), np.uint8)
  feature_dim = jax.eval_shape(encode, variables, one_clip).shape[-1]
  batches = make_clip_dataset(examples, grid, batch_size).as_numpy_iterator()
  features_iter = features_lib.iterate_batch_features(encode, variables, batches, mesh,
                                                      extra_fields=("video_index",))
  pending_rows: list[np.ndarray] = []
  pending_index: list[np.ndarray] = []
  buffered = 0
  start = last_log = time.perf_counter()
  clips_done = 0
  for position, meta in enumerate(metadata):
    needed = grid.num_clips(int(meta["num_frames"]))
    while buffered < needed:
      rows, fields = next(features_iter)
      pending_rows.append(rows)
      pending_index.append(fields["video_index"])
      buffered += len(rows)
    rows = np.concatenate(pending_rows) if pending_rows else np.zeros((0, 0), np.float32)
    owners = np.concatenate(pending_index) if pending_index else np.zeros((0,), np.int32)
    if needed and not np.all(owners[:needed] == position):
      raise RuntimeError("Clip features arrived out of order; this is a bug in jvrl.")
    video_rows, rows, owners = rows[:needed], rows[needed:], owners[needed:]
    pending_rows, pending_index, buffered = [rows], [owners], len(rows)
    filename = meta["filename"].decode("utf-8", "replace")
    if not needed:
      logging.warning("Video %s has %d frames, fewer than one clip (%d frames): written with "
                      "zero rows.", filename, int(meta["num_frames"]), grid.span)
      video_rows = np.zeros((0, feature_dim), np.float32)
    clips_done += needed
    yield VideoClipFeatures(
        key=keys[position], filename=filename,
        features=video_rows.astype(np.float32),
        clip_starts=np.arange(needed, dtype=np.int64) * grid.clip_stride, clip_span=grid.span,
        num_frames=int(meta["num_frames"]), fps=float(meta["fps"]),
        segment_start_us=np.asarray(meta["segment_start_us"]),
        segment_end_us=np.asarray(meta["segment_end_us"]),
        segment_labels=np.asarray(meta["segment_labels"]))
    now = time.perf_counter()
    if now - last_log >= log_every_seconds or position == len(metadata) - 1:
      logging.info("Clip features: %d/%d videos, %d clips, %.1f clips/s.", position + 1,
                   len(metadata), clips_done, clips_done / max(now - start, 1e-9))
      last_log = now


def split_examples(config, split: str, skip_keys: frozenset[str] = frozenset()) -> tf.data.Dataset:
  """The parsed examples of `split` in record order, without the videos in `skip_keys`."""
  examples = sources.make_example_dataset(config.data, split, shuffle_files=False,
                                          seed=config.seed)
  return skip_videos(examples, skip_keys)


def skip_videos(examples: tf.data.Dataset, skip_keys: frozenset[str]) -> tf.data.Dataset:
  """`examples` without the videos whose `feature_files.video_key` is in `skip_keys`."""
  if not skip_keys:
    return examples
  table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(tf.constant(sorted(skip_keys)),
                                          tf.ones([len(skip_keys)], tf.int32)), 0)

  def keep(example):
    base = tf.strings.split(example["filename"], "/")[-1]
    key = tf.strings.regex_replace(base, r"\.[^.]*$", "")
    return tf.equal(table.lookup(key), 0)

  return examples.filter(keep)
