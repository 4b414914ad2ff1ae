"""Tests of jvrl.data.synthetic_untrimmed: the built-in untrimmed dataset (TSP)."""
import glob
import os

import ml_collections
import numpy as np
import pytest

from jvrl.data import records
from jvrl.data import synthetic
from jvrl.data import synthetic_untrimmed as su
from jvrl.data import synthetic_untrimmed_stats as stats
from jvrl.data.tf_setup import tf

# Small videos keep the tests fast; pixel quantities scale with the frame size.
SMALL = su.UntrimmedSyntheticConfig(
    height=32, width=32, num_frames_range=(40, 64), segment_frames_range=(10, 20),
    background_frames_range=(6, 16), background_burst_frames=(3, 6),
    appearance_segment_frames=8, num_objects=2, train_videos=6, eval_train_videos=3,
    eval_test_videos=2, train_shards=2, eval_train_shards=1, eval_test_shards=1)


def _small_videos(count: int, cfg: su.UntrimmedSyntheticConfig = SMALL) -> list[dict]:
  return [su.render_untrimmed_video(np.random.default_rng([5, i]), cfg) for i in range(count)]


def test_config_checks_name_the_field():
  for field, value in (("num_classes", 11), ("segment_frames_range", (20, 10)),
                       ("background_burst_frames", (0, 4)), ("speed_range", (3, 1)),
                       ("appearance_segment_frames", -1), ("jpeg_quality", 0),
                       ("train_shards", 0)):
    with pytest.raises(ValueError, match=field):
      su.UntrimmedSyntheticConfig(**{field: value})
  # Three segments of >= 24 frames with two gaps of >= 16 frames need >= 104 frames.
  with pytest.raises(ValueError, match="num_frames_range"):
    su.UntrimmedSyntheticConfig(num_frames_range=(60, 100))


def test_config_from_dict_and_hash():
  config = ml_collections.ConfigDict(dict(seed=3, num_frames_range=[100, 120]))
  cfg = su.untrimmed_config_from_dict(config)
  assert cfg.seed == 3 and cfg.num_frames_range == (100, 120) and cfg.height == 64
  assert su.untrimmed_config_from_dict({}) == su.UntrimmedSyntheticConfig()
  with pytest.raises(ValueError, match="bogus"):
    su.untrimmed_config_from_dict({"bogus": 1, "seed": 0})
  assert su.config_hash(SMALL) == su.config_hash(su.untrimmed_config_from_dict(
      dict(SMALL.__dict__)))
  assert su.config_hash(SMALL) != su.config_hash(
      su.UntrimmedSyntheticConfig(**{**SMALL.__dict__, "noise_std": 0.03}))


def test_config_hash_follows_the_shared_drawing(monkeypatch):
  before = su.config_hash(SMALL)
  monkeypatch.setattr(synthetic, "GENERATOR_VERSION", synthetic.GENERATOR_VERSION + 1)
  assert su.config_hash(SMALL) != before


def test_render_layout_and_exact_annotations():
  for video in _small_videos(25):
    frames, labels, segments = video["frames"], video["frame_labels"], video["segments"]
    num_frames = len(frames)
    assert frames.shape == (num_frames, 32, 32, 3) and frames.dtype == np.uint8
    assert 40 <= num_frames <= 64 and labels.shape == (num_frames,)
    assert 1 <= len(segments) <= 3
    expected = np.full(num_frames, -1)
    for segment in segments:
      assert 10 <= segment.end_frame - segment.start_frame <= 20
      assert segment.label_text == synthetic.MOTION_CLASSES[segment.label].name
      expected[segment.start_frame:segment.end_frame] = segment.label
    np.testing.assert_array_equal(labels, expected)
    for before, after in zip(segments[:-1], segments[1:]):  # Background between segments.
      assert 6 <= after.start_frame - before.end_frame <= 16
    assert segments[0].start_frame <= 16 and num_frames - segments[-1].end_frame <= 16
    assert video["object_alpha"].sum(axis=(1, 2)).min() > 5  # The object is always visible.


def test_render_respects_given_labels():
  video = su.render_untrimmed_video(np.random.default_rng(0), SMALL, [7, 2, 7])
  assert [s.label for s in video["segments"]] == [7, 2, 7]
  with pytest.raises(ValueError, match="segments_per_video"):
    su.render_untrimmed_video(np.random.default_rng(0), SMALL, [1, 2, 3, 4])
  with pytest.raises(ValueError, match="labels"):
    su.render_untrimmed_video(np.random.default_rng(0), SMALL, [10])


def test_segment_annotations_in_microseconds():
  segments = [su.ActionSegment(3, 17, 4, "rotate_clockwise")]
  assert su.segment_annotations(segments, fps=10.0) == [
      records.Segment(300_000, 1_700_000, 4, "rotate_clockwise")]
  assert su.segment_annotations(segments, fps=3.0)[0].end_us == 5_666_667


def test_background_motion_energy_matches_the_actions():
  """Requirement 1: bg is not told from fg by motion energy (default config)."""
  summary = stats.split_statistics(su.UntrimmedSyntheticConfig(), "eval_test", max_videos=40)
  fg, bg = summary["fg_motion_energy"], summary["bg_motion_energy"]
  assert abs(bg / fg - 1.0) < 0.1, summary
  # The objects do move in the background: far above the noise-only difference
  # (uniform noise of std 0.02 gives ~ 255 * 0.02 * 2 / sqrt(6) ~ 4 levels).
  assert bg > 8.0, summary


def test_appearance_cuts_are_independent_of_the_boundaries():
  """Requirement 2: boundaries fall on appearance cuts about as often as chance says."""
  videos = _small_videos(60)
  summary = stats.statistics(videos)
  chance, count = summary["boundary_cut_chance"], summary["boundaries"]
  assert 0.1 < chance < 0.15 and count > 150  # 1/8, a cut every 8 frames
  tolerance = 3.5 * np.sqrt(chance * (1 - chance) / count)
  assert abs(summary["boundary_cut_fraction"] - chance) < tolerance, summary
  phases = {int(v["appearance_starts"][1]) for v in videos}
  assert len(phases) >= 6  # A random phase per video.
  for video in videos[:3]:  # The frames do change at the cuts.
    mean_colour = video["frames"].astype(np.float32).mean(axis=(1, 2))
    steps = np.abs(np.diff(mean_colour, axis=0)).max(axis=1)
    cuts = video["appearance_starts"][1:]
    assert steps[cuts - 1].min() > np.median(steps)


def _circular_centroids(alpha: np.ndarray) -> np.ndarray:
  """Object centre per frame on the torus, [T, 2] (x, y) in pixels."""
  _, height, width = alpha.shape
  x = np.angle(np.einsum("thw,w->t", alpha, np.exp(2j * np.pi * np.arange(width) / width)))
  y = np.angle(np.einsum("thw,h->t", alpha, np.exp(2j * np.pi * np.arange(height) / height)))
  return np.stack([x / (2 * np.pi) * width, y / (2 * np.pi) * height], axis=-1)


def test_motion_is_continuous_at_the_boundaries():
  """Requirement 3: no teleport at a segment boundary (state and rendered centroid)."""
  scale = 32 / 64
  max_speed = max(SMALL.speed_range[1], 2 * np.pi * synthetic.OSCILLATION_AMPLITUDE_RANGE[1] /
                  synthetic.OSCILLATION_PERIOD_RANGE[0]) * scale
  boundary_steps, other_steps, centroid_steps = [], [], []
  for video in _small_videos(30):
    path, labels = video["object_path"], video["frame_labels"]
    steps = np.hypot(np.diff(path.center_x), np.diff(path.center_y))
    boundary = labels[1:] != labels[:-1]
    boundary_steps += list(steps[boundary])
    other_steps += list(steps[~boundary])
    cuts = set(video["appearance_starts"][1:].tolist())
    centroids = _circular_centroids(video["object_alpha"])
    for t in np.flatnonzero(boundary) + 1:
      if t not in cuts:  # A cut may change the shape, which moves the centroid a little.
        step = np.angle(np.exp(2j * np.pi * (centroids[t] - centroids[t - 1]) / 32)) * 32 / (
            2 * np.pi)
        centroid_steps.append(np.hypot(*step))
  assert max(boundary_steps) <= max_speed + 1e-9
  assert max(boundary_steps) <= max(other_steps)
  assert np.mean(boundary_steps) < 1.5 * np.mean(other_steps)
  assert len(centroid_steps) > 50 and max(centroid_steps) < max_speed + 1.5


def test_records_are_deterministic(tmp_path):
  """Requirement 4: the same config gives byte-identical records."""
  labels = su.split_segment_labels(SMALL, "train")
  record = su.make_video_record(SMALL, "train", 1, labels[1])
  assert record == su.make_video_record(SMALL, "train", 1, labels[1])
  assert tf.train.SequenceExample.FromString(record).SerializeToString(
      deterministic=True) == record  # Map entries sorted: the same bytes in any process.
  other = su.UntrimmedSyntheticConfig(**{**SMALL.__dict__, "seed": 1})
  assert record != su.make_video_record(other, "train", 1, labels[1])
  first = su.generate_split(SMALL, "train", str(tmp_path / "a"), num_workers=2)
  second = su.generate_split(SMALL, "train", str(tmp_path / "b"), num_workers=1)
  for a, b in zip(first, second):
    assert open(a, "rb").read() == open(b, "rb").read()


def test_segment_classes_are_balanced():
  """Requirement 5: classes balanced over the split's segments, shuffled."""
  cfg = su.UntrimmedSyntheticConfig(train_videos=50, num_classes=7)
  labels = su.split_segment_labels(cfg, "train")
  assert len(labels) == 50 and all(1 <= len(v) <= 3 for v in labels)
  assert len({len(v) for v in labels}) == 3
  flat = np.concatenate(labels)
  counts = np.bincount(flat, minlength=7)
  assert counts.max() - counts.min() <= 1 and len(counts) == 7
  assert not np.array_equal(flat, np.arange(len(flat)) % 7)
  again = su.split_segment_labels(cfg, "train")
  assert all(np.array_equal(a, b) for a, b in zip(labels, again))
  assert su.split_segment_labels(su.UntrimmedSyntheticConfig(eval_test_videos=0),
                                 "eval_test") == []


def _read_split(pattern: str) -> list[dict]:
  files = sorted(glob.glob(pattern))
  dataset = tf.data.Dataset.from_tensor_slices(files).interleave(
      tf.data.TFRecordDataset, cycle_length=len(files), block_length=1)
  return list(dataset.map(records.parse_sequence_example).as_numpy_iterator())


def test_generate_split_round_trip(tmp_path):
  su.generate_split(SMALL, "train", str(tmp_path))
  examples = _read_split(records.shard_glob(str(tmp_path), "train"))
  labels = su.split_segment_labels(SMALL, "train")
  assert len(examples) == SMALL.train_videos
  for index, example in enumerate(examples):
    video = su.render_untrimmed_video(su.video_rng(SMALL, "train", index), SMALL,
                                      labels[index])
    assert list(example["frames"]) == records.encode_jpeg_frames(video["frames"],
                                                                 SMALL.jpeg_quality)
    assert example["fps"] == SMALL.fps
    assert example["filename"] == f"synthetic_untrimmed/train/{index:06d}".encode()
    annotations = su.segment_annotations(video["segments"], SMALL.fps)
    assert list(example["segment_start_us"]) == [s.start_us for s in annotations]
    assert list(example["segment_end_us"]) == [s.end_us for s in annotations]
    assert list(example["segment_labels"]) == list(labels[index])
    assert [t.decode() for t in example["segment_label_texts"]] == [
        s.label_text for s in annotations]
    lengths = [s.end_frame - s.start_frame for s in video["segments"]]
    longest = video["segments"][int(np.argmax(lengths))]
    assert example["label"] == longest.label
    assert example["label_text"].decode() == longest.label_text


def test_ensure_untrimmed_synthetic_dataset_caches(tmp_path, monkeypatch):
  cache = str(tmp_path / "cache")
  globs = su.ensure_untrimmed_synthetic_dataset(SMALL, cache)
  target = su.dataset_dir(SMALL, cache)
  assert target == os.path.join(cache, "synthetic_untrimmed", su.config_hash(SMALL))
  assert set(globs) == set(su.SPLITS)
  assert all(os.path.dirname(pattern) == target for pattern in globs.values())
  counts = {split: len(_read_split(pattern)) for split, pattern in globs.items()}
  assert counts == {"train": 6, "eval_train": 3, "eval_test": 2}
  assert os.path.isfile(os.path.join(target, "config.json"))

  def fail(*args, **kwargs):
    raise AssertionError("regenerated a cached dataset")

  monkeypatch.setattr(su, "generate_split", fail)
  assert su.ensure_untrimmed_synthetic_dataset(SMALL, cache) == globs
  monkeypatch.setenv("JVRL_CACHE_DIR", "/some/where")
  assert su.dataset_dir(SMALL).startswith("/some/where/synthetic_untrimmed/")
