"""STOR's pair sampling: two clips with a known temporal and spatial overlap, as TF ops.

CSTP (Katou2/CSTP, `data_process/datasets.py`, `preprocess_data.py`) labels a
pair of clips of one video with the class of its temporal overlap rate and of
its spatial overlap rate, both among (1.0, 0.8, 0.6, 0.4, 0.2), and optionally
with its playback rate (PRP's, (1, 2, 4, 8)).

Temporal: a clip of T frames at stride s spans R = (T-1)*s frames after its
first; the second clip starts d = int((1 - overlap) * R) frames before or
after the first (the reference's offsets). Here the class is drawn uniformly
among the overlaps whose offset fits in the video, then the earlier start
uniformly among the positions that keep BOTH clips inside the video, and the
order is swapped with probability 1/2 (the reference keeps the first start and
re-draws the class until the second one fits, which skews the classes by
position). Both clips are read at their OWN starts (the reference's LMDB
loader reads clip 2 at clip 1's start: its temporal labels describe clips
that were never shown).

Spatial: the first crop box is a random resized crop (the CVRL view's box
sampler); the second has the same size and is shifted towards one of the four
corners so that the boxes share s_w x s_h pixels with s_w ~ U[overlap * w, w]
and s_h = overlap * w * h / s_w (the reference's `ClipRandomSizedCropOverlap`).
A candidate must fit in the frame; 10 candidates (each with its own first box)
are drawn at once and the first that fits is used, else a half-size box that
always fits. Every function is stateless (same seed, same result).
"""
from typing import Sequence

from jvrl.data import augment
from jvrl.data import sampling
from jvrl.data.tf_setup import tf

OVERLAP_RATES = (1.0, 0.8, 0.6, 0.4, 0.2)  # CSTP's OVERLAP_TEM_RATE / OVERLAP_SPA_RATE
_ATTEMPTS = 10


def check_overlap_rates(rates: Sequence[float], field: str) -> tuple[float, ...]:
  """`rates` as a tuple, checked: at least two distinct values in (0, 1]."""
  rates = tuple(float(r) for r in rates)
  if len(rates) < 2 or len(set(rates)) != len(rates) or not all(0.0 < r <= 1.0 for r in rates):
    raise ValueError(f"{field}={rates!r} must hold at least two distinct overlap rates in "
                     "(0, 1] (CSTP: (1.0, 0.8, 0.6, 0.4, 0.2)).")
  return rates


def sample_playback_rate(num_frames: tf.Tensor, clip_length: int, base_stride: int,
                         rates: Sequence[int], seed: tf.Tensor) -> tf.Tensor:
  """Index of a playback rate, uniform among those whose clip (stride base * rate)
  fits in the video (index 0 always allowed; int32 scalar)."""
  seed = sampling.check_seed(seed)
  spans = tf.constant([(clip_length - 1) * base_stride * r for r in rates], tf.int32)
  allowed = tf.maximum(tf.reduce_sum(tf.cast(spans <= num_frames - 1, tf.int32)), 1)
  return tf.random.stateless_uniform([], seed, minval=0, maxval=allowed, dtype=tf.int32)


def sample_temporal_pair(num_frames: tf.Tensor, clip_length: int, stride: tf.Tensor,
                         rates: Sequence[float], seed: tf.Tensor) -> dict:
  """Two clip starts with a temporal overlap class (see the module docstring).

  Args:
    num_frames: L (int32 scalar tensor).
    clip_length: T.
    stride: s (int or int32 scalar tensor: the playback rate may set it).
    rates: the overlap rates, class i = rates[i].
    seed: int32/int64 [2] stateless seed.

  Returns:
    {'starts': int32 [2], 'label': int32 class, 'offset': int32 |start2 - start1|}.
  """
  seed = sampling.check_seed(seed)
  label_seed, start_seed, swap_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
  num_frames = tf.cast(num_frames, tf.int32)
  reach = (clip_length - 1) * tf.cast(stride, tf.int32)
  offsets = tf.cast(tf.floor((1.0 - tf.constant(rates, tf.float64))
                             * tf.cast(reach, tf.float64) + 1e-9), tf.int32)
  positions = tf.maximum(num_frames - reach, 1)  # starts keeping a clip inside: 0..positions-1
  feasible = tf.maximum(tf.reduce_sum(tf.cast(offsets <= positions - 1, tf.int32)), 1)
  # Offsets grow with the class (rates are listed high to low), so the feasible
  # classes come first; any order of `rates` is handled by sorting the offsets.
  order = tf.argsort(offsets, stable=True)
  label = tf.gather(order, tf.random.stateless_uniform([], label_seed, minval=0,
                                                       maxval=feasible, dtype=tf.int32))
  offset = tf.minimum(tf.gather(offsets, label), positions - 1)
  first = tf.random.stateless_uniform([], start_seed, minval=0, maxval=positions - offset,
                                      dtype=tf.int32)
  starts = tf.stack([first, first + offset])
  swap = tf.random.stateless_uniform([], swap_seed) < 0.5
  return {"starts": tf.where(swap, tf.reverse(starts, [0]), starts),
          "label": tf.cast(label, tf.int32), "offset": offset}


def sample_overlapping_boxes(seed: tf.Tensor, height: tf.Tensor, width: tf.Tensor,
                             rates: Sequence[float], area_range: Sequence[float] = (0.3, 1.0),
                             aspect_ratio_range: Sequence[float] = (0.5, 2.0)) -> dict:
  """Two crop boxes of one size with a spatial overlap class (see the module docstring).

  Returns:
    {'boxes': int32 [2, 4] ([offset_y, offset_x, h, w] each), 'label': int32
    class, 'overlap': float32, the shared area over a box's area}.
  """
  seed = sampling.check_seed(seed)
  label_seed, box_seed, share_seed, corner_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 4))
  height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
  label = tf.random.stateless_uniform([], label_seed, minval=0, maxval=len(rates),
                                      dtype=tf.int32)
  rate = tf.gather(tf.constant(rates, tf.float32), label)
  box_seeds = tf.random.experimental.stateless_split(box_seed, _ATTEMPTS)
  first = tf.stack([augment.sample_random_resized_crop_box(
      box_seeds[i], height, width, area_range, aspect_ratio_range)
                    for i in range(_ATTEMPTS)])  # [A, 4]; a few boxes per video, not frames
  h, w = first[:, 2], first[:, 3]
  h_f, w_f = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
  share = tf.random.stateless_uniform([_ATTEMPTS], share_seed)
  shared_w = tf.clip_by_value(tf.cast(tf.math.ceil(rate * w_f + share * (w_f - rate * w_f)),
                                      tf.int32), 1, w)
  shared_h = tf.clip_by_value(tf.cast(tf.round(rate * w_f * h_f / tf.cast(shared_w, tf.float32)),
                                      tf.int32), 1, h)
  corner = tf.random.stateless_uniform([_ATTEMPTS], corner_seed, minval=0, maxval=4,
                                       dtype=tf.int32)
  sign_y = tf.where(corner < 2, -1, 1)   # corners 0, 1: the second box moves up
  sign_x = tf.where(corner % 2 == 0, -1, 1)  # corners 0, 2: ... and left
  second_y = first[:, 0] + sign_y * (h - shared_h)
  second_x = first[:, 1] + sign_x * (w - shared_w)
  fits = (second_y >= 0) & (second_x >= 0) & (second_y + h <= height) & (second_x + w <= width)
  pick = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)

  def sampled():
    second = tf.stack([second_y[pick], second_x[pick], h[pick], w[pick]])
    return tf.stack([first[pick], second]), shared_h[pick] * shared_w[pick], h[pick] * w[pick]

  def fallback():  # a half-size box shifted down by (1 - rate) of its height always fits
    box_h, box_w = tf.maximum(height // 2, 1), tf.maximum(width // 2, 1)
    shift = tf.cast(tf.round((1.0 - rate) * tf.cast(box_h, tf.float32)), tf.int32)
    y0, x0 = (height - box_h - shift) // 2, (width - box_w) // 2
    boxes = tf.stack([tf.stack([y0, x0, box_h, box_w]),
                      tf.stack([y0 + shift, x0, box_h, box_w])])
    return boxes, (box_h - shift) * box_w, box_h * box_w

  boxes, shared, area = tf.cond(tf.reduce_any(fits), sampled, fallback)
  return {"boxes": boxes, "label": label,
          "overlap": tf.cast(shared, tf.float32) / tf.cast(area, tf.float32)}

