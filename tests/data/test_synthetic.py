"""Tests of jvrl.data.synthetic: the built-in motion dataset."""
import glob
import os

import ml_collections
import numpy as np
import pytest

from jvrl.data import records
from jvrl.data import synthetic
from jvrl.data.tf_setup import tf

# Small videos keep the tests fast; pixel quantities scale with the frame size.
SMALL = synthetic.SyntheticConfig(height=32, width=32, num_frames=12, sample_rate=2000,
                                  train_videos=10, eval_train_videos=5, eval_test_videos=3,
                                  train_shards=2, eval_train_shards=1, eval_test_shards=1)


def _render(label: int, seed: int, cfg: synthetic.SyntheticConfig = SMALL) -> dict:
  return synthetic.render_video(np.random.default_rng([seed, label]), label, cfg)


def _circular_centroids(alpha: np.ndarray) -> np.ndarray:
  """Object centre per frame on the torus: float [T, 2] as (x, y) angles in radians."""
  _, height, width = alpha.shape
  angle_x = np.exp(2j * np.pi * np.arange(width) / width)
  angle_y = np.exp(2j * np.pi * np.arange(height) / height)
  x = np.angle(np.einsum("thw,w->t", alpha, angle_x))
  y = np.angle(np.einsum("thw,h->t", alpha, angle_y))
  return np.stack([x, y], axis=-1)


def _displacements(alpha: np.ndarray) -> np.ndarray:
  """Frame-to-frame centre displacement in pixels, [T-1, 2] as (dx, dy)."""
  size = np.array([alpha.shape[2], alpha.shape[1]])
  steps = np.angle(np.exp(1j * np.diff(_circular_centroids(alpha), axis=0)))
  return steps / (2 * np.pi) * size


def test_render_video_shapes_dtypes_ranges():
  for label in range(10):
    video = _render(label, seed=0)
    assert video["frames"].shape == (12, 32, 32, 3) and video["frames"].dtype == np.uint8
    assert video["waveform"].shape == (round(12 / 10 * 2000),)
    assert video["waveform"].dtype == np.float32
    assert np.abs(video["waveform"]).max() <= 1.0
    assert video["object_alpha"].shape == (12, 32, 32)
    assert 0.0 <= video["object_alpha"].min() and video["object_alpha"].max() <= 1.0
    assert video["object_alpha"].sum(axis=(1, 2)).min() > 5  # The object is always visible.
    assert video["label_text"] == synthetic.MOTION_CLASSES[label].name
    assert 2 <= len(video["captions"]) <= 3
    for caption in video["captions"]:
      assert video["colour"] in caption and video["shape"] in caption
      assert any(phrase in caption for phrase in synthetic.MOTION_CLASSES[label].phrases)


def test_render_video_is_deterministic():
  a, b = _render(3, seed=7), _render(3, seed=7)
  for key in ("frames", "waveform", "object_alpha"):
    np.testing.assert_array_equal(a[key], b[key])
  assert a["captions"] == b["captions"]
  c = _render(3, seed=8)
  assert not np.array_equal(a["frames"], c["frames"])
  assert (synthetic.make_video_record(SMALL, "train", 4, 2) ==
          synthetic.make_video_record(SMALL, "train", 4, 2))
  # Serialized deterministically (map entries sorted), so the bytes are the same in every
  # process, not only within one.
  record = synthetic.make_video_record(SMALL, "train", 4, 2)
  assert tf.train.SequenceExample.FromString(record).SerializeToString(deterministic=True) == record
  other_seed = synthetic.SyntheticConfig(**{**SMALL.__dict__, "seed": 1})
  assert (synthetic.make_video_record(SMALL, "train", 4, 2) !=
          synthetic.make_video_record(other_seed, "train", 4, 2))


def test_render_video_rejects_bad_label():
  with pytest.raises(ValueError, match="label"):
    synthetic.render_video(np.random.default_rng(0), 10, SMALL)
  few = synthetic.SyntheticConfig(num_classes=4)
  with pytest.raises(ValueError, match="label"):
    synthetic.render_video(np.random.default_rng(0), 4, few)


def test_split_labels_are_balanced_and_shuffled():
  cfg = synthetic.SyntheticConfig(train_videos=105, eval_test_videos=40, num_classes=10)
  labels = synthetic.split_labels(cfg, "train")
  counts = np.bincount(labels, minlength=10)
  assert counts.max() - counts.min() <= 1 and counts.sum() == 105
  assert not np.array_equal(labels, np.arange(105) % 10)
  np.testing.assert_array_equal(labels, synthetic.split_labels(cfg, "train"))
  assert np.all(np.bincount(synthetic.split_labels(cfg, "eval_test")) == 4)
  four = synthetic.SyntheticConfig(num_classes=4, train_videos=20)
  assert set(synthetic.split_labels(four, "train")) == {0, 1, 2, 3}
  with pytest.raises(ValueError, match="split"):
    synthetic.split_labels(cfg, "validation")


def test_translations_move_in_the_documented_direction():
  # (dx, dy) signs with y pointing down: right, left, up, down.
  expected = {0: (1, 0), 1: (-1, 0), 2: (0, -1), 3: (0, 1)}
  for label, direction in expected.items():
    for seed in range(3):
      mean_step = _displacements(_render(label, seed)["object_alpha"]).mean(axis=0)
      along = mean_step @ np.array(direction)
      across = abs(mean_step @ np.array(direction[::-1]))
      # Speeds are 1-3 px/frame at 64x64, i.e. 0.5-1.5 px/frame at 32x32.
      assert 0.35 < along < 1.8, (label, seed, mean_step)
      assert across < 0.5 * along, (label, seed, mean_step)


def test_oscillations_reverse_direction_along_their_axis():
  for label, axis in ((8, 0), (9, 1)):
    for seed in range(3):
      steps = _displacements(_render(label, seed)["object_alpha"])
      assert steps[:, axis].max() > 0.3 and steps[:, axis].min() < -0.3, (label, seed)
      assert np.abs(steps[:, 1 - axis]).max() < 0.2, (label, seed)


def _rotation_steps(video: dict) -> np.ndarray:
  """Per-frame rotation (radians, + = clockwise on screen) from k-fold angular moments."""
  folds = {"triangle": 3, "square": 4, "cross": 4}[video["shape"]]
  alpha = video["object_alpha"].astype(np.float64)
  _, height, width = alpha.shape
  centre = _circular_centroids(alpha)[0] / (2 * np.pi) * np.array([width, height])
  y, x = np.mgrid[0:height, 0:width]
  dx = np.mod(x - centre[0] + width / 2, width) - width / 2
  dy = np.mod(y - centre[1] + height / 2, height) - height / 2
  moment = np.einsum("thw,hw->t", alpha, (dx + 1j * dy) ** folds)
  return np.angle(moment[1:] / moment[:-1]) / folds


def test_rotations_turn_in_the_documented_direction():
  cfg = synthetic.SyntheticConfig(height=64, width=64, num_frames=8, sample_rate=1000)
  for label, sign in ((4, 1), (5, -1)):
    checked = 0
    for seed in range(40):
      video = _render(label, seed, cfg)
      if video["shape"] not in ("triangle", "square", "cross"):
        continue
      steps = np.rad2deg(_rotation_steps(video)) * sign
      # Documented angular speed: 6-15 degrees per frame.
      assert 3 < steps.mean() < 18, (label, seed, video["shape"], steps)
      checked += 1
      if checked == 3:
        break
    assert checked == 3


def test_grow_and_shrink_change_the_object_area():
  for label, sign in ((6, 1), (7, -1)):
    for seed in range(3):
      area = _render(label, seed)["object_alpha"].sum(axis=(1, 2))
      changes = np.sign(np.diff(area)) * sign
      # A sawtooth: mostly monotone, with at most a couple of wrap-around jumps.
      assert (changes > 0).mean() >= 0.75, (label, seed, area)


def test_waveform_pitch_depends_on_the_class():
  cfg = synthetic.SyntheticConfig(height=16, width=16, num_frames=20, sample_rate=4000)
  for label in range(10):
    wave = _render(label, 0, cfg)["waveform"]
    spectrum = np.abs(np.fft.rfft(wave))
    peak_hz = np.argmax(spectrum) * cfg.sample_rate / len(wave)
    base = synthetic._BASE_PITCH_HZ[label]
    assert 0.8 * base < peak_hz < 1.2 * base, (label, peak_hz, base)


def _nearest_centroid_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
  """Fits class centroids on the first half, returns accuracy on the second."""
  half = len(labels) // 2
  centroids = np.stack([features[:half][labels[:half] == c].mean(axis=0) for c in range(10)])
  distances = ((features[half:, None, :] - centroids[None]) ** 2).sum(axis=-1)
  return float((distances.argmin(axis=1) == labels[half:]).mean())


def test_appearance_does_not_predict_the_class():
  """No static shortcut: first frames and mean colours classify at chance level."""
  cfg = synthetic.SyntheticConfig(height=24, width=24, num_frames=6, sample_rate=100)
  labels = np.arange(240) % 10
  videos = [synthetic.render_video(np.random.default_rng([99, i]), int(label), cfg)
            for i, label in enumerate(labels)]
  first_frames = np.stack([v["frames"][0] for v in videos]).reshape(len(videos), -1) / 255.0
  mean_colours = np.stack([v["frames"].mean(axis=(0, 1, 2)) for v in videos]) / 255.0
  # Chance is 0.10; with 120 test videos, 0.25 is > 4 standard deviations above.
  assert _nearest_centroid_accuracy(first_frames, labels) < 0.25
  assert _nearest_centroid_accuracy(mean_colours, labels) < 0.25
  # Positive control: the motion of the object does predict the class.
  motion = np.stack([np.concatenate([_displacements(v["object_alpha"]).mean(axis=0),
                                     np.abs(_displacements(v["object_alpha"])).mean(axis=0)])
                     for v in videos])
  assert _nearest_centroid_accuracy(motion, labels) > 0.4


def test_appearance_segments_redraw_appearance_but_keep_the_motion():
  """Per 6-frame segment: a new background and object colour, the same shape, size and
  motion (the object's area does not jump at the boundary; it keeps moving right)."""
  cfg = synthetic.SyntheticConfig(height=32, width=32, num_frames=12, sample_rate=100,
                                  appearance_segment_frames=6, num_objects=1)
  for seed in range(12):
    video = _render(0, seed, cfg)  # move right: a rigid translation
    mean_colour = video["frames"].astype(np.float32).mean(axis=(1, 2))  # [T, 3]
    within = np.abs(mean_colour[1:6] - mean_colour[:5]).max()
    across = np.abs(mean_colour[6] - mean_colour[5]).max()
    assert across > within, seed
    area = video["object_alpha"].sum(axis=(1, 2))
    assert abs(area[6] - area[5]) / area[5] < 0.1 + np.abs(np.diff(area[:6])).max() / area[5]
    dx = _displacements(video["object_alpha"])[:, 0]
    assert np.all(dx > 0.3), (seed, dx)  # still moving right across the boundary


def test_redraw_object_per_segment_changes_shape_or_size_not_motion():
  """With redraw_object_per_segment the object's area jumps at segment boundaries in
  most videos (new shape/size); it keeps moving right."""
  cfg = synthetic.SyntheticConfig(height=32, width=32, num_frames=12, sample_rate=100,
                                  appearance_segment_frames=6, num_objects=1,
                                  redraw_object_per_segment=True)
  jumps = []
  for seed in range(12):
    video = _render(0, seed, cfg)
    area = video["object_alpha"].sum(axis=(1, 2))
    jumps.append(abs(area[6] - area[5]) / area[5] - np.abs(np.diff(area[:6])).max() / area[5])
    assert np.all(_displacements(video["object_alpha"])[:, 0] > 0.3), seed
    assert video["shape"] in video["captions"][0]  # captions name the first shape
  assert np.mean(np.array(jumps) > 0.15) >= 0.5, jumps


def test_config_from_dict():
  config = ml_collections.ConfigDict(dict(seed=3, height=48, object_size_range=[10, 20]))
  cfg = synthetic.synthetic_config_from_dict(config)
  assert cfg.seed == 3 and cfg.height == 48 and cfg.object_size_range == (10.0, 20.0)
  assert cfg.width == 64 and cfg.num_frames == 32 and cfg.fps == 10.0
  assert synthetic.synthetic_config_from_dict({"fps": 10}) == synthetic.SyntheticConfig()
  with pytest.raises(ValueError, match="bogus"):
    synthetic.synthetic_config_from_dict({"bogus": 1, "seed": 0})
  with pytest.raises(ValueError, match="num_classes"):
    synthetic.synthetic_config_from_dict({"num_classes": 11})
  with pytest.raises(ValueError, match="speed_range"):
    synthetic.synthetic_config_from_dict({"speed_range": (3, 1)})


def test_config_hash_is_stable_and_distinguishes_configs():
  assert synthetic.config_hash(SMALL) == synthetic.config_hash(
      synthetic.synthetic_config_from_dict(dict(SMALL.__dict__)))
  assert synthetic.config_hash(SMALL) != synthetic.config_hash(
      synthetic.SyntheticConfig(**{**SMALL.__dict__, "noise_std": 0.03}))


def _read_split(pattern: str) -> list[dict]:
  files = sorted(glob.glob(pattern))
  dataset = tf.data.Dataset.from_tensor_slices(files).interleave(
      tf.data.TFRecordDataset, cycle_length=len(files), block_length=1)
  return list(dataset.map(records.parse_sequence_example).as_numpy_iterator())


def test_generate_split_round_trip(tmp_path):
  paths = synthetic.generate_split(SMALL, "train", str(tmp_path), num_workers=2)
  assert len(paths) == SMALL.train_shards
  examples = _read_split(records.shard_glob(str(tmp_path), "train"))
  labels = synthetic.split_labels(SMALL, "train")
  assert [int(e["label"]) for e in examples] == list(labels)
  for index in (0, 7):
    example = examples[index]
    video = synthetic.render_video(synthetic.video_rng(SMALL, "train", index), labels[index],
                                   SMALL)
    decoded = np.stack([tf.io.decode_jpeg(f).numpy() for f in example["frames"]])
    assert decoded.shape == video["frames"].shape and example["num_frames"] == 12
    # The stored frames are exactly the JPEG encoding of the rendered frames.
    assert list(example["frames"]) == records.encode_jpeg_frames(
        video["frames"], quality=SMALL.jpeg_quality)
    assert np.abs(decoded.astype(float) - video["frames"]).mean() < 20.0
    np.testing.assert_array_equal(example["waveform"], video["waveform"])
    assert [c.decode() for c in example["captions"]] == video["captions"]
    assert example["label_text"].decode() == video["label_text"]
    assert example["filename"] == f"synthetic/train/{index:06d}".encode()
  # The bytes do not depend on the number of rendering threads.
  serial = synthetic.generate_split(SMALL, "train", str(tmp_path / "serial"), num_workers=1)
  for a, b in zip(paths, serial):
    assert open(a, "rb").read() == open(b, "rb").read()


def test_ensure_synthetic_dataset_caches(tmp_path, monkeypatch):
  cache = str(tmp_path / "cache")
  target = synthetic.dataset_dir(SMALL, cache)
  # A leftover of an interrupted generation must be ignored.
  stale = os.path.join(os.path.dirname(target), f".tmp-{os.path.basename(target)}-1-dead")
  os.makedirs(stale)
  open(os.path.join(stale, "train-00000-of-00002.tfrecord"), "w").write("garbage")

  globs = synthetic.ensure_synthetic_dataset(SMALL, cache)
  assert set(globs) == set(synthetic.SPLITS)
  assert os.path.dirname(globs["train"]) == target
  counts = {split: len(_read_split(pattern)) for split, pattern in globs.items()}
  assert counts == {"train": 10, "eval_train": 5, "eval_test": 3}
  assert len(glob.glob(globs["train"])) == 2

  def fail(*args, **kwargs):
    raise AssertionError("regenerated a cached dataset")

  monkeypatch.setattr(synthetic, "generate_split", fail)
  assert synthetic.ensure_synthetic_dataset(SMALL, cache) == globs


def test_ensure_synthetic_dataset_survives_a_concurrent_generator(tmp_path, monkeypatch):
  """Another process finishing first: ours is discarded, theirs is used."""
  cache = str(tmp_path)
  generate_split = synthetic.generate_split
  rival_ran = []

  def generate_with_rival(cfg, split, output_dir, num_workers=None):
    if not rival_ran:
      rival_ran.append(True)
      synthetic.ensure_synthetic_dataset(cfg, cache)  # Completes first.
    return generate_split(cfg, split, output_dir, num_workers)

  monkeypatch.setattr(synthetic, "generate_split", generate_with_rival)
  globs = synthetic.ensure_synthetic_dataset(SMALL, cache)
  target = synthetic.dataset_dir(SMALL, cache)
  assert os.listdir(os.path.dirname(target)) == [os.path.basename(target)]  # No temp dirs.
  assert len(_read_split(globs["train"])) == 10


def test_default_cache_dir(monkeypatch):
  monkeypatch.setenv("JVRL_CACHE_DIR", "/some/where")
  assert synthetic.default_cache_dir() == "/some/where"
  assert synthetic.dataset_dir(SMALL).startswith("/some/where/synthetic/")
  monkeypatch.delenv("JVRL_CACHE_DIR")
  assert synthetic.default_cache_dir() == os.path.join(os.path.expanduser("~"), ".cache", "jvrl")
