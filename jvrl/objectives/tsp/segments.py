"""TSP's training units: the segments of an untrimmed video (REFERENCE §6), as TF ops.

The unit of TSP's data is a SEGMENT, not a video: every annotated action
instance is a foreground segment (its class), every gap between instances,
clipped to the video, is a background segment (action label -1). Segments
too short to hold one clip are dropped. An epoch visits every segment
`clips_per_segment` times (TSP: 5), each time with a clip lying wholly inside
it, so a long segment is not worth more than a short one and a video with
many instances is worth more than one with few (TSP's
`train/untrimmed_video_dataset.py`).

Times: the record's segments are in microseconds ('segment_start_us',
'segment_end_us'); a segment [start, end) covers frames
round(start * fps) ... round(end * fps) - 1, clipped to the video, at the
record's own 'fps' (or `fallback_fps` when the record has none). A clip of T
frames at stride s spans (T - 1) * s + 1 frames.

Everything here is a pure function of one parsed example (the contract of
`jvrl.data.records.parse_sequence_example`), usable inside tf.data.
"""
from typing import Any, Mapping

from jvrl.data.tf_setup import tf

BACKGROUND = -1  # action label of background segments (TSP's "No action")
# Fields of a unit that describe its segment (added to the video's fields).
SEGMENT_FIELDS = ("segment_start", "segment_end", "action_label", "region_label",
                  "unit_index")


def clip_span(clip_length: int, frame_stride: int) -> int:
  """Frames a clip of `clip_length` frames at `frame_stride` spans."""
  if clip_length < 1 or frame_stride < 1:
    raise ValueError(f"clip_length and frame_stride must be >= 1, got {clip_length} and "
                     f"{frame_stride}.")
  return (clip_length - 1) * frame_stride + 1


def video_fps(example: Mapping[str, Any], fallback_fps: float) -> tf.Tensor:
  """The record's frame rate, or `fallback_fps` when the record stores none (0).

  A record without a rate and no fallback (<= 0) fails inside tf.data with a
  message naming the video and the config field to set.
  """
  fps = tf.cast(example["fps"], tf.float64)
  fps = tf.where(fps > 0, fps, tf.constant(float(fallback_fps), tf.float64))
  check = tf.debugging.Assert(fps > 0, [tf.strings.join([
      "TSP needs each video's frame rate to place its segments: the record of ",
      example["filename"], " has no video/fps; set config.data.video_fps."])])
  with tf.control_dependencies([check]):
    return tf.identity(fps)


def annotated_segment_frames(example: Mapping[str, Any],
                             fallback_fps: float) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
  """The video's action instances in frames: (starts, ends, labels), int32 [N].

  Sorted by start; clipped to [0, num_frames]; instances left empty by the
  clipping (or annotated with end <= start) are removed.
  """
  fps = video_fps(example, fallback_fps)
  num_frames = tf.cast(example["num_frames"], tf.int32)

  def to_frames(micros):
    frames = tf.round(tf.cast(micros, tf.float64) * fps / 1e6)
    return tf.cast(tf.clip_by_value(frames, 0.0, tf.cast(num_frames, tf.float64)), tf.int32)

  starts, ends = to_frames(example["segment_start_us"]), to_frames(example["segment_end_us"])
  keep = ends > starts
  starts, ends = tf.boolean_mask(starts, keep), tf.boolean_mask(ends, keep)
  labels = tf.boolean_mask(tf.cast(example["segment_labels"], tf.int32), keep)
  order = tf.argsort(starts, stable=True)
  return tf.gather(starts, order), tf.gather(ends, order), tf.gather(labels, order)


def tsp_segments(starts: tf.Tensor, ends: tf.Tensor, labels: tf.Tensor, num_frames: tf.Tensor,
                 min_length: int) -> dict[str, tf.Tensor]:
  """Foreground and background segments of one video, each at least `min_length` frames.

  Args:
    starts, ends, labels: the action instances, int32 [N], sorted by start
      (`annotated_segment_frames`); instances may overlap.
    num_frames: the video's length in frames.
    min_length: the clip span; shorter segments are dropped.

  Returns:
    'segment_start', 'segment_end' (int32 [S], end exclusive), 'action_label'
    (int32 [S]: the class, or BACKGROUND), 'region_label' (int32 [S]: 1
    foreground, 0 background): first the foreground segments in start order,
    then the gaps of the union of the instances, in time order.
  """
  num_frames = tf.cast(num_frames, tf.int32)
  # Background = the gaps of the union of the instances: between the furthest
  # end seen so far and the next start (and before the first / after the last).
  furthest_end = tf.scan(tf.maximum, ends, initializer=tf.constant(0, tf.int32))
  gap_starts = tf.concat([[0], furthest_end], axis=0)
  gap_ends = tf.concat([starts, [num_frames]], axis=0)
  segment_start = tf.concat([starts, gap_starts], axis=0)
  segment_end = tf.concat([ends, gap_ends], axis=0)
  action = tf.concat([labels, tf.fill(tf.shape(gap_starts), BACKGROUND)], axis=0)
  region = tf.concat([tf.ones_like(labels), tf.zeros_like(gap_starts)], axis=0)
  keep = segment_end - segment_start >= min_length
  return {"segment_start": tf.boolean_mask(segment_start, keep),
          "segment_end": tf.boolean_mask(segment_end, keep),
          "action_label": tf.boolean_mask(action, keep),
          "region_label": tf.boolean_mask(region, keep)}


def segment_units(example: Mapping[str, Any], *, min_length: int, clips_per_segment: int,
                  fallback_fps: float) -> tf.data.Dataset:
  """One video -> its training units: each kept segment `clips_per_segment` times.

  Each unit holds the video's own fields (frames are shared, not copied) plus
  `SEGMENT_FIELDS`: the segment's frame range, labels and `unit_index` (the
  repetition number k in [0, clips_per_segment), which a deterministic
  validation pass can turn into the position k / (clips_per_segment - 1)).
  """
  if clips_per_segment < 1:
    raise ValueError(f"clips_per_segment must be >= 1, got {clips_per_segment}.")
  starts, ends, labels = annotated_segment_frames(example, fallback_fps)
  segments = tsp_segments(starts, ends, labels, example["num_frames"], min_length)
  count = tf.shape(segments["segment_start"])[0]
  repeated = {k: tf.repeat(v, clips_per_segment) for k, v in segments.items()}
  repeated["unit_index"] = tf.tile(tf.range(clips_per_segment, dtype=tf.int32), [count])
  video = {k: v for k, v in example.items() if not k.startswith("segment_")}
  units = tf.data.Dataset.from_tensor_slices(repeated)
  return units.map(lambda unit: {**video, **unit})


def sample_clip_start(unit: Mapping[str, tf.Tensor], span: int, seed: tf.Tensor | None,
                      clips_per_segment: int = 5) -> tf.Tensor:
  """The start frame of the unit's clip, so that the clip lies inside its segment.

  With a `seed`: uniform over the valid starts (training). Without: evenly
  spaced by `unit_index` over the valid starts, linspace(0, 1, clips_per_segment)
  as TSP's validation (positions rounded half up).
  """
  first = unit["segment_start"]
  last = unit["segment_end"] - span  # the last start that keeps the clip inside
  if seed is not None:
    return tf.random.stateless_uniform([], seed, minval=first, maxval=last + 1, dtype=tf.int32)
  position = (tf.cast(unit["unit_index"], tf.float64) / max(clips_per_segment - 1, 1))
  return first + tf.cast(tf.floor(position * tf.cast(last - first, tf.float64) + 0.5), tf.int32)
