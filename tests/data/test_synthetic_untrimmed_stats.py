"""Tests of jvrl.data.synthetic_untrimmed_stats on hand-made videos."""
import numpy as np

from jvrl.data import synthetic_untrimmed as su
from jvrl.data import synthetic_untrimmed_stats as stats


def _video() -> dict:
  """10 frames: bg 0-1, class 3 in 2-5, bg 6-9; appearance cuts at 4 and 6."""
  frames = np.zeros((10, 2, 2, 3), np.uint8)
  frames[:, 0, 0, 0] = [0, 12, 24, 36, 48, 60, 72, 84, 96, 108]  # +12 per frame in one of 12
  frames[4:] += 100  # the cut at 4 (the cut at 6 changes nothing here)
  return {
      "frames": frames,
      "frame_labels": np.array([-1, -1, 3, 3, 3, 3, -1, -1, -1, -1]),
      "segments": [su.ActionSegment(2, 6, 3, "move_down")],
      "appearance_starts": np.array([0, 4, 6]),
  }


def test_frame_differences():
  np.testing.assert_allclose(stats.frame_differences(_video()["frames"])[:3], [1.0, 1.0, 1.0])


def test_statistics_of_one_video():
  summary = stats.statistics([_video()])
  assert summary["num_videos"] == 1 and summary["num_frames"] == 10
  assert summary["fg_segments"] == 1 and summary["bg_segments"] == 2
  assert list(summary["class_counts"]) == [0, 0, 0, 1]
  assert summary["fg_fraction"] == 0.4
  # fg pairs (2,3), (4,5) [(3,4) is on the cut]; bg pairs (0,1), (7,8), (8,9) [(6,7)'s 6 is a cut].
  assert summary["fg_motion_energy"] == 1.0 and summary["bg_motion_energy"] == 1.0
  assert summary["boundaries"] == 2  # at 2 and 6
  assert summary["boundary_cut_fraction"] == 0.5  # 6 is a cut
  assert np.isclose(summary["boundary_cut_chance"], 2 / 9)
  assert stats.statistics([_video()], min_stretch_frames=3)["bg_segments"] == 1


def test_split_statistics_renders_the_split():
  cfg = su.UntrimmedSyntheticConfig(height=16, width=16, num_frames_range=(24, 36),
                                    segments_per_video=(1, 2), segment_frames_range=(8, 12),
                                    background_frames_range=(4, 8), eval_test_videos=4)
  summary = stats.split_statistics(cfg, "eval_test")
  assert summary["num_videos"] == 4
  assert summary["fg_segments"] == sum(len(v) for v in su.split_segment_labels(cfg, "eval_test"))
  assert 0 < summary["fg_fraction"] < 1
  assert stats.split_statistics(cfg, "eval_test", max_videos=2)["num_videos"] == 2
