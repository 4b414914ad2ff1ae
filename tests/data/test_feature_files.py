"""Tests of jvrl.data.feature_files: per-video feature files (H5 / npy), resumable."""
import json
import os

import numpy as np
import pytest

from jvrl.data import feature_files


def test_video_key_is_the_file_name_without_folders_or_extension():
  assert feature_files.video_key("ucf/ApplyEyeMakeup/v_Apply_g01.avi") == "v_Apply_g01"
  assert feature_files.video_key(b"synthetic_untrimmed/train/000003") == "000003"
  with pytest.raises(ValueError, match="video/filename"):
    feature_files.video_key("")


@pytest.mark.parametrize("file_format", feature_files.FORMATS)
def test_round_trip_attributes_and_resume(tmp_path, file_format):
  path = str(tmp_path / ("f.h5" if file_format == "h5" else "f"))
  rng = np.random.default_rng(0)
  first, empty = rng.normal(size=(3, 4)).astype(np.float32), np.zeros((0, 4), np.float32)
  with feature_files.FeatureWriter(path, file_format) as writer:
    assert writer.completed() == set()
    writer.write("a", first, {"fps": 15.0, "clip_start_frames": np.array([0, 16, 32])})
    writer.write("short", empty, {"short_video": 1})
  with feature_files.FeatureWriter(path, file_format) as writer:  # a rerun resumes
    assert writer.completed() == {"a", "short"}
    writer.write("b", first[:1], {})
  features = feature_files.read_features(path)
  assert sorted(features) == ["a", "b", "short"]
  np.testing.assert_array_equal(features["a"], first)
  assert features["short"].shape == (0, 4)
  np.testing.assert_array_equal(feature_files.read_features(path, ["b"])["b"], first[:1])
  with pytest.raises(KeyError, match="c"):
    feature_files.read_features(path, ["c"])
  if file_format == "npy":
    with open(os.path.join(path, feature_files.MANIFEST)) as f:
      assert json.load(f)["videos"]["a"]["clip_start_frames"] == [0, 16, 32]


def test_a_half_written_h5_video_is_written_again(tmp_path):
  import h5py  # pylint: disable=g-import-not-at-top
  path = str(tmp_path / "f.h5")
  with h5py.File(path, "w") as h5:  # a run died after creating 'x' but before completing it
    h5.create_dataset("x", data=np.ones((2, 2)))
  with feature_files.FeatureWriter(path) as writer:
    assert writer.completed() == set()
