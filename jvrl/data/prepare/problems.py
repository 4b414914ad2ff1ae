"""Why a video was not written (a failure) or was written with a caveat (a warning).

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
"""
import dataclasses
from typing import Any, Optional

FAILURES = ("missing_file", "empty_file", "undecodable", "no_video_stream", "truncated",
            "trimmed_range_empty", "decoder_crashed")
WARNINGS = ("no_audio", "audio_undecodable", "too_short", "decode_errors", "duplicate_entry",
            "not_a_video")


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
  """
  file: str
  split: str
  reason: str
  start: Optional[float] = None
  end: Optional[float] = None

  def __post_init__(self):
    if category(self.reason) not in FAILURES + WARNINGS:
      raise ValueError(f"Unknown problem category in reason {self.reason!r}.")

  @property
  def is_failure(self) -> bool:
    """True when the video is missing from the records."""
    return category(self.reason) in FAILURES

  def to_dict(self) -> dict[str, Any]:
    """JSON form: file, split, reason (+ start/end when set)."""
    out = {"file": self.file, "split": self.split, "reason": self.reason}
    if self.start is not None:
      out["start"] = self.start
    if self.end is not None:
      out["end"] = self.end
    return out

  @classmethod
  def from_dict(cls, d: dict[str, Any]) -> "Problem":
    """Inverse of `to_dict`."""
    return cls(file=d["file"], split=d["split"], reason=d["reason"], start=d.get("start"),
               end=d.get("end"))
