"""Tests of jvrl.objectives.tsp.segments: TSP's segments and the clips drawn from them."""
import numpy as np
import pytest

from jvrl.data.tf_setup import tf
from jvrl.objectives.tsp import segments


def _example(num_frames, instances, fps=10.0, record_fps=None):
  """A parsed example with `instances` = [(start_s, end_s, label), ...]."""
  starts = [int(round(s * 1e6)) for s, _, _ in instances]
  ends = [int(round(e * 1e6)) for _, e, _ in instances]
  return {
      "frames": tf.constant([b"f"] * num_frames), "num_frames": tf.constant(num_frames),
      "filename": tf.constant("v"), "label": tf.constant(-1),
      "fps": tf.constant(fps if record_fps is None else record_fps, tf.float32),
      "segment_start_us": tf.constant(starts, tf.int64),
      "segment_end_us": tf.constant(ends, tf.int64),
      "segment_labels": tf.constant([l for _, _, l in instances], tf.int32),
      "segment_label_texts": tf.constant([b""] * len(instances)),
  }


def _segments(example, min_length, fallback_fps=0.0):
  starts, ends, labels = segments.annotated_segment_frames(example, fallback_fps)
  out = segments.tsp_segments(starts, ends, labels, example["num_frames"], min_length)
  return [tuple(int(v) for v in row) for row in zip(
      out["segment_start"], out["segment_end"], out["action_label"], out["region_label"])]


def test_foreground_instances_and_the_gaps_between_them():
  # 100 frames at 10 fps: actions [2 s, 4 s) class 3 and [6 s, 7.5 s) class 1.
  example = _example(100, [(6.0, 7.5, 1), (2.0, 4.0, 3)])
  assert _segments(example, min_length=1) == [
      (20, 40, 3, 1), (60, 75, 1, 1),                    # foreground, sorted by start
      (0, 20, -1, 0), (40, 60, -1, 0), (75, 100, -1, 0)]  # the gaps


def test_short_segments_are_dropped_and_overlaps_merge_for_the_background():
  example = _example(100, [(1.0, 5.0, 0), (4.0, 5.5, 2), (8.0, 8.4, 1)])
  assert _segments(example, min_length=15) == [
      (10, 50, 0, 1), (10 * 4, 55, 2, 1),  # overlapping instances both kept
      (55, 80, -1, 0), (84, 100, -1, 0)]   # [0,10) and [8 s, 8.4 s) are too short


def test_annotations_outside_the_video_are_clipped_or_removed():
  example = _example(50, [(4.0, 9.0, 5), (6.0, 7.0, 1), (2.0, 2.0, 3)])
  assert _segments(example, min_length=1) == [(40, 50, 5, 1), (0, 40, -1, 0)]


def test_a_video_without_annotation_is_one_background_segment():
  assert _segments(_example(30, []), min_length=8) == [(0, 30, -1, 0)]


def test_the_record_rate_wins_and_a_missing_one_needs_the_fallback():
  example = _example(100, [(2.0, 4.0, 3)], record_fps=20.0)
  assert _segments(example, min_length=1)[0] == (40, 80, 3, 1)
  no_rate = _example(100, [(2.0, 4.0, 3)], record_fps=0.0)
  assert _segments(no_rate, min_length=1, fallback_fps=10.0)[0] == (20, 40, 3, 1)
  with pytest.raises(tf.errors.InvalidArgumentError, match="config.data.video_fps"):
    _segments(no_rate, min_length=1)


def test_units_repeat_each_segment_and_keep_the_video():
  example = _example(100, [(2.0, 4.0, 3), (6.0, 7.0, 1)])
  units = list(segments.segment_units(example, min_length=12, clips_per_segment=5,
                                      fallback_fps=0.0).as_numpy_iterator())
  # Segments of >= 12 frames: [20,40) fg, [0,20), [40,60), [70,100) bg; [60,70) is too short.
  assert len(units) == 4 * 5
  per_segment = {}
  for unit in units:
    key = (int(unit["segment_start"]), int(unit["segment_end"]))
    per_segment.setdefault(key, []).append(int(unit["unit_index"]))
    assert unit["num_frames"] == 100 and unit["frames"].shape == (100,)
    assert "segment_start_us" not in unit
  assert sorted(per_segment) == [(0, 20), (20, 40), (40, 60), (70, 100)]
  assert all(indices == [0, 1, 2, 3, 4] for indices in per_segment.values())


def test_every_clip_lies_inside_its_segment():
  span = segments.clip_span(clip_length=4, frame_stride=3)  # 10 frames
  unit = {"segment_start": tf.constant(20), "segment_end": tf.constant(33),
          "unit_index": tf.constant(0)}
  starts = [int(segments.sample_clip_start(unit, span, tf.constant([0, i], tf.int64)))
            for i in range(300)]
  assert min(starts) == 20 and max(starts) == 33 - span  # every valid start is reached
  counts = np.bincount(np.array(starts) - 20)
  assert counts.min() > 300 / 4 / 2  # about uniform over the 4 starts
  evenly = [int(segments.sample_clip_start(dict(unit, unit_index=tf.constant(k)), span, None))
            for k in range(5)]
  assert evenly == [20, 21, 22, 22, 23]  # linspace(20, 23, 5), halves rounded up
  # A segment exactly one span long has one valid start.
  tight = {"segment_start": tf.constant(5), "segment_end": tf.constant(15),
           "unit_index": tf.constant(3)}
  assert int(segments.sample_clip_start(tight, span, tf.constant([1, 2], tf.int64))) == 5
  assert int(segments.sample_clip_start(tight, span, None)) == 5
