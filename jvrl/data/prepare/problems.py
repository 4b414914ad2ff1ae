"""Why a video failed, was skipped or was written with a caveat (report.json's entries).

A reason is a string `category` or `category: detail`, e.g.
`'missing_file'`, `'undecodable: Invalid data found when processing input'`,
`'too_short: 9 frames < 16'`. The category alone is what the summary counts.

Failures (the video is NOT in the records):
  missing_file         a file named by a CSV / split file / annotation is absent.
  empty_file           zero bytes.
  undecodable          FFmpeg could not open or decode it (detail: the error).
  no_video_stream      the file has no video stream (e.g. audio only).
  truncated            far fewer seconds decode than the file declares.
  trimmed_range_empty  the requested [start, end) holds no frame.
  decoder_crashed      decoding killed its worker process.
Skipped (the video is NOT in the records, by choice; not a failure):
  no_annotation        an untrimmed video the annotations name no segment of
                       (ActivityNet 'testing', a THUMOS14 video no class file
                       names); written instead with `--unannotated=write`.
Warnings (the video IS in the records):
  no_audio             no audio track (or one that decodes to nothing); the
                       record has an empty waveform.
  audio_undecodable    the audio track failed to decode; written without audio.
  too_short            fewer frames than `min_frames`.
  decode_errors        some packets failed to decode and were skipped.
  duplicate_entry      the same (split, file, start, end) was listed twice;
                       written once.
  not_a_video          a file in an input folder without a video extension;
                       not read.
  duration_mismatch    the annotation's duration and the decoded video's
                       (frames / fps) differ by more than a second.
  no_segments          an untrimmed video written with zero segments (every
                       segment dropped, or no annotation and
                       `--unannotated=write`): all background.
Segment warnings (one per annotated segment; the entry has `segment` =
{start, end, label} as annotated, in seconds, and `action`):
  segment_clipped         starts before 0 or ends after the video: stored
                          clipped to [0, duration] (action 'clipped').
  segment_outside_video   starts at or after the video's end, or ends at or
                          before 0 (action 'dropped').
  segment_empty           zero or negative length (action 'dropped').
  segment_unknown_class   its class is not in the label list, e.g. not in
                          `--labels_file` (action 'dropped').
  segment_duplicate       the same (start, end, label) again (action 'dropped').
  ambiguous_segment       THUMOS14's Ambiguous_*.txt: not a class (action
                          'dropped').
"""
import dataclasses
from typing import Any, Optional

FAILURES = ("missing_file", "empty_file", "undecodable", "no_video_stream", "truncated",
            "trimmed_range_empty", "decoder_crashed")
SKIPS = ("no_annotation",)
SEGMENT_WARNINGS = ("segment_clipped", "segment_outside_video", "segment_empty",
                    "segment_unknown_class", "segment_duplicate", "ambiguous_segment")
WARNINGS = ("no_audio", "audio_undecodable", "too_short", "decode_errors", "duplicate_entry",
            "not_a_video", "duration_mismatch", "no_segments") + SEGMENT_WARNINGS


def category(reason: str) -> str:
  """The part of `reason` before the first ':' (e.g. 'too_short')."""
  return reason.split(":", 1)[0].strip()


@dataclasses.dataclass(frozen=True)
class Problem:
  """One entry of report.json: a video (or file) and what was wrong with it.

  Attributes:
    file: the video's name as listed (relative to the input root).
    split: the split it was listed in ('' for files that belong to none).
    reason: `category` or `category: detail` (see the module docstring).
    start, end: the requested clip bounds in seconds, when it had any.
    segment: (start, end, label) of the annotated segment, seconds as
      annotated, for the segment categories.
  """
  file: str
  split: str
  reason: str
  start: Optional[float] = None
  end: Optional[float] = None
  segment: Optional[tuple[float, float, str]] = None

  def __post_init__(self):
    if category(self.reason) not in FAILURES + SKIPS + WARNINGS:
      raise ValueError(f"Unknown problem category in reason {self.reason!r}.")
    if (self.segment is not None) != (category(self.reason) in SEGMENT_WARNINGS):
      raise ValueError(f"A segment problem needs its segment, and only it: {self}.")

  @property
  def is_failure(self) -> bool:
    """True when the video is missing from the records because something went wrong."""
    return category(self.reason) in FAILURES

  @property
  def is_skip(self) -> bool:
    """True when the video was left out by choice (e.g. `no_annotation`)."""
    return category(self.reason) in SKIPS

  @property
  def action(self) -> Optional[str]:
    """What became of a segment: 'clipped' or 'dropped' (None for video problems)."""
    if self.segment is None:
      return None
    return "clipped" if category(self.reason) == "segment_clipped" else "dropped"

  def to_dict(self) -> dict[str, Any]:
    """JSON form: file, split, reason (+ start/end when set, + segment and action)."""
    out = {"file": self.file, "split": self.split, "reason": self.reason}
    if self.start is not None:
      out["start"] = self.start
    if self.end is not None:
      out["end"] = self.end
    if self.segment is not None:
      start, end, label = self.segment
      out["segment"] = {"start": start, "end": end, "label": label}
      out["action"] = self.action
    return out

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "Problem":
    """Inverse of `to_dict`."""
    segment = d.get("segment")
    return cls(file=d["file"], split=d["split"], reason=d["reason"], start=d.get("start"),
               end=d.get("end"),
               segment=None if segment is None else (segment["start"], segment["end"],
                                                     segment["label"]))
