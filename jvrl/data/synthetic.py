"""The built-in synthetic motion dataset: classes decided by motion only.

Each video shows one object over a smooth random colour background. Its class
(one of `MOTION_CLASSES`) is the object's MOTION: translation right/left/up/down
(wrapping around the frame edges, torus-style), rotation clockwise/counter-
clockwise, growing/shrinking (sawtooth in size), or oscillation left-right/
up-down. Everything about the appearance is drawn per video independently of
the class: background texture, colours and slow drift (a nuisance camera-like
motion), object shape, colour, stripe texture, size and start position; the
motion parameters (speed, exact direction, phase, period) vary within a class.
So a single frame says nothing about the class, and a representation must
capture motion to classify these videos.

Conventions: image coordinates, x to the right, y DOWN; "clockwise" is as seen
on screen. Pixel quantities in `SyntheticConfig` (object sizes, speeds, drift)
are given for a 64x64 frame and scaled with min(height, width) / 64.

Every video also has a mono waveform whose base pitch depends on the class and
whose pitch/loudness follow the motion (speed, oscillation phase, size ramp),
and 2-3 captions naming the object's colour, shape and motion.

Videos are deterministic: video `i` of split `s` is rendered from
`np.random.default_rng([seed, split_id(s), i])`, so the same config always gives
byte-identical records. `ensure_synthetic_dataset` generates the splits once
and caches them (see its docstring).
"""
import dataclasses
import os
from typing import Any, Mapping, NamedTuple, Optional

import numpy as np

from jvrl.data import generated
from jvrl.data import records

GENERATOR_VERSION = 3  # Bump when rendering changes: it is part of the cache key.
SPLITS = ("train", "eval_train", "eval_test")
REFERENCE_SIZE = 64  # Pixel quantities in SyntheticConfig are for 64x64 frames.


class MotionClass(NamedTuple):
  """One class of the dataset: its name and caption phrases (first = canonical)."""
  name: str
  phrases: tuple[str, ...]


MOTION_CLASSES: tuple[MotionClass, ...] = (
    MotionClass("move_right", ("moves to the right", "slides right",
                               "travels from left to right", "drifts rightwards")),
    MotionClass("move_left", ("moves to the left", "slides left",
                              "travels from right to left", "drifts leftwards")),
    MotionClass("move_up", ("moves up", "rises", "travels upwards",
                            "slides toward the top")),
    MotionClass("move_down", ("moves down", "falls", "travels downwards",
                              "slides toward the bottom")),
    MotionClass("rotate_clockwise", ("rotates clockwise", "spins clockwise",
                                     "turns clockwise", "twirls in the clockwise direction")),
    MotionClass("rotate_counterclockwise", ("rotates counterclockwise", "spins anticlockwise",
                                            "turns counter-clockwise",
                                            "twirls in the anticlockwise direction")),
    MotionClass("grow", ("grows", "gets bigger", "expands", "increases in size")),
    MotionClass("shrink", ("shrinks", "gets smaller", "contracts", "decreases in size")),
    MotionClass("oscillate_horizontal", ("oscillates left and right", "swings from side to side",
                                         "moves back and forth horizontally",
                                         "sways left and right")),
    MotionClass("oscillate_vertical", ("oscillates up and down", "bobs up and down",
                                       "moves back and forth vertically",
                                       "bounces up and down")),
)

# Class -> heading of the translation classes (radians, y down).
_TRANSLATION_HEADINGS = {0: 0.0, 1: np.pi, 2: -np.pi / 2, 3: np.pi / 2}
# Base pitch (Hz) of each class's sound: whole-tone steps from 220 Hz.
_BASE_PITCH_HZ = 220.0 * 2.0 ** (np.arange(len(MOTION_CLASSES)) * 2.0 / 12.0)

SHAPES = ("disk", "square", "triangle", "ring", "cross")
# Named object colours (RGB in [0, 1]); the name goes into the captions.
COLOURS: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("red", (0.9, 0.1, 0.1)), ("green", (0.1, 0.8, 0.2)), ("blue", (0.1, 0.2, 0.9)),
    ("yellow", (0.95, 0.9, 0.1)), ("cyan", (0.1, 0.85, 0.9)), ("magenta", (0.9, 0.1, 0.85)),
    ("orange", (1.0, 0.55, 0.05)), ("purple", (0.5, 0.1, 0.7)), ("white", (0.97, 0.97, 0.97)),
    ("black", (0.05, 0.05, 0.05)),
)
_MIN_OBJECT_CONTRAST = 0.45  # Min RGB distance between object and background mean.


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
  """What to generate. Changing any field changes the cache directory.

  Attributes:
    num_classes: use the first K of `MOTION_CLASSES`, 1 <= K <= 10.
    height, width: frame size in pixels (>= 16).
    num_frames: frames per video.
    fps: frames per second (sets the clip timestamps and the audio length).
    sample_rate: audio samples per second; each video has
      round(num_frames / fps * sample_rate) samples.
    train_videos, eval_train_videos, eval_test_videos: videos per split
      (labels balanced: round-robin, then shuffled).
    seed: base seed of every random draw.
    background_drift_max: max background drift speed (px/frame at 64x64); the
      drift speed is uniform in [0, max], direction uniform.
    noise_std: std of the per-pixel (uniform) noise, intensities in [0, 1].
    object_size_range: object diameter range (px at 64x64).
    num_objects: copies of the object (same shape, colour and size) spread on
      a jittered grid, all moving with the video's motion, so that a random
      crop (CVRL's augmentation keeps as little as 30% of the frame) almost
      always still shows the motion.
    appearance_segment_frames: every this many frames the background texture
      and the object colour are drawn anew while the motion continues (0 =
      never). Two clips of one video then share their motion but rarely their
      appearance, so contrastive learning has to use motion to match them,
      the property the benchmark needs (captions name the first colour).
    redraw_object_per_segment: with appearance_segment_frames > 0, also draw
      the object's shape and (except for grow/shrink, whose size IS the
      motion) its size anew in every segment, so that nothing but the motion
      (and the copies' layout) links a video's segments; captions name the
      first shape.
    speed_range: translation speed range (px/frame at 64x64).
    jpeg_quality: JPEG quality of the stored frames.
    train_shards, eval_train_shards, eval_test_shards: TFRecord files per split.
  """
  num_classes: int = 10
  height: int = 64
  width: int = 64
  num_frames: int = 32
  fps: float = 10.0
  sample_rate: int = 8000
  train_videos: int = 1024
  eval_train_videos: int = 512
  eval_test_videos: int = 256
  seed: int = 0
  background_drift_max: float = 0.5
  noise_std: float = 0.02
  object_size_range: tuple[float, float] = (12.0, 24.0)
  num_objects: int = 4
  appearance_segment_frames: int = 8
  redraw_object_per_segment: bool = False
  speed_range: tuple[float, float] = (1.0, 3.0)
  jpeg_quality: int = 90
  train_shards: int = 8
  eval_train_shards: int = 4
  eval_test_shards: int = 4

  def __post_init__(self):
    for name in ("fps", "background_drift_max", "noise_std"):
      object.__setattr__(self, name, float(getattr(self, name)))
    for name in ("object_size_range", "speed_range"):
      value = tuple(float(v) for v in getattr(self, name))
      if len(value) != 2 or not 0 < value[0] <= value[1]:
        raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {value}.")
      object.__setattr__(self, name, value)
    if not 1 <= self.num_classes <= len(MOTION_CLASSES):
      raise ValueError(
          f"num_classes must be in [1, {len(MOTION_CLASSES)}], got {self.num_classes}.")
    if self.height < 16 or self.width < 16:
      raise ValueError(f"height and width must be >= 16, got {self.height}x{self.width}.")
    if self.appearance_segment_frames < 0:
      raise ValueError("appearance_segment_frames must be >= 0, got "
                       f"{self.appearance_segment_frames}.")
    positive = ("num_frames", "fps", "sample_rate", "num_objects", "train_shards",
                "eval_train_shards",
                "eval_test_shards")
    for name in positive:
      if not getattr(self, name) > 0:
        raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")
    for name in ("train_videos", "eval_train_videos", "eval_test_videos"):
      if getattr(self, name) < 0:
        raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
    if self.background_drift_max < 0 or self.noise_std < 0:
      raise ValueError("background_drift_max and noise_std must be >= 0, got "
                       f"{self.background_drift_max} and {self.noise_std}.")
    if not 1 <= self.jpeg_quality <= 100:
      raise ValueError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}.")

  def num_videos(self, split: str) -> int:
    """Number of videos of `split`."""
    return getattr(self, f"{_check_split(split)}_videos")

  def num_shards(self, split: str) -> int:
    """Number of TFRecord shards of `split`."""
    return getattr(self, f"{_check_split(split)}_shards")


def _check_split(split: str) -> str:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
  return split


def synthetic_config_from_dict(d: Mapping[str, Any]) -> SyntheticConfig:
  """Builds a `SyntheticConfig` from a dict or `ml_collections.ConfigDict`.

  Missing keys take the defaults; unknown keys raise a ValueError naming them.
  """
  return generated.config_from_dict(SyntheticConfig, d, "synthetic dataset")


def config_hash(cfg: SyntheticConfig) -> str:
  """Short hex digest of the config and generator version (the cache key)."""
  return generated.config_hash({"version": GENERATOR_VERSION, **dataclasses.asdict(cfg)})


# ---------------------------------------------------------------------------
# Rendering.


class _Motion(NamedTuple):
  """Per-frame object state, arrays of shape [T]."""
  center_x: np.ndarray  # px, unwrapped (wrapped at render time)
  center_y: np.ndarray
  angle: np.ndarray     # radians, positive = clockwise on screen
  diameter: np.ndarray  # px
  signal: np.ndarray    # motion signal in [-1, 1] driving the sound


def _sample_motion(rng: np.random.Generator, label: int, cfg: SyntheticConfig) -> _Motion:
  """Draws the class's motion with per-video speed/direction/phase/period."""
  scale = min(cfg.height, cfg.width) / REFERENCE_SIZE
  t = np.arange(cfg.num_frames, dtype=np.float64)
  ones = np.ones_like(t)
  x0, y0 = rng.uniform(0, cfg.width), rng.uniform(0, cfg.height)
  angle0 = rng.uniform(0, 2 * np.pi)
  size_low, size_high = (s * scale for s in cfg.object_size_range)
  diameter = rng.uniform(size_low, size_high) * ones
  center_x, center_y, angle = x0 * ones, y0 * ones, angle0 * ones

  if label in _TRANSLATION_HEADINGS:
    heading = _TRANSLATION_HEADINGS[label] + rng.uniform(-1, 1) * np.deg2rad(15)
    speed = rng.uniform(*cfg.speed_range) * scale
    center_x = x0 + speed * np.cos(heading) * t
    center_y = y0 + speed * np.sin(heading) * t
    signal = speed / (cfg.speed_range[1] * scale) * ones
  elif label in (4, 5):
    angular_speed = np.deg2rad(rng.uniform(6, 15)) * (1 if label == 4 else -1)
    angle = angle0 + angular_speed * t
    signal = angular_speed / np.deg2rad(15) * ones
  elif label in (6, 7):
    ratio = rng.uniform(1.6, 2.0)  # size ratio over one sawtooth period
    period = rng.uniform(10, 16)   # frames
    ramp = np.mod(t / period + rng.uniform(), 1.0)
    if label == 7:
      ramp = 1.0 - ramp
    low = rng.uniform(size_low, max(size_low, size_high / ratio))
    diameter = low * ratio ** ramp
    signal = 2 * ramp - 1
  else:  # 8, 9: oscillation
    amplitude = rng.uniform(5, 10) * scale
    period = rng.uniform(8, 14)
    phase = 2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)
    if label == 8:
      center_x = x0 + amplitude * np.sin(phase)
    else:
      center_y = y0 + amplitude * np.sin(phase)
    signal = np.sin(phase)
  return _Motion(center_x, center_y, angle, diameter, signal)


def _shape_distance(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
  """Signed distance (approx.) to a shape of radius ~1 in object coordinates."""
  if shape == "disk":
    return np.hypot(u, v) - 1.0
  if shape == "square":
    return np.maximum(np.abs(u), np.abs(v)) - 0.75
  if shape == "triangle":  # equilateral, one vertex up (-v), inradius 0.55
    normals = np.deg2rad(np.array([90.0, 210.0, 330.0]))
    faces = [np.cos(a) * u + np.sin(a) * v for a in normals]
    return np.maximum(np.maximum(faces[0], faces[1]), faces[2]) - 0.55
  if shape == "ring":
    return np.abs(np.hypot(u, v) - 0.7) - 0.3
  if shape == "cross":
    au, av = np.abs(u), np.abs(v)
    return np.minimum(np.maximum(au - 1.0, av - 0.3), np.maximum(au - 0.3, av - 1.0))
  raise ValueError(f"Unknown shape {shape!r}; expected one of {SHAPES}.")


def _render_background(rng: np.random.Generator,
                       cfg: SyntheticConfig) -> tuple[np.ndarray, np.ndarray]:
  """Smooth drifting colour texture: a mean colour plus 3 periodic gratings.

  Returns:
    (float32 [T, H, W, 3] frames, roughly in [0, 1]; float [3] mean colour).
  """
  height, width, frames = cfg.height, cfg.width, cfg.num_frames
  scale = min(height, width) / REFERENCE_SIZE
  num_gratings = 3
  mean = rng.uniform(0.3, 0.7, size=3)
  freqs = rng.integers(-3, 4, size=(num_gratings, 2))
  freqs[np.all(freqs == 0, axis=1)] = (1, 0)
  phases = rng.uniform(0, 2 * np.pi, size=num_gratings)
  amplitudes = rng.uniform(0.05, 0.15, size=num_gratings)
  colours = rng.uniform(-1, 1, size=(num_gratings, 3)) * amplitudes[:, None]
  drift_speed = rng.uniform(0, cfg.background_drift_max) * scale
  drift_heading = rng.uniform(0, 2 * np.pi)

  # Grating k at pixel (y, x) of frame t: sin(spatial[k, y, x] + temporal[k, t]),
  # the pattern shifted by the drift. sin(a + b) = sin a cos b + cos a sin b
  # makes it one [T, 2K] x [2K, H*W*3] product (einsum: no BLAS threads, which
  # are erratic on a loaded machine).
  t = np.arange(frames)
  shift_x = drift_speed * np.cos(drift_heading) * t
  shift_y = drift_speed * np.sin(drift_heading) * t
  y, x = np.mgrid[0:height, 0:width]
  spatial = 2 * np.pi * (freqs[:, 0, None, None] * x / width +
                         freqs[:, 1, None, None] * y / height)  # [K, H, W]
  temporal = phases[:, None] - 2 * np.pi * (freqs[:, 0, None] * shift_x / width +
                                            freqs[:, 1, None] * shift_y / height)  # [K, T]
  time_factors = np.concatenate([np.cos(temporal), np.sin(temporal)]).T  # [T, 2K]
  space_factors = np.concatenate([np.sin(spatial), np.cos(spatial)])  # [2K, H, W]
  coloured = space_factors[..., None] * np.concatenate([colours, colours])[:, None, None, :]
  background = np.einsum("tk,kn->tn", time_factors.astype(np.float32),
                         coloured.reshape(2 * num_gratings, -1).astype(np.float32))
  background += np.tile(mean, height * width).astype(np.float32)  # mean of every (y, x, c)
  return background.reshape(frames, height, width, 3), mean


def _choose_colour(rng: np.random.Generator,
                   background_mean: np.ndarray) -> tuple[str, np.ndarray]:
  """A named colour far enough from the background mean; returns (name, rgb)."""
  names = [name for name, rgb in COLOURS
           if np.linalg.norm(np.array(rgb) - background_mean) >= _MIN_OBJECT_CONTRAST]
  name = names[rng.integers(len(names))]
  rgb = np.clip(np.array(dict(COLOURS)[name]) + rng.uniform(-0.05, 0.05, size=3), 0, 1)
  return name, rgb


def _object_window(center: np.ndarray, extent: int, size: int) -> np.ndarray:
  """Pixel indices [T, extent] of a window around each frame's centre, wrapped."""
  start = np.floor(np.mod(center, size)).astype(np.int64) - extent // 2
  return np.mod(start[:, None] + np.arange(extent), size)


def _composite_object(rng: np.random.Generator, frames: np.ndarray, motion: _Motion,
                      shape: str, colour: np.ndarray) -> np.ndarray:
  """Draws the striped object over `frames` in place; returns its alpha [T, H, W].

  Only a window around the object is rendered (wrapping around the frame
  edges), so the cost does not grow with the frame size.
  """
  frames_count, height, width, _ = frames.shape
  # Every shape fits in a disk of 1.1 radius; +3 px margin for anti-aliasing.
  extent = int(np.ceil(1.1 * motion.diameter.max())) + 3
  rows = _object_window(motion.center_y, min(extent, height), height)  # [T, h]
  cols = _object_window(motion.center_x, min(extent, width), width)  # [T, w]
  cy = np.mod(motion.center_y, height)[:, None, None]
  cx = np.mod(motion.center_x, width)[:, None, None]
  # Offsets on the torus, in [-size/2, size/2): the object wraps around the edges.
  dy = np.mod(rows[:, :, None] - cy + height / 2, height) - height / 2
  dx = np.mod(cols[:, None, :] - cx + width / 2, width) - width / 2
  radius = (motion.diameter / 2)[:, None, None]
  cos, sin = np.cos(motion.angle)[:, None, None], np.sin(motion.angle)[:, None, None]
  u = (cos * dx + sin * dy) / radius
  v = (-sin * dx + cos * dy) / radius
  alpha = np.clip(0.5 - _shape_distance(shape, u, v) * radius, 0.0, 1.0)[..., None]

  # Stripes across the object's own u axis make rotation visible on any shape.
  # They are a darker (or, on dark colours, lighter) shade of the object's
  # colour covering ~40% of it, so the captioned colour stays the dominant one.
  stripe_count = rng.uniform(1.5, 3.0)
  stripe_contrast = rng.uniform(0.4, 0.7)
  if colour.mean() > 0.4:
    stripe_colour = colour * (1.0 - stripe_contrast)
  else:
    stripe_colour = colour + stripe_contrast * (1.0 - colour)
  wave = np.sin(np.pi * stripe_count * u + rng.uniform(0, 2 * np.pi))
  stripes = np.clip(0.5 + 2.0 * (wave - 0.3), 0.0, 1.0)[..., None]
  rgb = colour + stripes * (stripe_colour - colour)

  index = (np.arange(frames_count)[:, None, None], rows[:, :, None], cols[:, None, :])
  window = frames[index]
  frames[index] = (window + alpha * (rgb - window)).astype(frames.dtype)
  full_alpha = np.zeros((frames_count, height, width), np.float32)
  full_alpha[index] = alpha[..., 0]
  return full_alpha


def _render_waveform(rng: np.random.Generator, label: int, motion: _Motion,
                     cfg: SyntheticConfig) -> np.ndarray:
  """Class pitch with motion-following pitch/loudness, plus noise: float32 [S] in [-1, 1]."""
  num_samples = int(round(cfg.num_frames / cfg.fps * cfg.sample_rate))
  frame_position = np.arange(num_samples) / cfg.sample_rate * cfg.fps
  signal = np.interp(frame_position, np.arange(cfg.num_frames), motion.signal)
  pitch = _BASE_PITCH_HZ[label] * rng.uniform(0.97, 1.03) * (1.0 + 0.15 * signal)
  phase = 2 * np.pi * np.cumsum(pitch) / cfg.sample_rate + rng.uniform(0, 2 * np.pi)
  loudness = 0.5 * (0.6 + 0.4 * np.abs(signal))
  tone = (np.sin(phase) + 0.3 * np.sin(2 * phase)) / 1.3
  wave = loudness * tone + rng.normal(0.0, 0.02, size=num_samples)
  return np.clip(wave, -1.0, 1.0).astype(np.float32)


def _captions(rng: np.random.Generator, label: int, colour_name: str, shape: str) -> list[str]:
  phrases = MOTION_CLASSES[label].phrases
  count = int(rng.integers(2, 4))
  chosen = rng.choice(len(phrases), size=min(count, len(phrases)), replace=False)
  indefinite = "an" if colour_name[0] in "aeiou" else "a"
  articles = rng.choice([indefinite, "the"], size=len(chosen))
  return [f"{article} {colour_name} {shape} {phrases[i]}"
          for article, i in zip(articles, chosen)]


def _object_offsets(rng: np.random.Generator, cfg: SyntheticConfig) -> np.ndarray:
  """[num_objects, 2] (x, y) offsets of the copies: a jittered grid over the frame.

  The first copy has offset (0, 0) (it is the object `_sample_motion` placed).
  """
  cols = int(np.ceil(np.sqrt(cfg.num_objects)))
  rows = int(np.ceil(cfg.num_objects / cols))
  cells = np.stack(np.meshgrid(np.arange(cols), np.arange(rows)), -1).reshape(-1, 2)
  cells = cells[:cfg.num_objects].astype(np.float64)
  jitter = rng.uniform(-0.15, 0.15, size=cells.shape)
  jitter[0] = 0.0
  return (cells + jitter) * np.array([cfg.width / cols, cfg.height / rows])


def render_video(rng: np.random.Generator, label: int, cfg: SyntheticConfig) -> dict[str, Any]:
  """Renders one video of class `label`, deterministic given the rng state.

  Args:
    rng: the video's random generator (appearance and motion parameters).
    label: class index in [0, cfg.num_classes).
    cfg: the dataset config (frame size, length, fps, sample rate, noise...).

  Returns:
    'frames':       uint8 [T, H, W, 3].
    'waveform':     float32 [S] in [-1, 1], S = round(T / fps * sample_rate).
    'captions':     2-3 captions (str) naming colour, shape and motion.
    'label_text':   the class name, e.g. 'move_right'.
    'object_alpha': float32 [T, H, W] in [0, 1], the FIRST object's coverage
                    (for tests and visualisation; not stored in records).
    'shape', 'colour': the object's shape and colour names.
  """
  if not 0 <= label < cfg.num_classes:
    raise ValueError(f"label must be in [0, {cfg.num_classes}), got {label}.")
  shape = first_shape = SHAPES[rng.integers(len(SHAPES))]
  motion = _sample_motion(rng, label, cfg)
  size_low, size_high = (s * min(cfg.height, cfg.width) / REFERENCE_SIZE
                         for s in cfg.object_size_range)
  offsets = _object_offsets(rng, cfg)
  segment = cfg.appearance_segment_frames or cfg.num_frames
  segment_frames, alphas, colour_names = [], [], []
  for start in range(0, cfg.num_frames, segment):
    # A new background and object colour per segment; the motion goes on.
    length = min(segment, cfg.num_frames - start)
    frames, background_mean = _render_background(
        rng, dataclasses.replace(cfg, num_frames=length))
    colour_name, colour = _choose_colour(rng, background_mean)
    colour_names.append(colour_name)
    segment_motion = _Motion(*(field[start:start + length] for field in motion))
    if cfg.redraw_object_per_segment and start > 0:
      shape = SHAPES[rng.integers(len(SHAPES))]
      if label not in (6, 7):  # grow / shrink: the size is the motion
        segment_motion = segment_motion._replace(
            diameter=np.full(length, rng.uniform(size_low, size_high)))
    for copy_index, (offset_x, offset_y) in enumerate(offsets):
      copy = segment_motion._replace(center_x=segment_motion.center_x + offset_x,
                                     center_y=segment_motion.center_y + offset_y)
      copy_alpha = _composite_object(rng, frames, copy, shape, colour)
      if copy_index == 0:
        alphas.append(copy_alpha)
    segment_frames.append(frames)
  frames, alpha, colour_name = np.concatenate(segment_frames), np.concatenate(alphas), colour_names[0]
  # Uniform per-pixel noise of standard deviation noise_std (uniform: cheap to draw).
  noise = rng.random(size=frames.shape, dtype=np.float32) - np.float32(0.5)
  noise *= np.float32(np.sqrt(12.0) * cfg.noise_std)
  frames += noise
  frames *= np.float32(255.0)
  frames += np.float32(0.5)  # Round to nearest on the cast below.
  np.clip(frames, 0.0, 255.0, out=frames)
  return {
      "frames": frames.astype(np.uint8),
      "waveform": _render_waveform(rng, label, motion, cfg),
      "captions": _captions(rng, label, colour_name, first_shape),
      "label_text": MOTION_CLASSES[label].name,
      "object_alpha": alpha,
      "shape": first_shape,
      "colour": colour_name,
  }


# ---------------------------------------------------------------------------
# Splits, records and the cache.


def split_labels(cfg: SyntheticConfig, split: str) -> np.ndarray:
  """Labels of the videos of `split`: int64 [N], balanced round-robin then shuffled."""
  split_id = SPLITS.index(_check_split(split))
  labels = np.arange(cfg.num_videos(split)) % cfg.num_classes
  return np.random.default_rng([cfg.seed, split_id, 2**31]).permutation(labels)


def video_rng(cfg: SyntheticConfig, split: str, index: int) -> np.random.Generator:
  """The random generator of video `index` of `split`: default_rng([seed, split_id, index])."""
  return np.random.default_rng([cfg.seed, SPLITS.index(_check_split(split)), index])


def make_video_record(cfg: SyntheticConfig, split: str, index: int, label: int) -> bytes:
  """Renders video `index` of `split` and returns its serialized SequenceExample."""
  video = render_video(video_rng(cfg, split, index), int(label), cfg)
  example = records.make_sequence_example(
      jpeg_frames=records.encode_jpeg_frames(video["frames"], cfg.jpeg_quality),
      label=int(label),
      label_text=video["label_text"],
      captions=video["captions"],
      waveform=video["waveform"],
      filename=f"synthetic/{split}/{index:06d}",
      fps=cfg.fps,
      sample_rate=cfg.sample_rate,
      start_us=0,
      end_us=int(round(cfg.num_frames / cfg.fps * 1e6)),
  )
  return example.SerializeToString()


def generate_split(cfg: SyntheticConfig, split: str, output_dir: str,
                   num_workers: Optional[int] = None) -> list[str]:
  """Writes every video of `split` as `{split}-XXXXX-of-YYYYY.tfrecord` shards.

  Video i goes to shard i % num_shards (see `records.RecordWriter`). The bytes
  written do not depend on `num_workers`.

  Args:
    cfg: the dataset config.
    split: one of `SPLITS`.
    output_dir: directory of the shards (created if needed).
    num_workers: rendering threads; None = min(8, CPU count).

  Returns:
    The shard paths.
  """
  labels = split_labels(cfg, split)
  return generated.write_split(lambda i: make_video_record(cfg, split, i, labels[i]),
                               len(labels), output_dir, cfg.num_shards(split), split,
                               num_workers)


default_cache_dir = generated.default_cache_dir  # `$JVRL_CACHE_DIR`, else `~/.cache/jvrl`.


def dataset_dir(cfg: SyntheticConfig, cache_dir: Optional[str] = None) -> str:
  """Directory of the cached dataset: `<cache_dir>/synthetic/<config hash>`."""
  return os.path.join(cache_dir or default_cache_dir(), "synthetic", config_hash(cfg))


def split_globs(directory: str) -> dict[str, str]:
  """Split -> glob of its shards in a generated dataset directory."""
  return {split: records.shard_glob(directory, split) for split in SPLITS}


def ensure_synthetic_dataset(cfg: SyntheticConfig, cache_dir: Optional[str] = None,
                             num_workers: Optional[int] = None) -> dict[str, str]:
  """Generates the dataset once and caches it; returns split -> shard glob.

  The dataset lives in `dataset_dir(cfg, cache_dir)`. It is generated into a
  temporary sibling directory (`.tmp-<hash>-<pid>-<random>`), completed with a
  `config.json`, then renamed into place in one `os.rename`, so an interrupted
  generation is never mistaken for a complete one. When several processes
  generate concurrently the first rename wins and the others discard theirs
  (all produce identical records); see `generated.ensure_generated`.

  Args:
    cfg: the dataset config.
    cache_dir: cache root; None or '' = `default_cache_dir()`.
    num_workers: rendering threads (see `generate_split`).
  """
  target = dataset_dir(cfg, cache_dir)

  def generate(directory: str) -> None:
    for split in SPLITS:
      generate_split(cfg, split, directory, num_workers)

  generated.ensure_generated(
      target, generate, {"generator_version": GENERATOR_VERSION, **dataclasses.asdict(cfg)},
      "synthetic dataset")
  return split_globs(target)
