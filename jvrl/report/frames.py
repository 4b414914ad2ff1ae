"""The few frames a report shows, read from the run's records.

Videos are named by their position in the split's evaluation reading order
(`sources.make_example_dataset` without file shuffling, as the evaluation
reads them), the order of the rows of `saved_outputs.FeatureOutputs`. Only
the wanted videos' frames are decoded: a given number per video, evenly spaced
from its first frame to its last, resized to `height` pixels (aspect kept) or
to a `height` x `height` centre square.
"""
import dataclasses
from typing import Any, Mapping

import numpy as np

from jvrl.data import decode
from jvrl.data import sources
from jvrl.data.tf_setup import tf


@dataclasses.dataclass(frozen=True)
class VideoFrames:
  """Frames of one video: uint8 [F, H, W, 3] and the record's filename."""
  frames: np.ndarray
  filename: str


def read_frames(data_config: Any, split: str, frame_counts: Mapping[int, int], *,
                height: int, square: bool = False, seed: int = 0) -> dict[int, VideoFrames]:
  """{index: its frames} for the videos of `split` named in `frame_counts`
  ({video index: how many frames}; see the module docstring)."""
  wanted = sorted(int(i) for i in frame_counts)
  if not wanted:
    return {}
  wanted_tensor = tf.constant(wanted, tf.int64)
  counts = tf.constant([max(1, int(frame_counts[i])) for i in wanted], tf.int32)

  def is_wanted(index, example):
    del example
    return tf.reduce_any(tf.equal(index, wanted_tensor))

  def sample(index, example):
    count = counts[tf.argmax(tf.cast(tf.equal(wanted_tensor, index), tf.int32))]
    last = tf.cast(tf.maximum(example["num_frames"] - 1, 0), tf.float32)
    positions = tf.cast(tf.round(tf.linspace(0.0, last, count)), tf.int32)
    frames = decode.decode_frames(example["frames"], positions)
    size = tf.cast(tf.shape(frames)[1:3], tf.float32)
    if square:
      frames = decode.resize_short_side(frames, height, antialias=True)
      frames = tf.image.resize_with_crop_or_pad(frames, height, height)
    else:
      width = tf.cast(tf.round(size[1] * height / size[0]), tf.int32)
      frames = tf.image.resize(frames, tf.stack([height, tf.maximum(width, 1)]), antialias=True)
    frames = tf.cast(tf.clip_by_value(tf.round(frames), 0, 255), tf.uint8)
    return index, frames, example["filename"]

  examples = sources.make_example_dataset(data_config, split, shuffle_files=False, seed=seed)
  dataset = examples.enumerate().filter(is_wanted).take(len(wanted)).map(
      sample, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return {int(index): VideoFrames(frames, filename.decode("utf-8", "replace"))
          for index, frames, filename in dataset.as_numpy_iterator()}
