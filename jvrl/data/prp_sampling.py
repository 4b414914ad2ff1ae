"""PRP's dilated sampling: playback rate, input clip and 2x slow-motion target (REFERENCE §3).

A playback rate s is drawn uniformly from `rates` (label = its index). With
base stride b (PRP: 1) the input clip takes T frames every s*b frames from a
window starting at `start`; the reconstruction target covers the same window
at half that interval (2x slow motion), 2T frames:

  target frame j (j = 0..2T-1) is video position start + j*s*b/2,
  input frame i = target frame 2i (start + i*s*b).

When s*b is odd (PRP: s = 1) the odd target positions fall between two video
frames and do not exist: `target_valid` is 0 there (the loss ignores them)
and their index repeats the previous real frame (the objective fills them with
the mean of their neighbours, as PRP's code does). The target spans
(2T-1)*s*b // 2 + 1 frames (PRP: ~16*s).

The WINDOW is the T*s*b consecutive frames from `start` (PRP decodes exactly
these 16*s frames: predict_dataset.py `loadcvvideo_Finsert`); the start is
drawn so that the whole window lies inside the video. The motion-attention
map (`jvrl.losses.prp`) is computed from it, as PRP's `__getitem__` does: the
window is cut into s chunks of T*b frames and 4 frames of each chunk are
taken, at round(linspace(0, T*b - 1, 4)) (halves up: frames {0, 5, 10, 15} of
each 16-frame chunk, PRP's `getPatchLossMask_DPAU` / `_Gauss`); the example's
'motion_indices' list them chunk after chunk, padded to max(rates) chunks
by repeating the first (never read).

Videos shorter than the window are handled deterministically, never replaced
by another video (the reference code's bias):
  * 'loop': every rate stays possible; positions past the end wrap around to
    the start (like `sampling.clip_frame_indices`), start 0.
  * 'fitting_rates': the rate is drawn among the rates whose window fits (rates
    are ascending, so these are the first ones); a video too short even for
    the smallest rate uses it and loops.

Every function is a TensorFlow graph op usable in `tf.data.Dataset.map`, with
stateless randomness (a seed is an int32/int64 [2] tensor; same seed -> same
result).
"""
from typing import Sequence

import numpy as np

from jvrl.data import sampling
from jvrl.data.tf_setup import tf

SHORT_VIDEO_POLICIES = ("loop", "fitting_rates")
MOTION_FRAMES_PER_CHUNK = 4


def check_rates(rates: Sequence[int]) -> tuple[int, ...]:
  """`rates` as a tuple, checked to be >= 2 strictly increasing positive ints."""
  rates = tuple(rates)
  if (len(rates) < 2 or any(not isinstance(r, int) or isinstance(r, bool) or r < 1
                            for r in rates)
      or any(a >= b for a, b in zip(rates, rates[1:]))):
    raise ValueError(f"rates must be >= 2 strictly increasing positive ints, got {rates!r}.")
  return rates


def _check_positive(value: int, name: str) -> int:
  if not isinstance(value, int) or isinstance(value, bool) or value < 1:
    raise ValueError(f"{name} must be a Python int >= 1, got {value!r}.")
  return value


def _positive_int32(value: sampling.IntLike, name: str) -> tf.Tensor:
  """`value` as an int32 scalar tensor with a run-time check that it is >= 1."""
  value = tf.cast(value, tf.int32)
  check = tf.debugging.assert_positive(value, message=f"{name} must be >= 1")
  with tf.control_dependencies([check]):
    return tf.identity(value)


def target_span(clip_length: int, rate: int, base_stride: int = 1) -> int:
  """Frames from the first to the last target frame, inclusive: (2T-1)*s*b // 2 + 1."""
  return (2 * clip_length - 1) * rate * base_stride // 2 + 1


def window_span(clip_length: int, rate: int, base_stride: int = 1) -> int:
  """Frames of the window PRP decodes for one example: T*s*b (module docstring)."""
  return clip_length * rate * base_stride


def motion_frame_offsets(clip_length: int, rate: int, base_stride: int = 1,
                         num_chunks: int | None = None) -> np.ndarray:
  """Window positions of the motion map's frames: int [num_chunks * 4], chunk after chunk.

  Chunk c (c < rate) is window frames [c*T*b, (c+1)*T*b); its 4 frames sit at
  round(linspace(0, T*b - 1, 4)) in it (halves up). Chunks c >= rate (up to
  `num_chunks`, default `rate`) repeat chunk 0. E.g. T=16, b=1: rate 1 ->
  [0, 5, 10, 15]; rate 2 -> [0, 5, 10, 15, 16, 21, 26, 31].
  """
  chunk = clip_length * base_stride
  num_chunks = rate if num_chunks is None else num_chunks
  if num_chunks < rate:
    raise ValueError(f"num_chunks={num_chunks} is below the rate {rate}.")
  picks = np.floor(np.linspace(0, chunk - 1, MOTION_FRAMES_PER_CHUNK) + 0.5).astype(np.int32)
  rows = [c * chunk + picks if c < rate else picks for c in range(num_chunks)]
  return np.concatenate(rows).astype(np.int32)


def target_validity(clip_length: int, rate: int, base_stride: int = 1) -> tuple[float, ...]:
  """Static validity of the 2T target frames: 1.0 where j*s*b is even, else 0.0."""
  return tuple(float(j * rate * base_stride % 2 == 0) for j in range(2 * clip_length))


def prp_frame_indices(start: sampling.IntLike, rate: sampling.IntLike, clip_length: int,
                      base_stride: int, num_frames: sampling.IntLike) -> dict:
  """Frame indices of one PRP example for a given start and rate.

  Args:
    start: first frame (int scalar tensor or int), >= 0.
    rate: playback rate s (>= 1).
    clip_length: T, input frames (Python int).
    base_stride: b, the input stride at rate 1 (Python int).
    num_frames: L, frames in the video (>= 1).

  Returns:
    dict with int32 'input_indices' [T] (= target_indices[0::2]),
    'target_indices' [2T] and float32 'target_valid' [2T]; indices are taken
    modulo L (positions past the end loop back to frame 0).
  """
  clip_length = _check_positive(clip_length, "clip_length")
  base_stride = _check_positive(base_stride, "base_stride")
  num_frames = _positive_int32(num_frames, "num_frames")
  rate = _positive_int32(rate, "rate")
  start = tf.cast(start, tf.int32)
  half_positions = tf.range(2 * clip_length, dtype=tf.int32) * rate * base_stride
  target = tf.math.floormod(start + half_positions // 2, num_frames)
  target = tf.ensure_shape(target, [2 * clip_length])
  valid = tf.cast(tf.equal(tf.math.floormod(half_positions, 2), 0), tf.float32)
  return {
      "input_indices": tf.ensure_shape(target[0::2], [clip_length]),
      "target_indices": target,
      "target_valid": tf.ensure_shape(valid, [2 * clip_length]),
  }


def sample_prp_clip(num_frames: sampling.IntLike, clip_length: int, rates: Sequence[int],
                    seed: tf.Tensor, *, base_stride: int = 1,
                    short_videos: str = "loop") -> dict:
  """Samples one PRP example's rate and frames (see the module docstring).

  Args:
    num_frames: L, frames in the video (>= 1).
    clip_length: T, input frames (Python int).
    rates: ascending playback rates, e.g. (1, 2, 4, 8); label = index.
    seed: int32/int64 [2] stateless seed.
    base_stride: b, input stride at rate 1.
    short_videos: 'loop' or 'fitting_rates' (module docstring).

  Returns:
    dict with int32 scalars 'rate_index', 'rate', 'start', the tensors of
    `prp_frame_indices` and int32 'motion_indices' [4 * max(rates)] (the
    motion map's frames, `motion_frame_offsets` from `start`, modulo L). Long
    enough videos: start ~ U[0, L - T*s*b] so the whole window lies inside the
    video.
  """
  rates = check_rates(rates)
  clip_length = _check_positive(clip_length, "clip_length")
  base_stride = _check_positive(base_stride, "base_stride")
  if short_videos not in SHORT_VIDEO_POLICIES:
    raise ValueError(f"Unknown short_videos {short_videos!r}; known: {SHORT_VIDEO_POLICIES}.")
  seed = sampling.check_seed(seed)
  num_frames = _positive_int32(num_frames, "num_frames")
  rate_seed, start_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  spans = tf.constant([window_span(clip_length, r, base_stride) for r in rates], tf.int32)
  if short_videos == "loop":
    num_choices = tf.constant(len(rates), tf.int32)
  else:
    num_choices = tf.maximum(tf.reduce_sum(tf.cast(spans <= num_frames, tf.int32)), 1)
  rate_index = tf.random.stateless_uniform(
      [], rate_seed, minval=0, maxval=num_choices, dtype=tf.int32)
  rate = tf.gather(tf.constant(rates, tf.int32), rate_index)
  num_starts = tf.maximum(num_frames - tf.gather(spans, rate_index) + 1, 1)
  start = tf.random.stateless_uniform([], start_seed, minval=0, maxval=num_starts,
                                      dtype=tf.int32)
  indices = prp_frame_indices(start, rate, clip_length, base_stride, num_frames)
  offsets = tf.constant(np.stack([
      motion_frame_offsets(clip_length, r, base_stride, max(rates)) for r in rates]))
  motion = tf.math.floormod(start + tf.gather(offsets, rate_index), num_frames)
  return dict(indices, rate_index=rate_index, rate=rate, start=start,
              motion_indices=tf.ensure_shape(motion, [MOTION_FRAMES_PER_CHUNK * max(rates)]))


def fill_missing_frames(clip: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
  """Replaces frames where `valid` is 0 by the mean of the nearest valid frames around them.

  clip: float [N, H, W, C]; valid: float/bool [N] with valid[0] true. A missing
  frame after the last valid one copies it. Valid frames are unchanged. (For
  PRP's rate 1: target frame 2i+1 becomes the mean of input frames i, i+1.)
  """
  clip = tf.convert_to_tensor(clip)
  valid = tf.cast(valid, tf.bool)
  n = tf.shape(valid)[0]
  positions = tf.range(n)
  is_before = positions[None, :] <= positions[:, None]  # [j, k]: k <= j
  prev = tf.reduce_max(tf.where(is_before & valid[None, :], positions[None, :], -1), axis=1)
  nxt = tf.reduce_min(tf.where(~is_before & valid[None, :], positions[None, :], n), axis=1)
  has_next = nxt < n
  prev = tf.maximum(prev, 0)
  nxt = tf.where(has_next, nxt, prev)
  filled = 0.5 * (tf.gather(clip, prev) + tf.gather(clip, nxt))
  keep = tf.reshape(valid, [-1, 1, 1, 1])
  return tf.where(keep, clip, tf.cast(filled, clip.dtype))
