"""Tests of jvrl.data.prepare.segments: which annotated segments are stored, clipped, dropped."""
import pytest

from jvrl.data.prepare import problems
from jvrl.data.prepare import segments

Seg = segments.AnnotatedSegment


def _categories(issues):
  return [(tuple(i.segment), problems.category(i.reason)) for i in issues]


def test_segments_inside_the_video_are_stored_in_microseconds_sorted():
  stored, issues = segments.check_segments(
      [Seg(67.5, 75.9, "LongJump"), Seg(0.1, 2.000001, "Diving"), Seg(0.1, 2.000001, "Zumba")],
      [1, 0, 2], seconds=80.0)
  assert stored == [(100_000, 2_000_001, 0, "Diving"), (100_000, 2_000_001, 2, "Zumba"),
                    (67_500_000, 75_900_000, 1, "LongJump")]
  assert issues == []


def test_every_bad_segment_is_clipped_or_dropped_with_its_reason():
  annotated = [
      Seg(1.0, 4.0, "run"),        # Ends after the 3 s video: clipped.
      Seg(-0.5, 1.0, "run"),       # Starts before 0: clipped.
      Seg(3.0, 5.0, "run"),        # Starts at the end: dropped.
      Seg(-2.0, 0.0, "run"),       # Ends at 0: dropped.
      Seg(2.0, 2.0, "run"),        # Zero length: dropped.
      Seg(2.5, 1.5, "run"),        # Negative length: dropped.
      Seg(0.5, 1.0, "fly"),        # Unknown class: dropped.
      Seg(1.0, 4.0, "run"),        # Repeated: dropped.
  ]
  stored, issues = segments.check_segments(annotated, [0, 0, 0, 0, 0, 0, -1, 0], seconds=3.0)
  assert stored == [(0, 1_000_000, 0, "run"), (1_000_000, 3_000_000, 0, "run")]
  assert _categories(issues) == [
      ((1.0, 4.0, "run"), "segment_clipped"), ((-0.5, 1.0, "run"), "segment_clipped"),
      ((3.0, 5.0, "run"), "segment_outside_video"), ((-2.0, 0.0, "run"), "segment_outside_video"),
      ((2.0, 2.0, "run"), "segment_empty"), ((2.5, 1.5, "run"), "segment_empty"),
      ((0.5, 1.0, "fly"), "segment_unknown_class"), ((1.0, 4.0, "run"), "segment_duplicate")]
  assert issues[0].reason == ("segment_clipped: ends at 4 s, after the end of the 3 s video: end "
                              "set to 3 s")
  assert issues[2].reason == ("segment_outside_video: starts at 3 s, at or after the end of the "
                              "3 s video")
  assert issues[6].reason == "segment_unknown_class: 'fly' is not in the label list"
  for issue in issues:  # Every reason is one the report accepts.
    problems.Problem("v.mp4", "train", issue.reason, segment=tuple(issue.segment))


def test_a_video_without_segments_and_mismatched_inputs():
  assert segments.check_segments([], [], seconds=1.0) == ([], [])
  with pytest.raises(ValueError, match="label indices"):
    segments.check_segments([Seg(0, 1, "a")], [], seconds=1.0)


def test_segment_problems_round_trip_with_their_action():
  clipped = problems.Problem("v_x.mp4", "train", "segment_clipped: ends late",
                             segment=(1.0, 4.0, "run"))
  dropped = problems.Problem("v_x.mp4", "train", "segment_empty: end 2 s <= start 2 s",
                             segment=(2.0, 2.0, "run"))
  assert clipped.to_dict() == {"file": "v_x.mp4", "split": "train",
                               "reason": "segment_clipped: ends late",
                               "segment": {"start": 1.0, "end": 4.0, "label": "run"},
                               "action": "clipped"}
  assert dropped.to_dict()["action"] == "dropped"
  for p in (clipped, dropped):
    assert problems.Problem.from_dict(p.to_dict()) == p
    assert not p.is_failure and not p.is_skip
  assert problems.Problem("v", "test", "no_annotation").is_skip
  with pytest.raises(ValueError, match="segment"):
    problems.Problem("v", "train", "segment_empty")  # A segment problem names its segment.
