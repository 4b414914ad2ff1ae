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

The drawing itself (backgrounds, objects, copies, noise) is in
`synthetic_render.py`, shared with the untrimmed dataset.

Videos are deterministic: video `i` of split `s` is rendered from
`np.random.default_rng([seed, split_id(s), i])`, so the same config always gives
byte-identical records. `ensure_synthetic_dataset` generates the splits once
and caches them (see its docstring).
"""
import dataclasses
import os
from typing import Any, Mapping, NamedTuple, Optional

import numpy as np

from jvrl.data import flow_quantization
from jvrl.data import generated
from jvrl.data import records
from jvrl.data import synthetic_render

GENERATOR_VERSION = 3  # Bump when rendering changes: it is part of the cache key.
SPLITS = generated.SPLITS  # ("train", "eval_train", "eval_test")
REFERENCE_SIZE = synthetic_render.REFERENCE_SIZE  # SyntheticConfig's pixel sizes: at 64x64.


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
TRANSLATION_HEADINGS = {0: 0.0, 1: np.pi, 2: -np.pi / 2, 3: np.pi / 2}
ROTATION_CLASSES = (4, 5)     # clockwise, counterclockwise
SIZE_CLASSES = (6, 7)         # grow, shrink
OSCILLATION_CLASSES = (8, 9)  # horizontal, vertical
# Ranges (uniform) of the per-video motion parameters of each kind of class
# (the translation speed range is `SyntheticConfig.speed_range`); shared with
# the untrimmed dataset (synthetic_untrimmed.py).
HEADING_JITTER_DEG = 15.0                  # translations: +- around the class heading
ANGULAR_SPEED_DEG_RANGE = (6.0, 15.0)      # rotations: degrees per frame
SIZE_RATIO_RANGE = (1.6, 2.0)              # grow/shrink: size ratio over one sawtooth period
SIZE_PERIOD_RANGE = (10.0, 16.0)           # grow/shrink: sawtooth period, frames
OSCILLATION_AMPLITUDE_RANGE = (5.0, 10.0)  # oscillations: px at 64x64
OSCILLATION_PERIOD_RANGE = (8.0, 14.0)     # oscillations: frames
# Base pitch (Hz) of each class's sound: whole-tone steps from 220 Hz.
_BASE_PITCH_HZ = 220.0 * 2.0 ** (np.arange(len(MOTION_CLASSES)) * 2.0 / 12.0)

SHAPES = synthetic_render.SHAPES

@dataclasses.dataclass(frozen=True)
class SyntheticConfig(generated.SplitConfig):
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
    flow: also store each video's EXACT optical flow (`synthetic_render`:
      the objects' and the background's motion, frame t -> t+1) as
      'flow/encoded' (`jvrl.data.records`, method 'exact'); the frames are
      the same either way.
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
  flow: bool = False
  train_shards: int = 8
  eval_train_shards: int = 4
  eval_test_shards: int = 4

  def __post_init__(self):
    self._to_float("fps", "background_drift_max", "noise_std")
    self._check_float_range("object_size_range", "speed_range")
    self._check_between("num_classes", 1, len(MOTION_CLASSES))
    if self.height < 16 or self.width < 16:
      raise ValueError(f"height and width must be >= 16, got {self.height}x{self.width}.")
    self._check_non_negative("appearance_segment_frames", "background_drift_max", "noise_std")
    self._check_positive("num_frames", "fps", "sample_rate", "num_objects")
    self._check_split_sizes()
    self._check_between("jpeg_quality", 1, 100)


def synthetic_config_from_dict(d: Mapping[str, Any]) -> SyntheticConfig:
  """Builds a `SyntheticConfig` from a dict or `ml_collections.ConfigDict`.

  Missing keys take the defaults; unknown keys raise a ValueError naming them.
  """
  return generated.config_from_dict(SyntheticConfig, d, "synthetic dataset")


def config_hash(cfg: SyntheticConfig) -> str:
  """Short hex digest of the config and generator version (the cache key). `flow` counts
  only when set, so datasets cached before it existed keep their key."""
  fields = dataclasses.asdict(cfg)
  if not fields["flow"]:
    del fields["flow"]
  return generated.config_hash({"version": GENERATOR_VERSION, **fields})


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
  scale = synthetic_render.pixel_scale(cfg.height, cfg.width)
  t = np.arange(cfg.num_frames, dtype=np.float64)
  ones = np.ones_like(t)
  x0, y0 = rng.uniform(0, cfg.width), rng.uniform(0, cfg.height)
  angle0 = rng.uniform(0, 2 * np.pi)
  size_low, size_high = (s * scale for s in cfg.object_size_range)
  diameter = rng.uniform(size_low, size_high) * ones
  center_x, center_y, angle = x0 * ones, y0 * ones, angle0 * ones

  if label in TRANSLATION_HEADINGS:
    heading = TRANSLATION_HEADINGS[label] + rng.uniform(-1, 1) * np.deg2rad(HEADING_JITTER_DEG)
    speed = rng.uniform(*cfg.speed_range) * scale
    center_x = x0 + speed * np.cos(heading) * t
    center_y = y0 + speed * np.sin(heading) * t
    signal = speed / (cfg.speed_range[1] * scale) * ones
  elif label in ROTATION_CLASSES:
    angular_speed = np.deg2rad(rng.uniform(*ANGULAR_SPEED_DEG_RANGE)) * (1 if label == 4 else -1)
    angle = angle0 + angular_speed * t
    signal = angular_speed / np.deg2rad(ANGULAR_SPEED_DEG_RANGE[1]) * ones
  elif label in SIZE_CLASSES:
    ratio = rng.uniform(*SIZE_RATIO_RANGE)
    period = rng.uniform(*SIZE_PERIOD_RANGE)
    ramp = np.mod(t / period + rng.uniform(), 1.0)
    if label == 7:
      ramp = 1.0 - ramp
    low = rng.uniform(size_low, max(size_low, size_high / ratio))
    diameter = low * ratio ** ramp
    signal = 2 * ramp - 1
  else:  # OSCILLATION_CLASSES
    amplitude = rng.uniform(*OSCILLATION_AMPLITUDE_RANGE) * scale
    period = rng.uniform(*OSCILLATION_PERIOD_RANGE)
    phase = 2 * np.pi * t / period + rng.uniform(0, 2 * np.pi)
    if label == 8:
      center_x = x0 + amplitude * np.sin(phase)
    else:
      center_y = y0 + amplitude * np.sin(phase)
    signal = np.sin(phase)
  return _Motion(center_x, center_y, angle, diameter, signal)


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
    'flow':         float32 [T - 1, H, W, 2] exact optical flow in pixels,
                    with `cfg.flow` only.
  """
  if not 0 <= label < cfg.num_classes:
    raise ValueError(f"label must be in [0, {cfg.num_classes}), got {label}.")
  shape = SHAPES[rng.integers(len(SHAPES))]
  motion = _sample_motion(rng, label, cfg)
  size_low, size_high = (s * synthetic_render.pixel_scale(cfg.height, cfg.width)
                         for s in cfg.object_size_range)
  offsets = synthetic_render.object_offsets(rng, cfg.num_objects, cfg.height, cfg.width)

  def redraw_object(rng: np.random.Generator,
                    path: synthetic_render.ObjectPath) -> tuple[str, synthetic_render.ObjectPath]:
    new_shape = SHAPES[rng.integers(len(SHAPES))]
    if label not in SIZE_CLASSES:  # grow / shrink: the size is the motion
      path = path._replace(diameter=np.full(len(path.diameter), rng.uniform(size_low, size_high)))
    return new_shape, path

  # A new background and object colour per appearance segment; the motion goes on.
  frames, alpha, colour_names, *flow = synthetic_render.render_appearance_segments(
      rng, synthetic_render.ObjectPath(motion.center_x, motion.center_y, motion.angle,
                                       motion.diameter),
      list(range(0, cfg.num_frames, cfg.appearance_segment_frames or cfg.num_frames)), offsets,
      shape, height=cfg.height, width=cfg.width, drift_max=cfg.background_drift_max,
      redraw_object=redraw_object if cfg.redraw_object_per_segment else None,
      with_flow=cfg.flow)
  frames = synthetic_render.quantize(rng, frames, cfg.noise_std)
  extra = {"flow": flow[0]} if cfg.flow else {}
  return {
      "frames": frames,
      "waveform": _render_waveform(rng, label, motion, cfg),
      "captions": _captions(rng, label, colour_names[0], shape),
      "label_text": MOTION_CLASSES[label].name,
      "object_alpha": alpha,
      "shape": shape,
      "colour": colour_names[0],
      **extra,
  }


# ---------------------------------------------------------------------------
# Splits, records and the cache.


def split_labels(cfg: SyntheticConfig, split: str) -> np.ndarray:
  """Labels of the videos of `split`: int64 [N], balanced round-robin then shuffled."""
  split_id = SPLITS.index(generated.check_split(split))
  labels = np.arange(cfg.num_videos(split)) % cfg.num_classes
  return np.random.default_rng([cfg.seed, split_id, 2**31]).permutation(labels)


def video_rng(cfg: SyntheticConfig, split: str, index: int) -> np.random.Generator:
  """The random generator of video `index` of `split`: default_rng([seed, split_id, index])."""
  return np.random.default_rng([cfg.seed, SPLITS.index(generated.check_split(split)), index])


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
      **({"flow_jpegs": flow_quantization.encode_flow_jpegs(video["flow"]),
          "flow_bound": flow_quantization.FLOW_BOUND, "flow_method": "exact"}
         if cfg.flow else {}),
  )
  # deterministic: context map entries sorted by key (else their order varies by process).
  return example.SerializeToString(deterministic=True)


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
