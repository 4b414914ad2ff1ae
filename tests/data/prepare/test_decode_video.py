"""Tests of jvrl.data.prepare.decode_video on real files of several containers/codecs."""
import fractions

import numpy as np
import pytest

from jvrl.data.prepare import decode_video as dv
from tests.data.prepare import video_files

_GOOD = list(video_files.GOOD_VIDEOS)


@pytest.fixture(scope="module")
def sample_videos(tmp_path_factory):
  return video_files.make_sample_videos(tmp_path_factory.mktemp("sample_videos"))


def _video(videos, name):
  if name not in videos:
    pytest.skip(f"{name}: codec not available in this FFmpeg")
  return videos[name]


def _indices(frames: np.ndarray) -> list[int]:
  return [video_files.frame_index(f) for f in frames]


@pytest.mark.parametrize("name", _GOOD)
def test_every_frame_in_order_resized_with_audio_length(sample_videos, name):
  info = _video(sample_videos, name)
  video = dv.decode_video(info["path"], dv.DecodeOptions(short_side=48, audio_rate=8000))
  frames = info["frames"]
  assert video.frames.shape == (frames, 48, 64, 3) and video.frames.dtype == np.uint8
  assert _indices(video.frames) == list(range(frames))
  assert video.fps == pytest.approx(video_files.FPS)
  assert video.start == 0.0 and video.seconds == pytest.approx(frames / video_files.FPS)
  if info["audio"]:
    assert video.waveform.dtype == np.float32
    assert video.waveform.shape == (round(frames / video_files.FPS * 8000),)
    assert video.sample_rate == 8000 and video.has_audio_stream
  else:
    assert video.waveform is None and not video.has_audio_stream


def test_pcm_audio_is_aligned_to_the_kept_frames(sample_videos):
  info = _video(sample_videos, "h264_pcm.mkv")  # 40 frames = 4 s; audio ramp 0.9 * t / 4.
  full = dv.decode_video(info["path"], dv.DecodeOptions(short_side=0, audio_rate=8000))
  t = np.arange(full.waveform.shape[0]) / 8000
  inner = slice(800, -800)  # Away from the resampler's edges.
  np.testing.assert_allclose(full.waveform[inner], 0.9 * t[inner] / 4.0, atol=0.01)
  clip = dv.decode_video(info["path"], dv.DecodeOptions(short_side=0, audio_rate=8000),
                         start=1.0, end=2.5)
  assert clip.num_frames == 15 and clip.start == pytest.approx(1.0)
  assert clip.waveform.shape == (12000,)
  t = 1.0 + np.arange(12000) / 8000
  np.testing.assert_allclose(clip.waveform[400:-400], 0.9 * t[400:-400] / 4.0, atol=0.01)


def test_native_size_and_no_audio_option(sample_videos):
  info = _video(sample_videos, "mjpeg_pcm.avi")
  video = dv.decode_video(info["path"], dv.DecodeOptions(short_side=0, audio_rate=0))
  assert video.frames.shape[1:] == (video_files.HEIGHT, video_files.WIDTH, 3)
  assert video.waveform is None and video.sample_rate == 0


@pytest.mark.parametrize("fps,expected", [
    (5.0, [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28]),
    (4.0, [0, 2, 5, 7, 10, 12, 15, 17, 20, 22, 25, 27]),
    (20.0, [i // 2 for i in range(60)]),
])
def test_frame_rate_resampling_picks_the_frame_on_screen(sample_videos, fps, expected):
  info = _video(sample_videos, "h264_aac.mp4")  # 30 frames at 10 fps.
  video = dv.decode_video(info["path"], dv.DecodeOptions(short_side=0, fps=fps,
                                                         audio_rate=8000))
  assert _indices(video.frames) == expected
  assert video.fps == fps and video.seconds == pytest.approx(len(expected) / fps)
  assert video.waveform.shape == (round(len(expected) / fps * 8000),)


def test_trimming_keeps_start_to_end(sample_videos):
  info = _video(sample_videos, "vp9.webm")  # 22 frames at 10 fps.
  video = dv.decode_video(info["path"], dv.DecodeOptions(short_side=0), start=0.5, end=1.2)
  assert _indices(video.frames) == [5, 6, 7, 8, 9, 10, 11]
  open_end = dv.decode_video(info["path"], dv.DecodeOptions(short_side=0), start=1.55)
  assert _indices(open_end.frames) == list(range(16, 22))
  resampled = dv.decode_video(info["path"], dv.DecodeOptions(short_side=0, fps=2.0), start=0.5)
  assert _indices(resampled.frames) == [5, 10, 15, 20]


def test_frame_encoder_gets_chunks_and_its_outputs_are_the_frames(sample_videos):
  info = _video(sample_videos, "h264_pcm.mkv")
  calls = []

  def encoder(block):
    calls.append(block.shape)
    return [f"frame{video_files.frame_index(f)}" for f in block]

  video = dv.decode_video(info["path"], dv.DecodeOptions(short_side=24), frame_encoder=encoder,
                          chunk_size=16)
  assert calls == [(16, 24, 32, 3), (16, 24, 32, 3), (8, 24, 32, 3)]
  assert video.frames == [f"frame{i}" for i in range(40)] and video.num_frames == 40


@pytest.mark.parametrize("name,reason", [
    ("empty.mp4", "empty_file"),
    ("random.avi", "undecodable"),
    ("truncated.mp4", "undecodable"),
    ("truncated.mkv", "truncated"),
    ("audio_only.mp4", "no_video_stream"),
])
def test_broken_files_raise_with_a_reason(sample_videos, name, reason):
  info = _video(sample_videos, name)
  with pytest.raises(dv.DecodeError) as error:
    dv.decode_video(info["path"])
  assert error.value.reason.split(":")[0] == reason
  assert info["path"] not in error.value.reason  # No local path in the report.


def test_trimmed_range_past_the_end_is_empty(sample_videos):
  info = _video(sample_videos, "mpeg4.mp4")  # 2.4 s.
  with pytest.raises(dv.DecodeError, match="trimmed_range_empty"):
    dv.decode_video(info["path"], start=5.0, end=6.0)


def test_missing_file_raises_file_not_found(tmp_path):
  with pytest.raises(FileNotFoundError):
    dv.decode_video(str(tmp_path / "nope.mp4"))


@pytest.mark.parametrize("size,short,sar,expected", [
    ((320, 240), 128, None, (171, 128)),
    ((240, 320), 128, None, (128, 171)),
    ((320, 240), 0, None, (320, 240)),
    ((720, 576), 0, fractions.Fraction(16, 15), (768, 576)),
    ((720, 576), 288, fractions.Fraction(16, 15), (384, 288)),
])
def test_output_size(size, short, sar, expected):
  assert dv.output_size(*size, short, sar) == expected
