"""The built-in UNTRIMMED synthetic dataset: long videos with annotated actions (TSP).

Each video (96-160 frames at 64x64 by default) shows the trimmed dataset's
scene (`synthetic.py`: copies of one striped object over a smooth drifting
texture) with the objects moving all the time. It holds 1-3 ACTION SEGMENTS,
each one of the trimmed dataset's motion classes (move right, rotate
clockwise, grow, ...), in random order, separated by BACKGROUND stretches (the
video may also start and end with background). The annotations are exact:
segment [start, end) in frames, stored in microseconds (frame / fps), with
its class index and name.

The background must be told from the actions by the structure of the motion,
not by a shortcut (measured: `synthetic_untrimmed_stats`):
  * Motion energy. In background stretches the same objects keep moving, in
    bursts of a few frames (`background_burst_frames`) in the style of one
    random class per stretch, with the direction randomised at every burst: a
    random walk, back-and-forth turns, a size wobble, oscillation along
    random axes (`synthetic_untrimmed_motion`). The speeds follow the
    actions' distribution but the motion is incoherent, so the mean absolute
    frame difference of background and action frames agree (within ~5% over
    40 videos; equal clip energy distributions, AUC ~0.5).
  * Appearance. Background texture, colours and (`redraw_object_per_segment`)
    the object's shape and size are redrawn every `appearance_segment_frames`
    frames from a random phase per video, independently of the segments: a
    boundary falls on an appearance cut as often as chance says (1 / K).
  * Continuity. Every piece of motion starts where the previous one ended
    (position, angle, size), so no boundary shows as a jump.

Records (one `tf.train.SequenceExample` per video, see `jvrl.data.records`):
every frame, 'video/fps', 'video/filename' = 'synthetic_untrimmed/<split>/<index,
6 digits>', the segments ('segment/...'), and, for code that reads one label
per video, 'clip/label/index|text' = the class of the video's LONGEST action
segment (the first of equally long ones). No audio or captions.

Videos are deterministic: video `i` of split `s` is rendered from
`video_rng(cfg, s, i)`, and its segments' classes come from
`split_segment_labels` (balanced over the split's segments), so the same
config gives byte-identical records. `ensure_untrimmed_synthetic_dataset`
generates the splits once and caches them.

Sizing: the default dataset (320 + 192 + 96 videos of 96-160 64x64 frames,
~180 MB of JPEG) takes ~27 s of CPU time to generate (45 s wall on the 2-core
box while other jobs ran).
"""
import dataclasses
import os
from typing import Any, Mapping, NamedTuple, Optional, Sequence

import numpy as np

from jvrl.data import generated
from jvrl.data import records
from jvrl.data import synthetic
from jvrl.data import synthetic_render
from jvrl.data import synthetic_untrimmed_motion

GENERATOR_VERSION = 1  # Bump when rendering changes: it is part of the cache key.
SPLITS = generated.SPLITS
_STREAM = 0x756E74  # Separates this dataset's random streams from the trimmed one's.


@dataclasses.dataclass(frozen=True)
class UntrimmedSyntheticConfig(generated.SplitConfig):
  """What to generate. Changing any field changes the cache directory.

  Pixel quantities are given for a 64x64 frame and scaled with
  min(height, width) / 64, as in `synthetic.SyntheticConfig`.

  Attributes:
    num_classes: action classes, the first K of `synthetic.MOTION_CLASSES`.
    height, width: frame size in pixels (>= 16).
    fps: frames per second (sets the timestamps of the segments).
    num_frames_range: (min, max) frames per video.
    segments_per_video: (min, max) action segments per video.
    segment_frames_range: (min, max) frames of an action segment.
    background_frames_range: (min, max) frames of a background stretch
      BETWEEN two action segments; the leading and trailing stretches have 0
      to max frames. Every number of segments in `segments_per_video` must fit
      in `num_frames_range` with these lengths (checked).
    background_burst_frames: (min, max) frames of one burst of background
      motion (a direction-randomised fragment of a random class's motion).
    background_style: 'bursts' (each stretch a sequence of such bursts),
      'off_class' (each stretch one persistent motion in a class's style but
      outside every class: diagonal translations / oscillations, pendulum
      swings, size pulses) or 'mixed' (each stretch one of the two); see
      `synthetic_untrimmed_motion`.
    num_objects: copies of the object, all moving together (see the trimmed set).
    object_size_range: object diameter range (px at 64x64), drawn per
      appearance segment; the size changes of grow/shrink (and of background
      bursts) scale it by 1/sqrt(2) to sqrt(2).
    speed_range: translation speed range (px/frame at 64x64).
    background_drift_max: max drift speed of the background texture (px/frame
      at 64x64).
    appearance_segment_frames: the appearance (texture, colours) is redrawn
      every this many frames, from a random phase per video (0 = never).
    redraw_object_per_segment: also redraw the object's shape and size then.
    noise_std: std of the per-pixel (uniform) noise, intensities in [0, 1].
    train_videos, eval_train_videos, eval_test_videos: videos per split.
    train_shards, eval_train_shards, eval_test_shards: TFRecord files per split.
    seed: base seed of every random draw.
    jpeg_quality: JPEG quality of the stored frames.
  """
  num_classes: int = 10
  height: int = 64
  width: int = 64
  fps: float = 10.0
  num_frames_range: tuple[int, int] = (96, 160)
  segments_per_video: tuple[int, int] = (1, 3)
  segment_frames_range: tuple[int, int] = (24, 64)
  background_frames_range: tuple[int, int] = (16, 48)
  background_burst_frames: tuple[int, int] = (3, 8)
  background_style: str = "bursts"
  num_objects: int = 4
  object_size_range: tuple[float, float] = (12.0, 20.0)
  speed_range: tuple[float, float] = (1.0, 3.0)
  background_drift_max: float = 0.5
  appearance_segment_frames: int = 16
  redraw_object_per_segment: bool = True
  noise_std: float = 0.02
  train_videos: int = 320
  eval_train_videos: int = 192
  eval_test_videos: int = 96
  train_shards: int = 8
  eval_train_shards: int = 4
  eval_test_shards: int = 4
  seed: int = 0
  jpeg_quality: int = 90

  def __post_init__(self):
    self._to_float("fps", "background_drift_max", "noise_std")
    self._check_float_range("object_size_range", "speed_range")
    for name in ("num_frames_range", "segments_per_video", "segment_frames_range",
                 "background_frames_range", "background_burst_frames"):
      self._check_int_range(name, minimum=1)
    self._check_between("num_classes", 1, len(synthetic.MOTION_CLASSES))
    if self.height < 16 or self.width < 16:
      raise ValueError(f"height and width must be >= 16, got {self.height}x{self.width}.")
    self._check_positive("fps", "num_objects")
    self._check_non_negative("appearance_segment_frames", "background_drift_max", "noise_std")
    self._check_split_sizes()
    self._check_between("jpeg_quality", 1, 100)
    if self.background_style not in synthetic_untrimmed_motion.BACKGROUND_STYLES:
      raise ValueError(f"background_style={self.background_style!r} must be one of "
                       f"{synthetic_untrimmed_motion.BACKGROUND_STYLES}.")
    for count in range(self.segments_per_video[0], self.segments_per_video[1] + 1):
      low, high = self.num_frames_bounds(count)
      if low > high:
        raise ValueError(
            f"{count} action segments (segments_per_video={self.segments_per_video}) do not "
            f"fit num_frames_range={self.num_frames_range} with segment_frames_range="
            f"{self.segment_frames_range} and background_frames_range="
            f"{self.background_frames_range}.")

  def num_frames_bounds(self, num_segments: int) -> tuple[int, int]:
    """(min, max) video length with `num_segments` action segments."""
    seg_low, seg_high = self.segment_frames_range
    bg_low, bg_high = self.background_frames_range
    low = num_segments * seg_low + (num_segments - 1) * bg_low
    high = num_segments * seg_high + (num_segments + 1) * bg_high
    return max(low, self.num_frames_range[0]), min(high, self.num_frames_range[1])


def untrimmed_config_from_dict(d: Mapping[str, Any]) -> UntrimmedSyntheticConfig:
  """Builds the config from a dict or ConfigDict; unknown keys raise a ValueError naming them."""
  return generated.config_from_dict(UntrimmedSyntheticConfig, d,
                                    "untrimmed synthetic dataset")


def config_hash(cfg: UntrimmedSyntheticConfig) -> str:
  """Short hex digest of the config and both generator versions (the cache key).

  The trimmed dataset's GENERATOR_VERSION is included: its drawing is reused.
  """
  return generated.config_hash(_manifest(cfg))


def _manifest(cfg: UntrimmedSyntheticConfig) -> dict[str, Any]:
  return {"generator_version": GENERATOR_VERSION,
          "trimmed_generator_version": synthetic.GENERATOR_VERSION,
          **dataclasses.asdict(cfg)}


# ---------------------------------------------------------------------------
# Rendering.


class ActionSegment(NamedTuple):
  """One action segment: frames [start_frame, end_frame) of class `label`."""
  start_frame: int
  end_frame: int
  label: int
  label_text: str


def _draw_lengths(rng: np.random.Generator, num_segments: int,
                  cfg: UntrimmedSyntheticConfig) -> tuple[list[int], list[int]]:
  """Lengths of the background stretches [n + 1] and action segments [n].

  The video length is uniform over what fits; then each stretch and segment
  in random order is drawn uniformly among the lengths that leave the others
  a feasible remainder (the last one takes the rest).
  """
  total = int(rng.integers(*cfg.num_frames_bounds(num_segments), endpoint=True))
  bg_low, bg_high = cfg.background_frames_range
  bounds = ([(0, bg_high)] + [(bg_low, bg_high)] * (num_segments - 1) + [(0, bg_high)] +
            [cfg.segment_frames_range] * num_segments)
  lengths = [0] * len(bounds)
  remaining = total
  todo = [int(i) for i in rng.permutation(len(bounds))]
  for position, index in enumerate(todo):
    rest = todo[position + 1:]
    rest_low, rest_high = (sum(bounds[i][k] for i in rest) for k in (0, 1))
    low = max(bounds[index][0], remaining - rest_high)
    high = min(bounds[index][1], remaining - rest_low)
    lengths[index] = remaining if not rest else int(rng.integers(low, high, endpoint=True))
    remaining -= lengths[index]
  return lengths[:num_segments + 1], lengths[num_segments + 1:]


def appearance_starts(rng: np.random.Generator, num_frames: int,
                      cfg: UntrimmedSyntheticConfig) -> list[int]:
  """Start frames of the appearance segments: 0, then every K frames from a random phase."""
  period = cfg.appearance_segment_frames
  if period == 0:
    return [0]
  phase = int(rng.integers(1, period, endpoint=True))
  return [0] + list(range(phase, num_frames, period))


def render_untrimmed_video(rng: np.random.Generator, cfg: UntrimmedSyntheticConfig,
                           labels: Optional[Sequence[int]] = None) -> dict[str, Any]:
  """Renders one untrimmed video, deterministic given the rng state.

  Args:
    rng: the video's random generator (layout, motion and appearance).
    cfg: the dataset config.
    labels: classes of the action segments in time order (their count must be
      in `cfg.segments_per_video`); None = a count and classes drawn from rng.

  Returns:
    'frames':            uint8 [T, H, W, 3].
    'segments':          the `ActionSegment`s in time order.
    'frame_labels':      int32 [T], the class of each frame, -1 = background.
    'appearance_starts': int [K], frames where the appearance is redrawn
                         (0 first; every later one is an appearance cut).
    'object_path':       `synthetic_render.ObjectPath` of the first copy, [T]
                         each, its diameter at the first appearance's base
                         size (a redraw rescales it; for tests, not stored).
    'object_alpha':      float32 [T, H, W], the first copy's coverage (for tests).
  """
  if labels is None:
    count = int(rng.integers(*cfg.segments_per_video, endpoint=True))
    labels = rng.integers(cfg.num_classes, size=count)
  labels = [int(label) for label in labels]
  low, high = cfg.segments_per_video
  if not low <= len(labels) <= high:
    raise ValueError(
        f"{len(labels)} labels given; segments_per_video is {cfg.segments_per_video}.")
  if not all(0 <= label < cfg.num_classes for label in labels):
    raise ValueError(f"labels must be in [0, {cfg.num_classes}), got {labels}.")

  background_lengths, segment_lengths = _draw_lengths(rng, len(labels), cfg)
  pieces = [(-1, background_lengths[0])]
  for label, length, background in zip(labels, segment_lengths, background_lengths[1:]):
    pieces += [(label, length), (-1, background)]
  path = synthetic_untrimmed_motion.render_path(
      rng, pieces, num_classes=cfg.num_classes, height=cfg.height, width=cfg.width,
      speed_range=cfg.speed_range, burst_frames=cfg.background_burst_frames,
      background_style=cfg.background_style)
  frame_labels = np.concatenate([np.full(length, label, np.int32) for label, length in pieces])
  num_frames = len(frame_labels)

  scale = synthetic_render.pixel_scale(cfg.height, cfg.width)
  size_low, size_high = (s * scale for s in cfg.object_size_range)
  shape = synthetic_render.SHAPES[rng.integers(len(synthetic_render.SHAPES))]
  first_size = rng.uniform(size_low, size_high)
  offsets = synthetic_render.object_offsets(rng, cfg.num_objects, cfg.height, cfg.width)
  starts = appearance_starts(rng, num_frames, cfg)

  def redraw_object(rng: np.random.Generator, segment_path: synthetic_render.ObjectPath
                    ) -> tuple[str, synthetic_render.ObjectPath]:
    new_shape = synthetic_render.SHAPES[rng.integers(len(synthetic_render.SHAPES))]
    size = rng.uniform(size_low, size_high)
    return new_shape, segment_path._replace(diameter=segment_path.diameter * (size / first_size))

  object_path = synthetic_render.ObjectPath(path.center_x, path.center_y, path.angle,
                                            first_size * np.exp(path.log_scale))
  frames, alpha, _ = synthetic_render.render_appearance_segments(
      rng, object_path, starts, offsets, shape, height=cfg.height, width=cfg.width,
      drift_max=cfg.background_drift_max,
      redraw_object=redraw_object if cfg.redraw_object_per_segment else None)
  segments, start = [], 0
  for label, length in pieces:
    if label >= 0:
      segments.append(ActionSegment(start, start + length, label,
                                    synthetic.MOTION_CLASSES[label].name))
    start += length
  return {
      "frames": synthetic_render.quantize(rng, frames, cfg.noise_std),
      "segments": segments,
      "frame_labels": frame_labels,
      "appearance_starts": np.array(starts),
      "object_path": object_path,
      "object_alpha": alpha,
  }


# ---------------------------------------------------------------------------
# Splits, records and the cache.


def split_segment_labels(cfg: UntrimmedSyntheticConfig, split: str) -> list[np.ndarray]:
  """Classes of every video's action segments, int64 [n_i] per video, in time order.

  The segment counts are uniform in `cfg.segments_per_video`; the classes are
  balanced over all the split's segments (round-robin, then shuffled).
  """
  split_id = SPLITS.index(generated.check_split(split))
  rng = np.random.default_rng([cfg.seed, split_id, 2**31, _STREAM])
  counts = rng.integers(*cfg.segments_per_video, size=cfg.num_videos(split), endpoint=True)
  labels = rng.permutation(np.arange(counts.sum()) % cfg.num_classes)
  return np.split(labels, np.cumsum(counts)[:-1]) if len(counts) else []


def video_rng(cfg: UntrimmedSyntheticConfig, split: str, index: int) -> np.random.Generator:
  """The random generator of video `index` of `split`."""
  split_id = SPLITS.index(generated.check_split(split))
  return np.random.default_rng([cfg.seed, split_id, index, _STREAM])


def segment_annotations(segments: Sequence[ActionSegment], fps: float) -> list[records.Segment]:
  """The segments as `records.Segment`s: [start, end) frames -> microseconds (frame / fps)."""
  return [records.Segment(int(round(s.start_frame / fps * 1e6)),
                          int(round(s.end_frame / fps * 1e6)), s.label, s.label_text)
          for s in segments]


def make_video_record(cfg: UntrimmedSyntheticConfig, split: str, index: int,
                      labels: Sequence[int]) -> bytes:
  """Renders video `index` of `split` (segment classes `labels`); its serialized record."""
  video = render_untrimmed_video(video_rng(cfg, split, index), cfg, labels)
  longest = max(video["segments"], key=lambda s: s.end_frame - s.start_frame)
  example = records.make_sequence_example(
      jpeg_frames=records.encode_jpeg_frames(video["frames"], cfg.jpeg_quality),
      label=longest.label,
      label_text=longest.label_text,
      filename=f"synthetic_untrimmed/{split}/{index:06d}",
      fps=cfg.fps,
      start_us=0,
      end_us=int(round(len(video["frames"]) / cfg.fps * 1e6)),
      segments=segment_annotations(video["segments"], cfg.fps),
  )
  return example.SerializeToString(deterministic=True)


def generate_split(cfg: UntrimmedSyntheticConfig, split: str, output_dir: str,
                   num_workers: Optional[int] = None) -> list[str]:
  """Writes every video of `split` as `{split}-XXXXX-of-YYYYY.tfrecord` shards.

  Video i goes to shard i % num_shards; the bytes do not depend on
  `num_workers` (rendering threads; None = min(8, CPU count)). Returns the paths.
  """
  labels = split_segment_labels(cfg, split)
  return generated.write_split(lambda i: make_video_record(cfg, split, i, labels[i]),
                               len(labels), output_dir, cfg.num_shards(split), split,
                               num_workers)


def dataset_dir(cfg: UntrimmedSyntheticConfig, cache_dir: Optional[str] = None) -> str:
  """Directory of the cached dataset: `<cache_dir>/synthetic_untrimmed/<config hash>`."""
  return os.path.join(cache_dir or generated.default_cache_dir(), "synthetic_untrimmed",
                      config_hash(cfg))


def ensure_untrimmed_synthetic_dataset(cfg: UntrimmedSyntheticConfig,
                                       cache_dir: Optional[str] = None,
                                       num_workers: Optional[int] = None) -> dict[str, str]:
  """Generates the dataset once and caches it; returns split -> shard glob.

  Cached like the trimmed dataset (`generated.ensure_generated`): generated
  into a temporary sibling of `dataset_dir(cfg, cache_dir)`, completed with a
  `config.json`, renamed into place atomically.

  Args:
    cfg: the dataset config.
    cache_dir: cache root; None or '' = `$JVRL_CACHE_DIR`, else `~/.cache/jvrl`.
    num_workers: rendering threads (see `generate_split`).
  """
  target = dataset_dir(cfg, cache_dir)

  def generate(directory: str) -> None:
    for split in SPLITS:
      generate_split(cfg, split, directory, num_workers)

  generated.ensure_generated(target, generate, _manifest(cfg), "untrimmed synthetic dataset")
  return {split: records.shard_glob(target, split) for split in SPLITS}
