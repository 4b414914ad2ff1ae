"""Global video features (GVFs) inside tf.data: the video's fixed vector for TSP's
temporal-region head (REFERENCE §6).

A GVF file (`jvrl.data.feature_files`: an H5 file or an npy directory) maps
each video's key (`feature_files.video_key` of its filename) to one [G]
vector; jvrl writes them from the initial encoder (max over the video's clip
features, TSP's `-max_gvf.h5`), and TSP's released GVF files read the same
way. Every training video must have one: a missing one fails inside tf.data
naming the video and the file.
"""
import numpy as np

from jvrl.data import feature_files
from jvrl.data.tf_setup import tf

POOLINGS = ("max", "avg")


def pool_clip_features(clip_features: np.ndarray, pooling: str = "max") -> np.ndarray:
  """A video's GVF from its clip features [N, D]: the max (TSP) or mean over clips.

  A video without clips (shorter than one clip) gets zeros, as there is nothing
  to pool; the caller warns about such videos.
  """
  if pooling not in POOLINGS:
    raise ValueError(f"Unknown GVF pooling {pooling!r}; known: {POOLINGS}.")
  clip_features = np.asarray(clip_features, np.float32)
  if clip_features.ndim != 2:
    raise ValueError(f"clip features must be [N, D], got shape {clip_features.shape}.")
  if not len(clip_features):
    return np.zeros((clip_features.shape[1],), np.float32)
  return clip_features.max(axis=0) if pooling == "max" else clip_features.mean(axis=0)


class GVFTable:
  """The GVFs of a file, looked up by a video's filename inside tf.data."""

  def __init__(self, path: str):
    features = feature_files.read_features(path)
    if not features:
      raise ValueError(f"The GVF file {path} holds no video.")
    self.path = path
    self.keys = sorted(features)
    matrix = np.stack([np.asarray(features[k], np.float32).reshape(-1) for k in self.keys])
    self.dim = matrix.shape[1]
    self._matrix = tf.constant(matrix)
    self._table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(self.keys),
                                            tf.range(len(self.keys), dtype=tf.int32)), -1)

  def lookup(self, filename: tf.Tensor) -> tf.Tensor:
    """float32 [G], the GVF of the video `filename` (fails when the file has none)."""
    base = tf.strings.split(filename, "/")[-1]
    key = tf.strings.regex_replace(base, r"\.[^.]*$", "")
    row = self._table.lookup(key)
    found = tf.debugging.Assert(row >= 0, [tf.strings.join([
        "No global video feature for video ", filename, " (key ", key, ") in ", self.path,
        ": recompute the GVFs (remove config.tsp.gvf_file) for these records."])])
    with tf.control_dependencies([found]):
      return tf.gather(self._matrix, row)
