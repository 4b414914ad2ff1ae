"""SVT's views of a video: global and local, differing in spatial size and frame rate.

SVT (kahnchana/svt `datasets/decoder.py`, `transform.py`) samples a window of
the video and draws from it
  * `num_global` global views: `global_frames` frames spread evenly over the
    whole window (a low frame rate), the first ending `global_shift` frames
    before the window's end, the second starting `global_shift` frames after
    its start; a DINO global crop (area `global_area`, e.g. 0.4-1) resized to
    `global_size`;
  * `num_local` local views: `local_frames` frames spread evenly over a
    random sub-window of window / `local_span_divisor` frames (a HIGH frame
    rate), a local crop (area `local_area`, e.g. 0.05-0.4) resized to
    `local_size`.
Every view has its own temporally consistent spatial augmentation (one set
of parameters per clip, `augment.cvrl_augment_clip`: flip, colour jitter,
grayscale, blur and solarisation with DINO's per-view probabilities). The
window is decoded once and every view gathers its frames from it.
"""
import dataclasses
from typing import Any, Mapping, Sequence

from jvrl.data import augment
from jvrl.data import decode
from jvrl.data.tf_setup import tf


@dataclasses.dataclass(frozen=True)
class ViewSpec:
  """How to sample SVT's views (module docstring).

  Blur and solarisation probabilities are per view kind: DINO's global view 1
  is always blurred, global view 2 rarely and sometimes solarised, locals
  blurred half the time.
  """
  window: int
  num_global: int
  global_frames: int
  global_size: int
  global_area: tuple[float, float]
  global_shift: int
  num_local: int
  local_frames: int
  local_size: int
  local_area: tuple[float, float]
  local_span_divisor: int
  aspect_ratio_range: tuple[float, float] = (0.75, 4 / 3)
  flip_prob: float = 0.5
  color_strength: float = 0.5
  color_prob: float = 0.8
  grayscale_prob: float = 0.2
  global_blur_prob: Sequence[float] = (1.0, 0.1)
  global_solarize_prob: Sequence[float] = (0.0, 0.2)
  local_blur_prob: float = 0.5

  def __post_init__(self):
    if self.num_global < 1 or self.num_local < 0:
      raise ValueError(f"SVT needs >= 1 global and >= 0 local views, got {self.num_global} "
                       f"and {self.num_local}.")
    if self.window < 2 or not 0 <= self.global_shift < self.window // 2:
      raise ValueError(f"window={self.window} must be >= 2 and global_shift={self.global_shift} "
                       "below half of it.")
    if self.local_span_divisor < 1:
      raise ValueError(f"local_span_divisor must be >= 1, got {self.local_span_divisor}.")


def _spread(first: tf.Tensor, last: tf.Tensor, count: int) -> tf.Tensor:
  """int32 [count]: round(linspace(first, last, count)) (SVT's temporal_sampling)."""
  return tf.cast(tf.round(tf.linspace(tf.cast(first, tf.float32), tf.cast(last, tf.float32),
                                      count)), tf.int32)


def view_frame_indices(spec: ViewSpec, seed: tf.Tensor) -> tuple[list[tf.Tensor],
                                                                 list[tf.Tensor]]:
  """(global views' indices, local views' indices) into the window, each int32 [T]."""
  span = spec.window
  globals_ = []
  for view in range(spec.num_global):
    if view % 2 == 0:
      globals_.append(_spread(0, span - 1 - spec.global_shift, spec.global_frames))
    else:
      globals_.append(_spread(spec.global_shift, span - 1, spec.global_frames))
  local_span = max(span // spec.local_span_divisor, 1)
  starts = tf.random.stateless_uniform([max(spec.num_local, 1)], seed, 0,
                                       span - local_span + 1, dtype=tf.int32)
  locals_ = [_spread(starts[i], starts[i] + local_span - 1, spec.local_frames)
             for i in range(spec.num_local)]
  return globals_, locals_


def make_views(example: Mapping[str, Any], spec: ViewSpec, seed: tf.Tensor) -> dict:
  """{'global_<i>': uint8 [global_frames, S_g, S_g, 3], 'local_<j>': uint8 [local_frames,
  S_l, S_l, 3]} of one video."""
  window_seed, index_seed, *view_seeds = tf.unstack(tf.random.experimental.stateless_split(
      seed, 2 + spec.num_global + spec.num_local))
  num_frames = example["num_frames"]
  latest = tf.maximum(num_frames - spec.window, 0)
  start = tf.random.stateless_uniform([], window_seed, 0, latest + 1, dtype=tf.int32)
  window = tf.math.floormod(start + tf.range(spec.window), num_frames)  # loops short videos
  frames = tf.cast(decode.decode_frames(example["frames"], window), tf.float32) / 255.0
  global_indices, local_indices = view_frame_indices(spec, index_seed)
  out = {}
  common = dict(aspect_ratio_range=spec.aspect_ratio_range, flip_prob=spec.flip_prob,
                color_strength=spec.color_strength, color_prob=spec.color_prob,
                grayscale_prob=spec.grayscale_prob)
  for i, indices in enumerate(global_indices):
    out[f"global_{i}"] = augment.cvrl_augment_clip(
        tf.gather(frames, indices), view_seeds[i], crop_size=spec.global_size,
        area_range=spec.global_area,
        blur_prob=spec.global_blur_prob[i % len(spec.global_blur_prob)],
        solarize_prob=spec.global_solarize_prob[i % len(spec.global_solarize_prob)], **common)
  for j, indices in enumerate(local_indices):
    out[f"local_{j}"] = augment.cvrl_augment_clip(
        tf.gather(frames, indices), view_seeds[spec.num_global + j], crop_size=spec.local_size,
        area_range=spec.local_area, blur_prob=spec.local_blur_prob, solarize_prob=0.0,
        **common)
  return {name: tf.cast(tf.round(view * 255.0), tf.uint8) for name, view in out.items()}
