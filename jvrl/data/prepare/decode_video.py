"""Decodes one video file with PyAV: resized RGB frames and mono audio.

Any container and codec the installed FFmpeg reads (mp4, avi, webm, mkv, ...).
Frames are RGB uint8, resized so the short side is `short_side` (the display
aspect ratio kept, non-square pixels included). By default every decoded frame
is kept at the native frame rate; `fps > 0` resamples the timeline instead:
output frame k shows the frame on screen at time start + k / fps (frames are
dropped or repeated). `start`/`end` keep only the frames with start <= t < end,
t in seconds from the first decoded frame.

Audio (the first audio stream) is resampled to `audio_rate` by FFmpeg's
resampler, mixed down to mono float32 as the mean of its channels (FFmpeg's own
downmix adds +3 dB and can leave [-1, 1]) and aligned to the kept frames: sample 0 is at the first
kept frame's time and there are round(num_frames / fps * audio_rate) samples
(zero-padded where the audio track starts late or ends early).

Failures raise `DecodeError` whose `reason` is a `problems` reason string.
"""
import dataclasses
import fractions
import os
import re
from typing import Any, Callable, Optional, Sequence

import av
import numpy as np

# A decode is "truncated" when the file declares this much more video than decodes.
_TRUNCATION_SECONDS = 0.5
_TRUNCATION_FRACTION = 0.1
_AUDIO_TAIL_SECONDS = 0.5  # Audio read past a trimmed clip's end before stopping.
_EPS = 1e-6

FrameEncoder = Callable[[np.ndarray], Sequence[Any]]


class DecodeError(Exception):
  """A video that cannot be turned into frames; `reason` says why (see `problems`)."""

  def __init__(self, reason: str):
    super().__init__(reason)
    self.reason = reason


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
  """How to decode.

  Attributes:
    short_side: resize so the shorter side has this many pixels; 0 = keep the
      native size.
    fps: output frame rate; 0 = keep every frame at the native rate.
    audio_rate: audio sample rate in Hz; 0 = do not read audio.
  """
  short_side: int = 256
  fps: float = 0.0
  audio_rate: int = 48000

  def __post_init__(self):
    if self.short_side < 0 or self.fps < 0 or self.audio_rate < 0:
      raise ValueError(f"short_side, fps and audio_rate must be >= 0, got {self}.")


@dataclasses.dataclass
class DecodedVideo:
  """The decoded content of one video (or one clip of it).

  Attributes:
    frames: uint8 [T, H, W, 3] RGB frames, or, when decoding with a
      `frame_encoder`, the list of its outputs (one per frame).
    num_frames: T.
    fps: frames per second of `frames` (native rate, or `DecodeOptions.fps`).
    start: time of the first kept frame, seconds from the first decoded frame.
    height, width: frame size.
    waveform: float32 [S] mono audio aligned to the frames (see the module
      docstring), or None when there is no usable audio track.
    sample_rate: Hz of `waveform` (0 when None).
    has_audio_stream: whether the file has an audio stream at all.
    audio_error: the error that stopped audio decoding, '' if none.
    skipped_packets: video packets that failed to decode and were skipped.
  """
  frames: Any
  num_frames: int
  fps: float
  start: float
  height: int
  width: int
  waveform: Optional[np.ndarray]
  sample_rate: int
  has_audio_stream: bool
  audio_error: str = ""
  skipped_packets: int = 0

  @property
  def seconds(self) -> float:
    """Duration of the kept frames: num_frames / fps."""
    return self.num_frames / self.fps if self.fps else 0.0


def _rate(value) -> Optional[float]:
  if value is None:
    return None
  rate = float(value)
  return rate if rate > 0 and np.isfinite(rate) else None


def native_fps(stream: av.video.stream.VideoStream) -> Optional[float]:
  """The stream's frame rate: average, else guessed, else base rate (None if unknown)."""
  for value in (stream.average_rate, stream.guessed_rate, stream.base_rate):
    rate = _rate(value)
    if rate:
      return rate
  return None


_DURATION_TAG = re.compile(r"^(\d+):(\d+):(\d+(?:\.\d*)?)$")


def declared_seconds(container: av.container.InputContainer,
                     stream: av.video.stream.VideoStream) -> Optional[float]:
  """How long the file says its video stream is (None when it does not say).

  The largest of the stream's duration, its DURATION tag (Matroska) and its
  frame count / rate; the container's duration only when none is known.
  """
  candidates = []
  if stream.duration and stream.time_base:
    candidates.append(float(stream.duration * stream.time_base))
  match = _DURATION_TAG.match(stream.metadata.get("DURATION", "").strip())
  if match:
    h, m, s = match.groups()
    candidates.append(int(h) * 3600 + int(m) * 60 + float(s))
  rate = native_fps(stream)
  if stream.frames and rate:
    candidates.append(stream.frames / rate)
  if not candidates and container.duration:
    candidates.append(container.duration / av.time_base)
  return max(candidates) if candidates else None


def output_size(width: int, height: int, short_side: int,
                sample_aspect_ratio: Optional[fractions.Fraction] = None) -> tuple[int, int]:
  """(width, height) after resizing the short side to `short_side` (0 = native).

  Non-square pixels (`sample_aspect_ratio` != 1) are made square first.
  """
  display_width = float(width)
  if sample_aspect_ratio is not None and float(sample_aspect_ratio) > 0:
    display_width = width * float(sample_aspect_ratio)
  if not short_side:
    return max(1, round(display_width)), height
  if display_width <= height:
    return short_side, max(1, round(height * short_side / display_width))
  return max(1, round(display_width * short_side / height)), short_side


class _FrameSink:
  """Converts chosen frames to RGB at the output size and stores them in chunks."""

  def __init__(self, short_side: int, sample_aspect_ratio: Optional[fractions.Fraction],
               encoder: Optional[FrameEncoder], chunk_size: int):
    self._short_side = short_side
    self._sample_aspect_ratio = sample_aspect_ratio
    self._encoder = encoder
    self._chunk_size = chunk_size
    self._chunk: list[np.ndarray] = []
    self._done: list[Any] = []
    self.count = 0
    self.size: Optional[tuple[int, int]] = None  # (width, height)
    self._last: Optional[tuple[av.VideoFrame, np.ndarray]] = None

  def add(self, frame: av.VideoFrame) -> None:
    if self._last is not None and self._last[0] is frame:
      image = self._last[1]  # The same frame repeated (frame-rate upsampling).
    else:
      if self.size is None:
        self.size = output_size(frame.width, frame.height, self._short_side,
                                self._sample_aspect_ratio)
      width, height = self.size
      image = frame.to_ndarray(width=width, height=height, format="rgb24",
                               interpolation="AREA")
      self._last = (frame, image)
    self._chunk.append(image)
    self.count += 1
    if len(self._chunk) >= self._chunk_size:
      self._flush()

  def _flush(self) -> None:
    if not self._chunk:
      return
    block = np.stack(self._chunk)
    self._chunk = []
    if self._encoder is None:
      self._done.append(block)
    else:
      self._done.extend(self._encoder(block))

  def result(self) -> Any:
    self._flush()
    if self._encoder is not None:
      return self._done
    if not self._done:
      width, height = self.size or (0, 0)
      return np.zeros((0, height, width, 3), np.uint8)
    return np.concatenate(self._done)


class _FrameSelector:
  """Decides which decoded frames are kept (trimming and frame-rate resampling)."""

  def __init__(self, sink: _FrameSink, fps: float, start: float, end: float):
    self._sink, self._fps, self._start, self._end = sink, fps, start, end
    self._previous: Optional[tuple[float, av.VideoFrame]] = None
    self._next_index = 0  # Next output frame (resampling only).
    self.first_time: Optional[float] = None  # Time of the first kept frame.
    self.done = False  # True once a frame at or past `end` was seen.

  def _grid_time(self) -> float:
    return self._start + self._next_index / self._fps

  def _emit(self, time: float, frame: av.VideoFrame) -> None:
    if self.first_time is None:
      self.first_time = time
    self._sink.add(frame)

  def add(self, time: float, frame: av.VideoFrame) -> None:
    """Offers the next decoded frame, shown from `time` (seconds)."""
    if not self._fps:
      if time >= self._end - _EPS:
        self.done = True
      elif time >= self._start - _EPS:
        self._emit(time, frame)
      return
    # Every grid time before this frame shows the previous frame.
    while self._previous is not None:
      grid = self._grid_time()
      if grid >= min(time, self._end) - _EPS:
        break
      self._emit(grid, self._previous[1])
      self._next_index += 1
    if time >= self._end - _EPS:
      self.done = True
    self._previous = (time, frame)

  def finish(self, video_end: float) -> None:
    """Flushes grid times up to `video_end` (the end of the last frame)."""
    if not self._fps or self._previous is None:
      return
    limit = min(video_end, self._end)
    while self._grid_time() < limit - _EPS:
      self._emit(self._grid_time(), self._previous[1])
      self._next_index += 1


def _align_audio(chunks: list[np.ndarray], audio_start: float, clip_start: float,
                 num_samples: int, rate: int) -> np.ndarray:
  """Samples [clip_start, clip_start + num_samples / rate) of audio beginning at audio_start."""
  audio = np.concatenate(chunks) if chunks else np.zeros([0], np.float32)
  offset = int(round((clip_start - audio_start) * rate))
  out = np.zeros([num_samples], np.float32)
  begin, stop = max(offset, 0), min(offset + num_samples, audio.shape[0])
  if stop > begin:
    out[begin - offset:stop - offset] = audio[begin:stop]
  return out


def decode_video(path: str, options: DecodeOptions = DecodeOptions(), *,
                 start: Optional[float] = None, end: Optional[float] = None,
                 frame_encoder: Optional[FrameEncoder] = None,
                 chunk_size: int = 32, threads: int = 0) -> DecodedVideo:
  """Decodes `path` (see the module docstring).

  Args:
    path: the video file.
    options: output size, frame rate and audio rate.
    start, end: keep [start, end) seconds from the first frame (None = all).
    frame_encoder: optional function applied to each chunk of frames (uint8
      [t, H, W, 3]) returning one item per frame (e.g. JPEG bytes); then
      `DecodedVideo.frames` is the list of items and raw frames never pile up.
    chunk_size: frames per `frame_encoder` call.
    threads: decoder threads (frame and slice threading); 0 = FFmpeg's choice
      (about one per CPU). Parallel callers pass CPUs / processes.

  Returns:
    The `DecodedVideo`.

  Raises:
    DecodeError: reason 'empty_file', 'undecodable: ...', 'no_video_stream',
      'truncated: ...' or 'trimmed_range_empty: ...'.
    FileNotFoundError: `path` does not exist.
  """
  if os.path.getsize(path) == 0:
    raise DecodeError("empty_file")
  # FFmpeg's messages name the file: keep the report free of local paths.
  def without_path(message: str) -> str:
    return message.replace(f": {path!r}", "").replace(path, os.path.basename(path))

  try:
    container = av.open(path, metadata_errors="ignore")
  except (av.error.FFmpegError, UnicodeDecodeError) as e:
    raise DecodeError(f"undecodable: {without_path(str(e))}") from None
  with container:
    try:
      return _decode(container, options, start, end, frame_encoder, chunk_size, threads)
    except DecodeError as e:
      raise DecodeError(without_path(e.reason)) from None


def _decode(container, options, start, end, frame_encoder, chunk_size,
            threads) -> DecodedVideo:
  if not container.streams.video:
    raise DecodeError("no_video_stream")
  video = container.streams.video[0]
  video.codec_context.thread_type = "AUTO"
  video.codec_context.thread_count = max(0, threads)
  audio = container.streams.audio[0] if container.streams.audio else None
  rate = native_fps(video)
  clip_start = 0.0 if start is None else float(start)
  clip_end = float("inf") if end is None else float(end)
  sink = _FrameSink(options.short_side, video.sample_aspect_ratio, frame_encoder, chunk_size)
  selector = _FrameSelector(sink, float(options.fps), clip_start, clip_end)

  resampler = (av.AudioResampler(format="fltp", rate=options.audio_rate)
               if audio is not None and options.audio_rate else None)
  audio_chunks: list[np.ndarray] = []
  audio_start: Optional[float] = None
  audio_time = -float("inf")  # Time (relative to the first frame) of the last audio read.
  audio_error = ""

  origin: Optional[float] = None  # Absolute time of the first decoded frame.
  decoded, last_time, skipped, video_error = 0, 0.0, 0, ""

  def add_audio(frames) -> None:
    for resampled in frames:
      # fltp: [channels, samples] -> mono as the channel mean.
      audio_chunks.append(resampled.to_ndarray().mean(axis=0, dtype=np.float32))

  streams = [video] + ([audio] if resampler else [])
  try:
    for packet in container.demux(*streams):
      if packet.stream.type == "video":
        if selector.done:
          continue
        try:
          frames = packet.decode()
        except av.error.FFmpegError as e:  # A damaged packet: skip it, as ffmpeg does.
          skipped += 1
          video_error = str(e)
          continue
        for frame in frames:
          absolute = frame.time
          if absolute is None:
            absolute = (origin or 0.0) + decoded / (rate or 30.0)
          if origin is None:
            origin = absolute
          decoded += 1
          selector.add(absolute - origin, frame)
          last_time = max(last_time, absolute - origin)
      elif resampler is not None:
        try:
          for frame in packet.decode():
            if audio_start is None:
              audio_start = frame.time if frame.time is not None else (origin or 0.0)
            if frame.time is not None and origin is not None:
              audio_time = frame.time - origin
            add_audio(resampler.resample(frame))
        except (av.error.FFmpegError, ValueError) as e:
          audio_error = str(e) or type(e).__name__
          resampler = None
      if selector.done and (resampler is None or audio_time > clip_end + _AUDIO_TAIL_SECONDS):
        break
  except av.error.FFmpegError as e:
    raise DecodeError(f"undecodable: {e} (after {decoded} frames)") from None
  if resampler is not None:
    try:
      add_audio(resampler.resample(None))
    except (av.error.FFmpegError, ValueError) as e:
      audio_error = str(e) or type(e).__name__

  if decoded == 0:
    raise DecodeError("undecodable: no video frame could be decoded" + (
        f" ({skipped} packets failed: {video_error})" if skipped else ""))
  if rate is None:
    rate = (decoded - 1) / last_time if decoded > 1 and last_time > 0 else 30.0
  video_end = last_time + 1.0 / rate
  selector.finish(video_end)
  if not selector.done:  # The whole file was read: is it all there?
    declared = declared_seconds(container, video)
    if declared and declared - video_end > max(_TRUNCATION_SECONDS,
                                               _TRUNCATION_FRACTION * declared):
      raise DecodeError(f"truncated: decoded {video_end:.2f} s of the {declared:.2f} s the "
                        "file declares")
  if sink.count == 0:
    raise DecodeError(f"trimmed_range_empty: [{clip_start:g}, {clip_end:g}) s holds no frame of "
                      f"the {video_end:.2f} s video")

  fps = float(options.fps) or rate
  height_width = sink.size[1], sink.size[0]
  waveform = None
  if audio_chunks and not audio_error and audio_start is not None:
    clip_first = origin + selector.first_time
    waveform = _align_audio(audio_chunks, audio_start, clip_first,
                            int(round(sink.count / fps * options.audio_rate)), options.audio_rate)
  return DecodedVideo(
      frames=sink.result(), num_frames=sink.count, fps=fps, start=selector.first_time,
      height=height_width[0], width=height_width[1], waveform=waveform,
      sample_rate=options.audio_rate if waveform is not None else 0,
      has_audio_stream=audio is not None, audio_error=audio_error, skipped_packets=skipped)
