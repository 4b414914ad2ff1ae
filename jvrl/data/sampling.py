"""Temporal sampling: which frames of a video make up a clip (REFERENCE §1, §3).

A clip of `clip_length` (T) frames taken every `stride` (s) frames spans
(T-1)*s + 1 frames of a video of `num_frames` (L) frames. Clip starts are
sampled here; `clip_frame_indices` turns a start into frame indices, looping
(tiling) past the end of videos that are too short.

Every function is a TensorFlow graph op usable inside `tf.data.Dataset.map`.
Randomness is stateless: a `seed` is an int32/int64 tensor of shape [2] and the
same seed always gives the same result.
"""
from typing import Union

from jvrl.data.tf_setup import tf

IntLike = Union[int, tf.Tensor]


def _static_int(value: IntLike):
  """The Python value of `value` if known at trace time, else None."""
  static = tf.get_static_value(value)
  return None if static is None else int(static)


def _positive_int32(value: IntLike, name: str) -> tf.Tensor:
  """`value` as an int32 scalar tensor, checked to be >= 1.

  Raises ValueError when the value is known at trace time and not positive;
  a value known only at run time gets a run-time assertion instead.
  """
  static = _static_int(value)
  if static is not None:
    if static < 1:
      raise ValueError(f"{name} must be >= 1, got {static}.")
    return tf.constant(static, tf.int32)
  value = tf.cast(value, tf.int32)
  with tf.control_dependencies([
      tf.debugging.assert_positive(value, message=f"{name} must be >= 1")]):
    return tf.identity(value)


def check_seed(seed: tf.Tensor) -> tf.Tensor:
  """Returns `seed` as an int64 [2] tensor after checking it is int32/int64 of shape [2].

  Casting to int64 makes an int32 seed and an int64 seed with the same values
  give the same random numbers (TF's stateless_split depends on the dtype).
  """
  seed = tf.convert_to_tensor(seed)
  if seed.dtype not in (tf.int32, tf.int64):
    raise ValueError(f"seed must be int32 or int64, got {seed.dtype}.")
  if not seed.shape.is_compatible_with([2]):
    raise ValueError(f"seed must have shape [2], got {seed.shape}.")
  return tf.cast(seed, tf.int64)


def cvrl_max_gap(num_frames: IntLike, clip_length: IntLike, stride: IntLike) -> tf.Tensor:
  """CVRL's maximum gap M between two clip starts (int32 scalar).

  M = L - (T-1)*s when the video is longer than one clip's span minus one
  frame (L > (T-1)*s), else M = L.
  """
  num_frames = _positive_int32(num_frames, "num_frames")
  clip_length = _positive_int32(clip_length, "clip_length")
  stride = _positive_int32(stride, "stride")
  reach = (clip_length - 1) * stride
  return tf.where(num_frames > reach, num_frames - reach, num_frames)


def sample_cvrl_gap(max_gap: IntLike, seed: tf.Tensor) -> tf.Tensor:
  """Samples CVRL's integer gap k in [0, M-1] (int32 scalar), M = `max_gap`.

  The continuous gap has the linearly decreasing density
  p(k) = 2/M * (1 - k/M) on [0, M]; it is drawn by inverse CDF,
  k = M * (1 - sqrt(1 - u)) with u ~ U[0, 1), and discretised by flooring, so
  P(k = j) = (2*(M - j) - 1) / M^2 for j = 0..M-1 (mean M/3 - 1/2 + 1/(6M)).
  """
  seed = check_seed(seed)
  max_gap = _positive_int32(max_gap, "max_gap")
  u = tf.random.stateless_uniform([], seed, dtype=tf.float64)
  m = tf.cast(max_gap, tf.float64)
  gap = tf.cast(tf.floor(m * (1.0 - tf.sqrt(1.0 - u))), tf.int32)
  # Guards the (float-rounding only) case u -> 1.
  return tf.clip_by_value(gap, 0, max_gap - 1)


def sample_cvrl_clip_starts(
    num_frames: IntLike, clip_length: IntLike, stride: IntLike, seed: tf.Tensor
) -> tf.Tensor:
  """Samples the start frames of CVRL's two clips of one video (int32 [2]).

  Long videos (L > (T-1)*s): gap k ~ `sample_cvrl_gap(M)`, start1 ~ U[0, M-k),
  start2 = start1 + k, and the pair is swapped with probability 1/2; both
  clips then lie inside the video (start + (T-1)*s <= L-1).
  Short videos: both starts are drawn independently from U[0, L) and the
  frame indices tile (see `clip_frame_indices`).

  Args:
    num_frames: L, frames in the video (>= 1), int or int32/int64 tensor.
    clip_length: T, frames per clip (>= 1).
    stride: s, temporal stride between a clip's frames (>= 1).
    seed: int32/int64 [2] stateless seed.

  Returns:
    int32 [2]: the two clip starts, each in [0, L).
  """
  seed = check_seed(seed)
  num_frames = _positive_int32(num_frames, "num_frames")
  clip_length = _positive_int32(clip_length, "clip_length")
  stride = _positive_int32(stride, "stride")
  gap_seed, start_seed, swap_seed, short_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 4))
  max_gap = cvrl_max_gap(num_frames, clip_length, stride)

  def long_video_starts():
    gap = sample_cvrl_gap(max_gap, gap_seed)
    start1 = tf.random.stateless_uniform(
        [], start_seed, minval=0, maxval=max_gap - gap, dtype=tf.int32)
    starts = tf.stack([start1, start1 + gap])
    swap = tf.random.stateless_uniform([], swap_seed) < 0.5
    return tf.where(swap, tf.reverse(starts, [0]), starts)

  def short_video_starts():
    return tf.random.stateless_uniform(
        [2], short_seed, minval=0, maxval=num_frames, dtype=tf.int32)

  is_long = num_frames > (clip_length - 1) * stride
  return tf.cond(is_long, long_video_starts, short_video_starts)


def clip_frame_indices(
    start: IntLike, clip_length: IntLike, stride: IntLike, num_frames: IntLike
) -> tf.Tensor:
  """Frame indices of one clip: (start + i*stride) mod L, i = 0..T-1 (int32 [T]).

  Indices past the last frame loop back to the start of the video ("tiling"),
  so a clip is defined for any start and any video length >= 1.
  """
  clip_length = _positive_int32(clip_length, "clip_length")
  stride = _positive_int32(stride, "stride")
  num_frames = _positive_int32(num_frames, "num_frames")
  start = tf.cast(start, tf.int32)
  if start.shape.rank != 0:
    raise ValueError(f"start must be a scalar, got shape {start.shape}.")
  indices = start + tf.range(clip_length, dtype=tf.int32) * stride
  static_length = _static_int(clip_length)
  indices = tf.math.floormod(indices, num_frames)
  return indices if static_length is None else tf.ensure_shape(indices, [static_length])


def sample_uniform_clip_start(
    num_frames: IntLike, clip_length: IntLike, stride: IntLike, seed: tf.Tensor
) -> tf.Tensor:
  """One clip start ~ U[0, max(L - (T-1)*s, 1)) (int32 scalar).

  Every start that keeps the clip inside the video is equally likely; a video
  too short for one clip always starts at 0 (its indices then tile).
  """
  seed = check_seed(seed)
  num_frames = _positive_int32(num_frames, "num_frames")
  clip_length = _positive_int32(clip_length, "clip_length")
  stride = _positive_int32(stride, "stride")
  num_starts = tf.maximum(num_frames - (clip_length - 1) * stride, 1)
  return tf.random.stateless_uniform([], seed, minval=0, maxval=num_starts, dtype=tf.int32)


def evenly_spaced_clip_starts(
    num_frames: IntLike, clip_length: IntLike, stride: IntLike, num_clips: int
) -> tf.Tensor:
  """Deterministic starts of `num_clips` test clips spread over the video (int32 [num_clips]).

  The standard multi-clip test protocol: with last = max(L - 1 - (T-1)*s, 0),
  the last start that keeps a clip inside the video, the starts are
  round(linspace(0, last, num_clips)) (halves rounded up), so the first clip
  begins at frame 0 and the last clip ends at frame L-1; a single clip is
  centred (start round(last / 2)). Videos too short for one clip give starts 0 whose indices
  tile (see `clip_frame_indices`).
  """
  if not isinstance(num_clips, int) or num_clips < 1:
    raise ValueError(f"num_clips must be a Python int >= 1, got {num_clips!r}.")
  num_frames = _positive_int32(num_frames, "num_frames")
  clip_length = _positive_int32(clip_length, "clip_length")
  stride = _positive_int32(stride, "stride")
  last_start = tf.cast(
      tf.maximum(num_frames - 1 - (clip_length - 1) * stride, 0), tf.float64)
  if num_clips == 1:
    positions = tf.constant([0.5], tf.float64)
  else:
    positions = tf.linspace(tf.constant(0.0, tf.float64), 1.0, num_clips)
  # floor(x + 0.5): round half up (tf.round would round half to even).
  starts = tf.cast(tf.floor(positions * last_start + 0.5), tf.int32)
  return tf.ensure_shape(starts, [num_clips])
