"""Tests of jvrl.data.prepare.sequence_example against jvrl.data.records' serializer."""
import numpy as np
import pytest

from jvrl.data import records
from jvrl.data.prepare import sequence_example
from jvrl.data.prepare import video_record
from jvrl.data.tf_setup import tf


def test_keys_are_those_of_records():
  for name in ("FRAMES_KEY", "WAVEFORM_KEY", "LABEL_INDEX_KEY", "LABEL_TEXT_KEY", "CAPTION_KEY",
               "FILENAME_KEY", "START_TIMESTAMP_KEY", "END_TIMESTAMP_KEY", "FPS_KEY",
               "SAMPLE_RATE_KEY", "SEGMENT_START_KEY", "SEGMENT_END_KEY",
               "SEGMENT_LABEL_INDEX_KEY", "SEGMENT_LABEL_TEXT_KEY", "CAPTION_START_KEY",
               "CAPTION_END_KEY"):
    assert getattr(sequence_example, name) == getattr(records, name)


@pytest.mark.parametrize("fields", [
    dict(jpeg_frames=[b"\xff\xd8one", b"two" * 100]),
    dict(jpeg_frames=[]),
    dict(jpeg_frames=[b"a"], label=0, label_text="ball", captions=["a ball", "rolls"],
         waveform=np.linspace(-1, 1, 301, dtype=np.float32), filename="ball/v.mp4",
         fps=29.97, sample_rate=48000, start_us=0, end_us=2_000_000_000_000),
    dict(jpeg_frames=[b"x" * 300] * 3, label=1234567, waveform=np.zeros([0], np.float32),
         start_us=1, end_us=128, filename="déjà vu.avi"),
    dict(jpeg_frames=[b"f"] * 4, fps=15.0, start_us=0, end_us=125_000_000, filename="v_x.mp4",
         segments=[records.Segment(0, 1, 0, "Long jump"),
                   records.Segment(67_500_000, 75_900_000, 199, "Zumba"),
                   records.Segment(2**40, 2**40 + 7, 3, "déjà")]),
    dict(jpeg_frames=[b"f"], label=2, segments=[(5, 6, 1, b"bytes label")]),
    dict(jpeg_frames=[b"f"] * 2, fps=10.0, captions=["pour the flour", "stir", "déjà"],
         caption_start_us=[0, 3_910_000, 2**40], caption_end_us=[3_900_000, 5_000_000, 2**41]),
])
def test_bytes_equal_records_deterministic_serialization(fields):
  expected = records.make_sequence_example(**fields).SerializeToString(deterministic=True)
  assert sequence_example.serialize_video_record(**fields) == expected


def test_rejects_caption_times_that_do_not_fit_the_captions():
  for module in (sequence_example.serialize_video_record, records.make_sequence_example):
    with pytest.raises(ValueError, match="one time per caption"):
      module(jpeg_frames=[], captions=["a", "b"], caption_start_us=[0], caption_end_us=[1])
    with pytest.raises(ValueError, match="one time per caption"):
      module(jpeg_frames=[], captions=["a"], caption_start_us=[0], caption_end_us=[])


def test_rejects_multichannel_waveform():
  with pytest.raises(ValueError, match="mono"):
    sequence_example.serialize_video_record(jpeg_frames=[], waveform=np.zeros([2, 3]))


def test_pillow_jpeg_decodes_like_records_jpeg():
  y, x = np.mgrid[:24, :40]
  frames = np.stack([np.stack([x * 6 + i, y * 9, (x + y) * 3], -1) for i in range(3)])
  frames = frames.astype(np.uint8)
  ours = [tf.io.decode_jpeg(j).numpy() for j in video_record.encode_jpeg(frames, 90)]
  theirs = [tf.io.decode_jpeg(j).numpy() for j in records.encode_jpeg_frames(frames, 90)]
  np.testing.assert_allclose(np.stack(ours), np.stack(theirs), atol=2)
  assert np.abs(np.stack(ours).astype(int) - frames).mean() < 3
