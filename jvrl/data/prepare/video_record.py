"""One video -> its serialized SequenceExample, manifest entry and problems.

`make_video_record` is what a worker process runs for every video: decode
(`decode_video`), JPEG-encode every frame (Pillow's libjpeg: here the same
pixels as `records.encode_jpeg_frames` at the same quality, only the JFIF
density header differs, at half the cost), serialize the record (`sequence_example`, the bytes of
`records.make_sequence_example`). Nothing here imports TensorFlow, so worker
processes start in well under a second. It never raises for a bad video: the
failure comes back as a `Problem` instead.

An untrimmed video with temporal annotations (`VideoEntry.segments` not None)
is decoded whole; its segments are checked against the DECODED duration
(frames / fps; `segments.check_segments`) and stored in microseconds with
their class index and name. Every clipped or dropped segment is a warning of
its own (with the segment), a video left with no segment is written and
flagged `no_segments` (TSP reads it as all background), and an annotated
duration more than `DURATION_TOLERANCE_SECONDS` away from the decoded one is
flagged `duration_mismatch`.

A video with timed captions (`VideoEntry.captions` not None, e.g. HowTo100M)
is decoded whole too; its sentences are stored in time order as
'caption/string' with 'caption/start|end/timestamp' in microseconds.
"""
import dataclasses
import io
from typing import Any, Optional

import numpy as np
from PIL import Image

from jvrl.data import flow_quantization
from jvrl.data.prepare import decode_video
from jvrl.data.prepare import inputs
from jvrl.data.prepare import optical_flow
from jvrl.data.prepare import problems as problems_lib
from jvrl.data.prepare import segments as segments_lib
from jvrl.data.prepare import sequence_example

DURATION_TOLERANCE_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class RecordOptions:
  """How to turn a video into a record.

  Attributes:
    decode: frame size, frame rate and audio rate.
    jpeg_quality: JPEG quality of the stored frames, 1-100.
    min_frames: videos with fewer frames are written but flagged 'too_short'.
    flow: '' (none), or the optical-flow method ('tvl1', 'farneback';
      `optical_flow.FLOW_METHODS`) whose flow between consecutive stored
      frames goes into the record ('flow/encoded', `jvrl.data.records`).
  """
  decode: decode_video.DecodeOptions = decode_video.DecodeOptions()
  jpeg_quality: int = 90
  min_frames: int = 16
  flow: str = ""

  def __post_init__(self):
    if self.flow and self.flow not in optical_flow.FLOW_METHODS:
      raise ValueError(f"flow must be '' or one of {optical_flow.FLOW_METHODS}, got "
                       f"{self.flow!r}.")
    if not 1 <= self.jpeg_quality <= 100:
      raise ValueError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}.")
    if self.min_frames < 0:
      raise ValueError(f"min_frames must be >= 0, got {self.min_frames}.")


@dataclasses.dataclass
class VideoResult:
  """What became of one video.

  Attributes:
    record: the serialized SequenceExample; None when the video failed.
    info: its manifest entry (without the shard); None when it failed.
    problems: the failure, or the warnings of a written video.
  """
  record: Optional[bytes]
  info: Optional[dict[str, Any]]
  problems: list[problems_lib.Problem]


def encode_jpeg(frames: np.ndarray, quality: int) -> list[bytes]:
  """One JPEG (4:2:0, baseline) per frame of uint8 [T, H, W, 3] RGB frames."""
  out = []
  for frame in frames:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    out.append(buffer.getvalue())
  return out


def _problem(entry: inputs.VideoEntry, reason: str) -> problems_lib.Problem:
  return problems_lib.Problem(file=entry.file, split=entry.split, reason=reason,
                              start=entry.start, end=entry.end)


def failed(entry: inputs.VideoEntry, reason: str) -> VideoResult:
  """The result of a video that could not be written."""
  return VideoResult(record=None, info=None, problems=[_problem(entry, reason)])


def _warnings(entry: inputs.VideoEntry, video: decode_video.DecodedVideo,
              options: RecordOptions) -> list[problems_lib.Problem]:
  reasons = []
  if options.decode.audio_rate:
    if video.audio_error:
      reasons.append(f"audio_undecodable: {video.audio_error}")
    elif not video.has_audio_stream:
      reasons.append("no_audio")
    elif video.waveform is None:
      reasons.append("no_audio: the audio track decodes to no samples")
  if video.num_frames < options.min_frames:
    reasons.append(f"too_short: {video.num_frames} frames ({video.seconds:.2f} s) < "
                   f"{options.min_frames}")
  if video.skipped_packets:
    reasons.append(f"decode_errors: {video.skipped_packets} damaged video packets skipped")
  return [_problem(entry, r) for r in reasons]


def _segment_problems(entry: inputs.VideoEntry, video: decode_video.DecodedVideo,
                      stored: list[segments_lib.StoredSegment],
                      issues: list[segments_lib.SegmentIssue]) -> list[problems_lib.Problem]:
  """The warnings about an untrimmed video's annotation (module docstring)."""
  out = [problems_lib.Problem(entry.file, entry.split, issue.reason,
                              segment=tuple(issue.segment)) for issue in issues]
  if entry.annotated_seconds is not None and abs(
      entry.annotated_seconds - video.seconds) > DURATION_TOLERANCE_SECONDS:
    out.append(_problem(entry, (
        f"duration_mismatch: the annotation says {entry.annotated_seconds:.2f} s, the video "
        f"decodes to {video.seconds:.2f} s ({video.num_frames} frames at {video.fps:g} fps); "
        "segments are checked against the decoded duration")))
  if not stored:
    out.append(_problem(entry, (
        "no_segments: the annotations name no segment of it; written all background"
        if not entry.segments else
        f"no_segments: all {len(entry.segments)} of its segments were dropped; written all "
        "background")))
  return out


def make_video_record(entry: inputs.VideoEntry, label_index: int,
                      segment_labels: tuple[int, ...] = (), *,
                      options: RecordOptions = RecordOptions(),
                      decoder_threads: int = 0) -> VideoResult:
  """Decodes and encodes one video; bad videos come back as problems, never raise.

  Args:
    entry: the video.
    label_index: its class index, -1 when unlabelled.
    segment_labels: the class index of each of `entry.segments`, -1 for a
      class outside the label list.
    options: how to decode and encode.
    decoder_threads: FFmpeg decoder threads (0 = its choice); does not change
      the output.

  Returns:
    The `VideoResult`: record + manifest entry + warnings, or the failure.
  """
  def frame_encoder(block):
    return encode_jpeg(block, options.jpeg_quality)

  if options.flow:
    frame_encoder = optical_flow.FlowFrameEncoder(options.flow, frame_encoder)
  try:
    video = decode_video.decode_video(
        entry.path, options.decode, start=entry.start, end=entry.end,
        frame_encoder=frame_encoder, threads=decoder_threads)
  except FileNotFoundError:
    return failed(entry, "missing_file")
  except decode_video.DecodeError as e:
    return failed(entry, e.reason)
  except Exception as e:  # pylint: disable=broad-except  # A bad file must not end the run.
    return failed(entry, f"undecodable: {type(e).__name__}: {e}")

  start_us = int(round(video.start * 1e6))
  stored, segment_warnings = [], []
  if entry.segments is not None:
    stored, issues = segments_lib.check_segments(entry.segments, segment_labels,
                                                 video.seconds)
    segment_warnings = _segment_problems(entry, video, stored, issues)
  captions = [entry.caption] if entry.caption else []
  caption_start_us, caption_end_us = [], []
  if entry.captions is not None:  # Timed sentences of a whole video, in time order.
    captions = [c.text for c in entry.captions]
    caption_start_us = [int(round(c.start * 1e6)) for c in entry.captions]
    caption_end_us = [int(round(c.end * 1e6)) for c in entry.captions]
  record = sequence_example.serialize_video_record(
      jpeg_frames=video.frames,
      label=label_index,
      label_text=entry.label,
      captions=captions,
      caption_start_us=caption_start_us,
      caption_end_us=caption_end_us,
      waveform=video.waveform,
      filename=entry.file,
      fps=video.fps,
      sample_rate=video.sample_rate or None,
      start_us=start_us,
      end_us=start_us + int(round(video.seconds * 1e6)),
      segments=stored,
      **({"flow_jpegs": frame_encoder.flow_jpegs, "flow_bound": flow_quantization.FLOW_BOUND,
          "flow_method": options.flow} if options.flow else {}),
  )
  warnings = _warnings(entry, video, options) + segment_warnings
  info = {
      "file": entry.file,
      "split": entry.split,
      "label": entry.label,
      "label_index": label_index,
      "frames": video.num_frames,
      "fps": round(video.fps, 6),
      "seconds": round(video.seconds, 6),
      "height": video.height,
      "width": video.width,
      "has_audio": video.waveform is not None,
      "audio_samples": 0 if video.waveform is None else int(video.waveform.shape[0]),
      "flags": [w.reason for w in warnings],
  }
  if options.flow:
    info["flow"], info["flow_frames"] = options.flow, len(frame_encoder.flow_jpegs)
  if entry.caption:
    info["caption"] = entry.caption
  if entry.start is not None or entry.end is not None:
    info["start"], info["end"] = entry.start, entry.end
  if entry.segments is not None:
    info["segments"], info["annotated_segments"] = len(stored), len(entry.segments)
  if entry.captions is not None:
    info["timed_captions"] = len(entry.captions)
  return VideoResult(record=record, info=info, problems=warnings)
