"""Tests of jvrl.objectives.tsp.gvf: global video features and their lookup in tf.data."""
import numpy as np
import pytest

from jvrl.data import feature_files
from jvrl.data.tf_setup import tf
from jvrl.objectives.tsp import gvf


def test_pooling_is_the_max_or_mean_over_clips():
  clips = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]], np.float32)
  np.testing.assert_array_equal(gvf.pool_clip_features(clips, "max"), [1.0, 4.0, 3.0])
  np.testing.assert_allclose(gvf.pool_clip_features(clips, "avg"), [0.75, 1.0, 1.0])
  np.testing.assert_array_equal(gvf.pool_clip_features(np.zeros((0, 3)), "max"), [0, 0, 0])
  with pytest.raises(ValueError, match="pooling"):
    gvf.pool_clip_features(clips, "median")


def test_table_finds_each_video_by_filename_and_names_a_missing_one(tmp_path):
  path = str(tmp_path / "gvf.h5")
  with feature_files.FeatureWriter(path) as writer:
    writer.write("v_a", np.array([1.0, 2.0], np.float32))
    writer.write("v_b", np.array([3.0, 4.0], np.float32))
  table = gvf.GVFTable(path)
  assert table.dim == 2
  np.testing.assert_array_equal(table.lookup(tf.constant("anet/v_b.mp4")), [3.0, 4.0])
  np.testing.assert_array_equal(table.lookup(tf.constant("v_a")), [1.0, 2.0])
  with pytest.raises(tf.errors.InvalidArgumentError, match="No global video feature for "
                                                             "video other/v_c.mkv"):
    table.lookup(tf.constant("other/v_c.mkv"))
