"""Small real video files for the tests of jvrl.data.prepare, made with PyAV.

Test modules build them once with a module-scoped fixture calling
`make_sample_videos` (about a second).

Every video is 32x24 at 10 fps; frame i is a flat grey of value
`frame_value(i)` (= 10 + 6 i), so a decoded frame tells which source frame it
is. Audio is stereo: a slow ramp 0.9 * t / duration on both channels (pcm
keeps it exact; aac / opus only roughly). Codecs the installed FFmpeg cannot
encode are skipped (their videos are left out of `sample_videos`).
"""
import os
import pathlib
from typing import Optional

import numpy as np
import pytest

av = pytest.importorskip("av")

FPS = 10
WIDTH, HEIGHT = 32, 24


def frame_value(index: int) -> int:
  """Grey level of source frame `index`."""
  return 10 + 6 * index


def frame_index(frame: np.ndarray) -> int:
  """Which source frame a decoded uint8 [H, W, 3] frame shows."""
  return int(round((float(frame.mean()) - 10) / 6))


def can_encode(codec: str) -> bool:
  """Whether this FFmpeg build has an encoder `codec`."""
  try:
    av.codec.Codec(codec, "w")
    return True
  except Exception:  # pylint: disable=broad-except
    return False


def _audio_frames(stream, seconds: float, rate: int):
  codec = stream.codec_context
  planar = codec.format.is_planar
  total = int(round(seconds * rate))
  step = codec.frame_size or 1024
  for begin in range(0, total, step):
    count = min(step, total - begin)
    ramp = (0.9 * np.arange(begin, begin + count) / total).astype(np.float32)
    if planar:
      data, fmt = np.stack([ramp, ramp]), "fltp"
    else:
      data, fmt = np.stack([ramp, ramp], axis=-1).reshape(1, -1), "flt"
    frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="stereo")
    frame.sample_rate, frame.pts = rate, begin
    yield frame


def write_video(path: str, container: str, video_codec: str, audio_codec: Optional[str] = None,
                num_frames: int = 30, fps: int = FPS, width: int = WIDTH,
                height: int = HEIGHT) -> str:
  """Encodes a test video (module docstring) and returns its path."""
  with av.open(path, "w", format=container) as out:
    video = out.add_stream(video_codec, rate=fps)
    video.width, video.height = width, height
    video.pix_fmt = "yuvj420p" if video_codec == "mjpeg" else "yuv420p"
    video.bit_rate = 4_000_000  # Near-lossless: frame values must survive.
    audio = None
    if audio_codec:
      audio = out.add_stream(audio_codec, rate=48000 if "opus" in audio_codec else 16000)
      audio.layout = "stereo"
    for i in range(num_frames):
      image = np.full((height, width, 3), frame_value(i), np.uint8)
      out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
    out.mux(video.encode())
    if audio is not None:
      for frame in _audio_frames(audio, num_frames / fps, audio.codec_context.sample_rate):
        out.mux(audio.encode(frame))
      out.mux(audio.encode())
  return path


# name -> (container format, video codec, audio codec, frames)
GOOD_VIDEOS = {
    "h264_aac.mp4": ("mp4", "libx264", "aac", 30),
    "mpeg4.mp4": ("mp4", "mpeg4", None, 24),
    "mjpeg_pcm.avi": ("avi", "mjpeg", "pcm_s16le", 20),
    "mpeg4.avi": ("avi", "mpeg4", None, 26),
    "vp8_opus.webm": ("webm", "libvpx", "libopus", 30),
    "vp9.webm": ("webm", "libvpx-vp9", None, 22),
    "h264_pcm.mkv": ("matroska", "libx264", "pcm_s16le", 40),
    "short.mkv": ("matroska", "mpeg4", None, 10),
}


def make_sample_videos(directory: pathlib.Path) -> dict[str, dict]:
  """Writes the test videos into `directory`.

  Returns:
    name -> {'path', 'frames', 'audio'} of the good videos (`GOOD_VIDEOS`
    whose codecs this FFmpeg has), plus {'path'} of broken files:
    'empty.mp4' (0 bytes), 'truncated.mkv' (first half of a good mkv),
    'truncated.mp4' (first half of a good mp4: its index is at the end),
    'random.avi' (random bytes), 'audio_only.mp4' (aac, no video stream).
  """
  videos = {}
  for name, (container, video_codec, audio_codec, frames) in GOOD_VIDEOS.items():
    if not can_encode(video_codec) or (audio_codec and not can_encode(audio_codec)):
      continue
    path = write_video(str(directory / name), container, video_codec, audio_codec, frames)
    videos[name] = {"path": path, "frames": frames, "audio": audio_codec is not None}
  assert len(videos) >= 4, "this FFmpeg encodes too few of the test codecs"

  broken = {}
  broken["empty.mp4"] = str(directory / "empty.mp4")
  open(broken["empty.mp4"], "wb").close()
  for name, source in (("truncated.mkv", "h264_pcm.mkv"), ("truncated.mp4", "h264_aac.mp4")):
    if source in videos:
      with open(videos[source]["path"], "rb") as f:
        data = f.read()
      broken[name] = str(directory / name)
      with open(broken[name], "wb") as f:
        f.write(data[:len(data) // 2])
  broken["random.avi"] = str(directory / "random.avi")
  with open(broken["random.avi"], "wb") as f:
    f.write(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
  if can_encode("aac"):
    path = str(directory / "audio_only.mp4")
    with av.open(path, "w") as out:
      stream = out.add_stream("aac", rate=16000)
      stream.layout = "stereo"
      for frame in _audio_frames(stream, 1.0, 16000):
        out.mux(stream.encode(frame))
      out.mux(stream.encode())
    broken["audio_only.mp4"] = path
  for name, path in broken.items():
    videos[name] = {"path": path}
  assert all(os.path.exists(v["path"]) for v in videos.values())
  return videos
