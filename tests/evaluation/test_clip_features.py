"""Tests of jvrl.evaluation.clip_features: dense per-clip features of whole videos."""
import jax
import numpy as np
import pytest

from jvrl import models
from jvrl.data import augment
from jvrl.data import decode
from jvrl.data import records
from jvrl.data import sources
from jvrl.evaluation import clip_features
from jvrl.models import inputs
from jvrl.train import sharding


def _video(seed, frames, height=20, width=24):
  rng = np.random.default_rng(seed)
  t, y, x = np.meshgrid(np.arange(frames), np.arange(height), np.arange(width), indexing="ij")
  channels = [np.sin(0.3 * x + 0.2 * y + 0.4 * t + p) for p in rng.uniform(0, 6, size=3)]
  return np.round(127.5 + 100 * np.stack(channels, axis=-1)).astype(np.uint8)


def write_untrimmed_records(directory, lengths=(20, 9, 3), fps=10.0):
  """Videos of the given lengths (the last shorter than one 4-frame clip at stride 2)."""
  examples = []
  for index, length in enumerate(lengths):
    examples.append(records.make_sequence_example(
        jpeg_frames=records.encode_jpeg_frames(_video(index, length)), fps=fps,
        filename=f"folder/video_{index}.mp4",
        segments=[records.Segment(0, int(length / fps / 2 * 1e6), index % 2, "a")]))
  records.write_sharded_records(examples, str(directory), 1, "val")
  return records.shard_glob(str(directory), "val")


GRID = clip_features.ClipGrid(clip_length=4, frame_stride=2, clip_stride=3,
                              resize_short_side=16, crop_size=16)


def test_clip_grid():
  assert GRID.span == 7
  assert [GRID.num_clips(n) for n in (3, 7, 9, 10, 20)] == [0, 1, 1, 2, 5]
  with pytest.raises(ValueError, match="crop_size=20 exceeds"):
    clip_features.ClipGrid(4, 2, 3, 16, 20)


def reference_clip_features(encoder, variables, glob):
  """Slow reference: each clip decoded, resized, cropped and encoded on its own."""
  examples = sources.make_example_dataset(
      {"source": "records", "eval_test_files": glob}, "eval_test", shuffle_files=False, seed=0)
  out = {}
  for example in examples:
    rows = []
    for start in range(0, int(example["num_frames"]) - GRID.span + 1, GRID.clip_stride):
      indices = start + np.arange(GRID.clip_length) * GRID.frame_stride
      frames = decode.resize_short_side(decode.decode_frames(example["frames"], indices), 16)
      crop = augment.spatial_crops(frames, 16, 1)[0]
      clip = np.round(np.clip(crop.numpy(), 0, 255)).astype(np.uint8)[None]
      feature_map = encoder.apply(variables, inputs.to_unit_float(clip), train=False)
      rows.append(np.asarray(feature_map).mean(axis=(1, 2, 3))[0])
    out[example["filename"].numpy().decode()] = np.array(rows, np.float32)
  return out


def test_features_match_encoding_each_clip_alone(tmp_path):
  glob = write_untrimmed_records(tmp_path)
  encoder = models.build_model("r3d_prp", width_multiplier=0.0625)
  variables = encoder.init(jax.random.key(0), np.zeros((1, 4, 16, 16, 3), np.float32),
                           train=False)
  mesh = sharding.make_mesh({"data": -1})
  examples = sources.make_example_dataset(
      {"source": "records", "eval_test_files": glob}, "eval_test", shuffle_files=False, seed=0)
  videos = list(clip_features.extract_clip_features(encoder, variables, examples, GRID, mesh,
                                                    batch_size=8))
  assert [v.key for v in videos] == ["video_0", "video_1", "video_2"]
  assert [len(v.features) for v in videos] == [5, 1, 0]  # the 3-frame video: zero rows
  np.testing.assert_array_equal(videos[0].clip_starts, [0, 3, 6, 9, 12])
  assert videos[0].fps == 10.0 and videos[0].num_frames == 20
  np.testing.assert_array_equal(videos[1].segment_labels, [1])
  expected = reference_clip_features(encoder, variables, glob)
  for video in videos[:2]:
    np.testing.assert_allclose(video.features, expected[video.filename], rtol=1e-4, atol=1e-5)
  assert videos[2].features.shape == (0, 32)  # zero rows of the encoder's width


def test_skip_videos_and_duplicate_names(tmp_path):
  glob = write_untrimmed_records(tmp_path)
  examples = sources.make_example_dataset(
      {"source": "records", "eval_test_files": glob}, "eval_test", shuffle_files=False, seed=0)
  kept = clip_features.skip_videos(examples, frozenset({"video_1"}))
  assert [e["filename"].decode() for e in kept.as_numpy_iterator()] == [
      "folder/video_0.mp4", "folder/video_2.mp4"]
  twice = examples.concatenate(examples)
  encoder = models.build_model("r3d_prp", width_multiplier=0.0625)
  with pytest.raises(ValueError, match="same name"):
    next(clip_features.extract_clip_features(encoder, {}, twice, GRID, None, 8))
