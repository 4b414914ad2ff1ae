"""The temporal segments of an untrimmed video, checked against the decoded video.

An annotation names action instances in seconds (`AnnotatedSegment`); the
record stores them in microseconds with their class index
(`records.Segment`'s fields). `check_segments` decides, for every annotated
segment, whether it is stored as is, stored clipped, or dropped, and why:

  segment_duplicate      the same (start, end, label) as an earlier one: dropped.
  segment_unknown_class  its class has no index (not in the label list, e.g.
                         `--labels_file`): dropped.
  segment_empty          end <= start (zero or negative length): dropped.
  segment_outside_video  starts at or after the video's end, or ends at or
                         before 0: dropped.
  segment_clipped        starts before 0 and/or ends after the video's end:
                         stored clipped to [0, duration].

The duration is the DECODED video's (frames / fps), never the annotation's.
All comparisons are made in whole microseconds, the unit stored. Stored
segments are sorted by (start, end, class index).
"""
import math
from typing import NamedTuple, Sequence


class AnnotatedSegment(NamedTuple):
  """One action instance as an annotation gives it.

  Attributes:
    start, end: seconds from the video's first frame.
    label: class name.
  """
  start: float
  end: float
  label: str


class StoredSegment(NamedTuple):
  """A segment as the record stores it (the fields of `records.Segment`)."""
  start_us: int
  end_us: int
  label: int
  label_text: str


class SegmentIssue(NamedTuple):
  """A segment that was clipped or dropped; `reason` is a `problems` reason."""
  segment: AnnotatedSegment
  reason: str


def seconds_text(seconds: float) -> str:
  """Seconds for a message, to the microsecond without trailing zeros ('67.5', '3')."""
  return f"{seconds:.6f}".rstrip("0").rstrip(".")


def to_microseconds(seconds: float) -> int:
  """Whole microseconds (rounded to nearest)."""
  if not math.isfinite(seconds):
    raise ValueError(f"A segment time must be a finite number of seconds, got {seconds}.")
  return int(round(seconds * 1e6))


def check_segments(segments: Sequence[AnnotatedSegment], label_indices: Sequence[int],
                   seconds: float) -> tuple[list[StoredSegment], list[SegmentIssue]]:
  """The segments to store and the issues of the others (module docstring).

  Args:
    segments: the video's annotated segments.
    label_indices: the class index of each segment, -1 for an unknown class.
    seconds: the decoded video's duration.

  Returns:
    (stored segments sorted by (start, end, label), one issue per segment
    that was clipped or dropped, in annotation order).
  """
  if len(segments) != len(label_indices):
    raise ValueError(f"{len(segments)} segments but {len(label_indices)} label indices.")
  duration_us = to_microseconds(seconds)
  duration = seconds_text(duration_us / 1e6)
  stored, issues, seen = [], [], set()
  for segment, label in zip(segments, label_indices):
    start, end = seconds_text(segment.start), seconds_text(segment.end)
    start_us, end_us = to_microseconds(segment.start), to_microseconds(segment.end)
    if segment in seen:
      drop = "segment_duplicate: the same start, end and class are listed earlier"
    elif label < 0:
      drop = f"segment_unknown_class: {segment.label!r} is not in the label list"
    elif end_us <= start_us:
      drop = f"segment_empty: end {end} s <= start {start} s"
    elif start_us >= duration_us:
      drop = (f"segment_outside_video: starts at {start} s, at or after the end of the "
              f"{duration} s video")
    elif end_us <= 0:
      drop = f"segment_outside_video: ends at {end} s, at or before the video's start"
    else:
      drop = ""
    seen.add(segment)
    if drop:
      issues.append(SegmentIssue(segment, drop))
      continue
    clipped = []
    if start_us < 0:
      clipped.append(f"starts at {start} s, before the video: start set to 0")
      start_us = 0
    if end_us > duration_us:
      clipped.append(f"ends at {end} s, after the end of the {duration} s video: end set to "
                     f"{duration} s")
      end_us = duration_us
    if clipped:
      issues.append(SegmentIssue(segment, "segment_clipped: " + "; ".join(clipped)))
    stored.append(StoredSegment(start_us, end_us, int(label), segment.label))
  return sorted(stored), issues
