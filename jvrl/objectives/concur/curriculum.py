"""ConCur's curriculum on the temporal distance between two positive clips, as TF ops.

The allowed gap between the two clips' starts grows over training, from near 0
(the same moment of the video: easy positives) to CVRL's whole range
(REFERENCE §1: M = L - (T-1)*s, or L for a video shorter than a clip's span):

  progress(step) = min(step / (end_step_fraction * num_steps), 1)
  fraction(step) = start_fraction + (1 - start_fraction) * shape(progress)
      shape: 'linear' -> progress; 'stages' -> floor(progress * K) / K below 1
      (K = num_stages equal stages, then the whole range), 1 at the end
  allowed gaps   = {0, ..., G - 1}, G = max(1, round(fraction(step) * M))

The gap k is drawn from the allowed gaps ('uniform', or 'cvrl': CVRL's
linearly decreasing density on [0, G)), then start1 ~ U[0, M - k), start2 =
start1 + k, and the pair is swapped with probability 1/2, so both clips lie
inside a long video and the distance is exactly k frames (a short video's
indices tile, as CVRL's). The distance head's label is k's bin among
`num_bins` equal bins of [0, M): it names the distance relative to the
whole video, whatever the curriculum allows at the time.

`step` is the example's training step from the input pipeline
(`jvrl.data.pipeline.TRAIN_STEP_FIELD`, a function of its stream position),
never Python state: a resumed run samples exactly what an uninterrupted one
would. Every function here is stateless (same seed, same result).
"""
from jvrl.data import sampling
from jvrl.data.tf_setup import tf

SCHEDULES = ("linear", "stages")
GAP_DISTRIBUTIONS = ("uniform", "cvrl")


def gap_fraction(step: tf.Tensor, num_steps: int, *, schedule: str = "linear",
                 start_fraction: float = 0.0, end_step_fraction: float = 0.5,
                 num_stages: int = 4) -> tf.Tensor:
  """The fraction of the video's gap range allowed at `step` (float32 scalar in [0, 1])."""
  if schedule not in SCHEDULES:
    raise ValueError(f"schedule={schedule!r} must be one of {SCHEDULES}.")
  if not 0.0 <= start_fraction <= 1.0:
    raise ValueError(f"start_fraction={start_fraction} must lie in [0, 1].")
  if not 0.0 < end_step_fraction <= 1.0 or num_steps < 1 or num_stages < 1:
    raise ValueError(f"end_step_fraction={end_step_fraction} must lie in (0, 1], num_steps="
                     f"{num_steps} and num_stages={num_stages} must be >= 1.")
  full_at = max(end_step_fraction * num_steps, 1e-9)
  progress = tf.minimum(tf.cast(step, tf.float64) / full_at, 1.0)
  if schedule == "stages":
    progress = tf.where(progress < 1.0, tf.floor(progress * num_stages) / num_stages, 1.0)
  return tf.cast(start_fraction + (1.0 - start_fraction) * progress, tf.float32)


def sample_clip_pair(num_frames: tf.Tensor, clip_length: int, stride: int,
                     fraction: tf.Tensor, seed: tf.Tensor, *, distribution: str = "uniform",
                     num_bins: int = 4) -> dict:
  """Two clip starts at most the curriculum's gap apart, with their distance label.

  Args:
    num_frames: L, frames in the video (int32 scalar tensor).
    clip_length, stride: T and s of a clip.
    fraction: the allowed fraction of the gap range (`gap_fraction`).
    seed: int32/int64 [2] stateless seed.
    distribution: 'uniform' or 'cvrl' gaps within the allowed range.
    num_bins: distance classes.

  Returns:
    {'starts': int32 [2], 'gap': int32 (|start2 - start1|), 'max_gap': int32
    (G, gaps allowed now are 0..G-1), 'distance_label': int32 in [0, num_bins)}.
  """
  if distribution not in GAP_DISTRIBUTIONS:
    raise ValueError(f"distribution={distribution!r} must be one of {GAP_DISTRIBUTIONS}.")
  if num_bins < 2:
    raise ValueError(f"num_bins={num_bins} must be >= 2.")
  seed = sampling.check_seed(seed)
  gap_seed, start_seed, swap_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
  full_range = sampling.cvrl_max_gap(num_frames, clip_length, stride)  # M
  allowed = tf.cast(tf.round(tf.cast(fraction, tf.float64) * tf.cast(full_range, tf.float64)),
                    tf.int32)
  allowed = tf.clip_by_value(allowed, 1, full_range)  # G
  if distribution == "cvrl":
    gap = sampling.sample_cvrl_gap(allowed, gap_seed)
  else:
    gap = tf.random.stateless_uniform([], gap_seed, minval=0, maxval=allowed, dtype=tf.int32)
  start1 = tf.random.stateless_uniform([], start_seed, minval=0, maxval=full_range - gap,
                                       dtype=tf.int32)
  starts = tf.stack([start1, start1 + gap])
  swap = tf.random.stateless_uniform([], swap_seed) < 0.5
  starts = tf.where(swap, tf.reverse(starts, [0]), starts)
  label = tf.cast(tf.floor(tf.cast(gap, tf.float64) * num_bins
                           / tf.cast(full_range, tf.float64)), tf.int32)
  return {"starts": starts, "gap": gap, "max_gap": allowed,
          "distance_label": tf.clip_by_value(label, 0, num_bins - 1)}

