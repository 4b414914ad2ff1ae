"""Object motion of the untrimmed synthetic videos: actions and background, continuous.

A video's motion is a sequence of PIECES, each an action segment of one of
`synthetic.MOTION_CLASSES` or a background stretch. Every piece starts from
the state where the previous one ended (position, angle, size), so the object
never jumps at a boundary. The per-class motion parameters are drawn from the
trimmed dataset's ranges (`synthetic.ANGULAR_SPEED_DEG_RANGE`, ...):

  * move right/left/up/down: constant velocity, heading +- 15 degrees;
  * rotate clockwise/counterclockwise: constant angular speed;
  * grow/shrink: the log of the size rises (falls) at log(ratio) / period per
    frame and wraps around within +-LOG_SCALE_HALF_RANGE (a sawtooth; the size
    stays within 1/sqrt(2) to sqrt(2) of the appearance's base size);
  * oscillate horizontally/vertically: a sine of the class's amplitude and
    period, from a random phase, offset so that it starts where the object is.

A background stretch is a sequence of BURSTS of `burst_frames` frames in the
STYLE of one random class: fragments of that class's motion with the
direction randomised at every burst: a translation at a uniform heading (a
random walk), a rotation or size change whose sign flips from burst to burst
(back-and-forth turns, a size wobble), an oscillation along a uniform axis
from a random phase. So the background's speeds follow the actions'
distribution (the styles are uniform, the actions' classes balanced), stretch
by stretch as well as on average, but its direction changes every few frames:
incoherent motion, not an action.

An OFF-CLASS background stretch instead keeps ONE motion for the whole stretch,
in the style of a random class but outside every class (`OFF_CLASS`): a
translation or an oscillation along a diagonal (the classes' axes +45 degrees,
+-15: halfway between two classes), a rotation swinging back and forth like a
pendulum, a size pulsing smoothly (the classes turn or change size one way
only), each at the class's speeds (the swing's and the pulse's mean speeds equal
the class's constant ones). Locally it looks like a blend of actions; nothing
in its temporal context gives it away (it does not change within the stretch),
so telling it from an action takes a feature of the clip itself: what TSP's
temporal-region head teaches and an action classifier (TAC) has no reason to
learn.
"""
from typing import NamedTuple, Sequence

import numpy as np

from jvrl.data import synthetic
from jvrl.data import synthetic_render

# Half the range of the log size: grow/shrink wrap around within it.
LOG_SCALE_HALF_RANGE = float(np.log(synthetic.SIZE_RATIO_RANGE[1]) / 2)
# How background stretches move (`render_path`'s `background_style`): 'bursts'
# (incoherent bursts), 'off_class' (one persistent motion outside the classes),
# 'mixed' (each stretch one of the two, with equal probability).
BACKGROUND_STYLES = ("bursts", "off_class", "mixed")
OFF_CLASS = 2  # the `sign` of a move that is one persistent off-class motion


class Path(NamedTuple):
  """Per-frame object state, float arrays [T] (floats for one state)."""
  center_x: np.ndarray   # px, unwrapped
  center_y: np.ndarray   # px, unwrapped
  angle: np.ndarray      # radians, positive = clockwise on screen
  log_scale: np.ndarray  # log of the size relative to the appearance's base size


def _class_motion(rng: np.random.Generator, label: int, start: Path, length: int,
                  scale: float, speed_range: tuple[float, float], sign: int = 0) -> Path:
  """`length` frames of class `label`'s motion continuing from the state `start`.

  Args:
    rng: draws the motion parameters.
    label: the class (index into `synthetic.MOTION_CLASSES`).
    start: the state one frame before the first returned frame (floats).
    length: frames to return.
    scale: pixel scale of the frame (`synthetic_render.pixel_scale`).
    speed_range: translation speed range, px/frame at 64x64.
    sign: 0 = the class's own motion; +1 or -1 = a background burst with the
      direction randomised: a uniform heading (translations) or axis
      (oscillations), or the given sign (rotations: +1 = clockwise; size
      changes: +1 = growing); OFF_CLASS = the class's style outside the class
      (see the module docstring).
  """
  if sign == OFF_CLASS:
    return _off_class_motion(rng, label, start, length, scale, speed_range)
  steps = np.arange(1, length + 1, dtype=np.float64)
  center_x, center_y, angle, log_scale = (np.full(length, float(v)) for v in start)
  if label in synthetic.TRANSLATION_HEADINGS:
    if sign:
      heading = rng.uniform(0, 2 * np.pi)
    else:
      heading = (synthetic.TRANSLATION_HEADINGS[label] +
                 rng.uniform(-1, 1) * np.deg2rad(synthetic.HEADING_JITTER_DEG))
    speed = rng.uniform(*speed_range) * scale
    center_x = center_x + speed * np.cos(heading) * steps
    center_y = center_y + speed * np.sin(heading) * steps
  elif label in synthetic.ROTATION_CLASSES:
    clockwise = sign > 0 if sign else label == synthetic.ROTATION_CLASSES[0]
    angular_speed = np.deg2rad(rng.uniform(*synthetic.ANGULAR_SPEED_DEG_RANGE))
    angle = angle + (1 if clockwise else -1) * angular_speed * steps
  elif label in synthetic.SIZE_CLASSES:
    grow = sign > 0 if sign else label == synthetic.SIZE_CLASSES[0]
    rate = (np.log(rng.uniform(*synthetic.SIZE_RATIO_RANGE)) /
            rng.uniform(*synthetic.SIZE_PERIOD_RANGE))
    half = LOG_SCALE_HALF_RANGE
    log_scale = -half + np.mod(log_scale + half + (1 if grow else -1) * rate * steps, 2 * half)
  else:  # synthetic.OSCILLATION_CLASSES
    if sign:
      axis = rng.uniform(0, np.pi)
    else:
      axis = 0.0 if label == synthetic.OSCILLATION_CLASSES[0] else np.pi / 2
    amplitude = rng.uniform(*synthetic.OSCILLATION_AMPLITUDE_RANGE) * scale
    period = rng.uniform(*synthetic.OSCILLATION_PERIOD_RANGE)
    phase = rng.uniform(0, 2 * np.pi)
    offset = amplitude * (np.sin(phase + 2 * np.pi * steps / period) - np.sin(phase))
    center_x = center_x + offset * np.cos(axis)
    center_y = center_y + offset * np.sin(axis)
  return Path(center_x, center_y, angle, log_scale)


def _off_class_motion(rng: np.random.Generator, label: int, start: Path, length: int,
                      scale: float, speed_range: tuple[float, float]) -> Path:
  """`length` frames of one persistent motion in class `label`'s style, outside every class."""
  steps = np.arange(1, length + 1, dtype=np.float64)
  center_x, center_y, angle, log_scale = (np.full(length, float(v)) for v in start)
  diagonal = np.pi / 4 + rng.uniform(-1, 1) * np.deg2rad(synthetic.HEADING_JITTER_DEG)
  period = rng.uniform(*synthetic.OSCILLATION_PERIOD_RANGE)
  phase = rng.uniform(0, 2 * np.pi)
  swing = np.sin(phase + 2 * np.pi * steps / period) - np.sin(phase)  # in [-2, 2]
  if label in synthetic.TRANSLATION_HEADINGS:
    heading = synthetic.TRANSLATION_HEADINGS[label] + diagonal
    speed = rng.uniform(*speed_range) * scale
    center_x = center_x + speed * np.cos(heading) * steps
    center_y = center_y + speed * np.sin(heading) * steps
  elif label in synthetic.ROTATION_CLASSES:
    # A sine of amplitude A and period P moves at a mean |speed| of 4A / P.
    angular_speed = np.deg2rad(rng.uniform(*synthetic.ANGULAR_SPEED_DEG_RANGE))
    angle = angle + angular_speed * period / 4 * swing
  elif label in synthetic.SIZE_CLASSES:
    rate = (np.log(rng.uniform(*synthetic.SIZE_RATIO_RANGE)) /
            rng.uniform(*synthetic.SIZE_PERIOD_RANGE))
    log_scale = log_scale + rate * period / 4 * swing
  else:  # synthetic.OSCILLATION_CLASSES: along a diagonal
    axis = (0.0 if label == synthetic.OSCILLATION_CLASSES[0] else np.pi / 2) + diagonal
    amplitude = rng.uniform(*synthetic.OSCILLATION_AMPLITUDE_RANGE) * scale
    offset = amplitude * swing
    center_x = center_x + offset * np.cos(axis)
    center_y = center_y + offset * np.sin(axis)
  return Path(center_x, center_y, angle, log_scale)


def _background_bursts(rng: np.random.Generator, length: int, num_classes: int,
                       burst_frames: tuple[int, int]) -> list[tuple[int, int, int]]:
  """(style class, frames, sign) of the bursts of a background stretch of `length` frames.

  One style (a uniform class) for the stretch; the sign alternates from burst
  to burst (rotations and size changes go back and forth).
  """
  style, sign = int(rng.integers(num_classes)), int(rng.choice((-1, 1)))
  bursts, done = [], 0
  while done < length:
    count = min(int(rng.integers(*burst_frames, endpoint=True)), length - done)
    bursts.append((style, count, sign))
    sign, done = -sign, done + count
  return bursts


def render_path(rng: np.random.Generator, pieces: Sequence[tuple[int, int]], *,
                num_classes: int, height: int, width: int, speed_range: tuple[float, float],
                burst_frames: tuple[int, int], background_style: str = "bursts") -> Path:
  """The object's state in every frame of a video made of `pieces`.

  Args:
    rng: draws the start state, then each piece's (and burst's) parameters.
    pieces: (label, frames) in time order; label -1 = a background stretch.
    num_classes: background bursts imitate the classes [0, num_classes).
    height, width: frame size (the start position is uniform over the frame).
    speed_range: translation speed range, px/frame at 64x64.
    burst_frames: (min, max) frames of a background burst (the last burst of
      a stretch is cut to fit).
    background_style: one of `BACKGROUND_STYLES` (see the module docstring).

  Returns:
    A `Path` of T = sum of the pieces' frames.
  """
  if background_style not in BACKGROUND_STYLES:
    raise ValueError(f"Unknown background_style {background_style!r}; known: "
                     f"{BACKGROUND_STYLES}.")
  scale = synthetic_render.pixel_scale(height, width)
  state = Path(rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0, 2 * np.pi),
               rng.uniform(-LOG_SCALE_HALF_RANGE, LOG_SCALE_HALF_RANGE))
  parts = []
  for label, length in pieces:
    if label >= 0:
      moves = [(label, length, 0)]
    elif not length:
      moves = []
    elif background_style == "off_class" or (
        background_style == "mixed" and rng.random() < 0.5):
      moves = [(int(rng.integers(num_classes)), length, OFF_CLASS)]
    else:
      moves = _background_bursts(rng, length, num_classes, burst_frames)
    for kind, count, sign in moves:
      parts.append(_class_motion(rng, kind, state, count, scale, speed_range, sign))
      state = Path(*(field[-1] for field in parts[-1]))
  if not parts:
    return Path(*(np.zeros(0) for _ in Path._fields))
  return Path(*(np.concatenate(fields) for fields in zip(*parts)))
