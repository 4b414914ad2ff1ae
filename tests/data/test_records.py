"""Tests of jvrl.data.records: the SequenceExample video record format."""
import glob
import os

import numpy as np
import pytest

from jvrl.data import records
from jvrl.data.tf_setup import tf


def _video(seed: int, frames: int = 5, height: int = 16, width: int = 24) -> np.ndarray:
  """Smooth random frames (JPEG-friendly), uint8 [T, H, W, 3]."""
  rng = np.random.default_rng(seed)
  t, y, x = np.meshgrid(np.arange(frames), np.arange(height), np.arange(width), indexing="ij")
  phase = rng.uniform(0, 2 * np.pi, size=3)
  channels = [np.sin(0.2 * x + 0.15 * y + 0.5 * t + p) for p in phase]
  return np.round(127.5 + 100 * np.stack(channels, axis=-1)).astype(np.uint8)


def _read_all(pattern: str) -> list[dict]:
  files = sorted(glob.glob(pattern))
  dataset = tf.data.TFRecordDataset(files).map(records.parse_sequence_example)
  return list(dataset.as_numpy_iterator())


def test_encode_jpeg_frames_decodes_back_within_tolerance():
  video = _video(0)
  jpegs = records.encode_jpeg_frames(video, quality=95)
  assert len(jpegs) == video.shape[0] and all(isinstance(j, bytes) for j in jpegs)
  decoded = np.stack([tf.io.decode_jpeg(j).numpy() for j in jpegs])
  assert decoded.shape == video.shape
  assert np.abs(decoded.astype(float) - video).mean() < 4.0
  assert records.encode_jpeg_frames(np.zeros((0, 8, 8, 3), np.uint8)) == []


@pytest.mark.parametrize("bad", [np.zeros((2, 8, 8, 3), np.float32), np.zeros((8, 8, 3), np.uint8),
                                 np.zeros((2, 8, 8, 1), np.uint8)])
def test_encode_jpeg_frames_rejects_bad_frames(bad):
  with pytest.raises(ValueError, match="frames"):
    records.encode_jpeg_frames(bad)


def test_round_trip_every_field(tmp_path):
  videos = [_video(i, frames=3 + i) for i in range(3)]
  waveform = np.linspace(-1, 1, 50).astype(np.float32)
  examples = [
      records.make_sequence_example(
          jpeg_frames=records.encode_jpeg_frames(videos[0], quality=95), label=4,
          label_text="grow", captions=["a red disk grows", "the disk expands"],
          waveform=waveform, filename="v0.mp4", fps=10.0, sample_rate=8000, start_us=0,
          end_us=300000),
      # No audio, no captions, no label.
      records.make_sequence_example(jpeg_frames=records.encode_jpeg_frames(videos[1], 95)),
      records.make_sequence_example(
          jpeg_frames=records.encode_jpeg_frames(videos[2], 95), label=0,
          captions=["only one"], waveform=np.zeros(3, np.float32)).SerializeToString(),
  ]
  paths = records.write_sharded_records(examples, str(tmp_path), num_shards=1, prefix="test")
  parsed = _read_all(paths[0])
  assert len(parsed) == 3

  first, second, third = parsed
  assert first["num_frames"] == 3 and first["frames"].shape == (3,)
  assert first["label"] == 4 and first["label_text"] == b"grow"
  assert list(first["captions"]) == [b"a red disk grows", b"the disk expands"]
  np.testing.assert_array_equal(first["waveform"], waveform)
  assert first["filename"] == b"v0.mp4"

  assert second["label"] == -1 and second["label_text"] == b""
  assert second["captions"].shape == (0,) and second["waveform"].shape == (0,)
  assert second["filename"] == b"" and second["num_frames"] == 4

  assert third["label"] == 0 and list(third["captions"]) == [b"only one"]
  assert third["waveform"].shape == (3,)

  for example, video in zip(parsed, videos):
    decoded = np.stack([tf.io.decode_jpeg(j).numpy() for j in example["frames"]])
    assert decoded.shape == video.shape
    assert np.abs(decoded.astype(float) - video).mean() < 4.0
    assert example["frames"].dtype == object
  assert first["waveform"].dtype == np.float32


def test_context_metadata_is_stored():
  example = records.make_sequence_example(jpeg_frames=[b"x"], fps=25.0, sample_rate=16000,
                                          start_us=5, end_us=10)
  context = example.context.feature
  assert context[records.FPS_KEY].float_list.value[0] == 25.0
  assert context[records.SAMPLE_RATE_KEY].int64_list.value[0] == 16000
  assert context[records.START_TIMESTAMP_KEY].int64_list.value[0] == 5
  assert context[records.END_TIMESTAMP_KEY].int64_list.value[0] == 10
  # The waveform is one feature-list entry holding every sample.
  example = records.make_sequence_example(jpeg_frames=[b"x"], waveform=np.ones(7))
  entries = example.feature_lists.feature_list[records.WAVEFORM_KEY].feature
  assert len(entries) == 1 and len(entries[0].float_list.value) == 7


def test_parser_accepts_other_layouts():
  """Multi-entry audio, frames packed into one entry, multiple labels, empty record."""
  example = tf.train.SequenceExample()
  example.context.feature[records.LABEL_INDEX_KEY].int64_list.value.extend([7, 3])
  audio = example.feature_lists.feature_list[records.WAVEFORM_KEY]
  audio.feature.add().float_list.value.extend([1.0, 2.0])
  audio.feature.add().float_list.value.extend([3.0])
  audio.feature.add().float_list.value.extend([4.0, 5.0])
  packed = example.feature_lists.feature_list[records.FRAMES_KEY].feature.add()
  packed.bytes_list.value.extend([b"f0", b"f1", b"f2"])
  parsed = records.parse_sequence_example(tf.constant(example.SerializeToString()))
  np.testing.assert_array_equal(parsed["waveform"].numpy(), [1, 2, 3, 4, 5])
  assert list(parsed["frames"].numpy()) == [b"f0", b"f1", b"f2"]
  assert int(parsed["num_frames"]) == 3 and int(parsed["label"]) == 7

  empty_record = tf.train.SequenceExample().SerializeToString()
  empty = records.parse_sequence_example(tf.constant(empty_record))
  assert int(empty["num_frames"]) == 0 and int(empty["label"]) == -1
  assert empty["frames"].dtype == tf.string and empty["waveform"].dtype == tf.float32
  assert empty["label"].dtype == tf.int32 and empty["num_frames"].dtype == tf.int32
  assert empty["captions"].shape == (0,) and empty["label_text"].numpy() == b""


def test_make_sequence_example_rejects_bad_input():
  with pytest.raises(ValueError, match="waveform"):
    records.make_sequence_example(jpeg_frames=[b"x"], waveform=np.zeros((2, 3)))
  with pytest.raises(ValueError, match="captions"):
    records.make_sequence_example(jpeg_frames=[b"x"], captions="one string")
  with pytest.raises(ValueError, match="jpeg_frames"):
    records.make_sequence_example(jpeg_frames=b"x")
  with pytest.raises(ValueError, match="fps"):
    records.make_sequence_example(jpeg_frames=[b"x"], fps=0)


def test_sharding_is_round_robin_and_named(tmp_path):
  examples = [records.make_sequence_example(jpeg_frames=[b"x"], label=i) for i in range(7)]
  paths = records.write_sharded_records(examples, str(tmp_path / "out"), num_shards=3,
                                        prefix="train")
  assert [os.path.basename(p) for p in paths] == [
      "train-00000-of-00003.tfrecord", "train-00001-of-00003.tfrecord",
      "train-00002-of-00003.tfrecord"]
  assert sorted(os.listdir(tmp_path / "out")) == [os.path.basename(p) for p in paths]
  labels = [[int(e["label"]) for e in _read_all(p)] for p in paths]
  assert labels == [[0, 3, 6], [1, 4], [2, 5]]
  # Interleaving the shards one by one gives back the write order.
  dataset = tf.data.Dataset.from_tensor_slices(paths).interleave(
      tf.data.TFRecordDataset, cycle_length=3, block_length=1)
  order = [int(records.parse_sequence_example(s)["label"]) for s in dataset]
  assert order == list(range(7))
  assert glob.glob(records.shard_glob(str(tmp_path / "out"), "train")) != []


def test_writer_is_atomic(tmp_path):
  pattern = records.shard_glob(str(tmp_path), "train")
  writer = records.RecordWriter(str(tmp_path), num_shards=2, prefix="train")
  writer.write(records.make_sequence_example(jpeg_frames=[b"x"]))
  assert glob.glob(pattern) == []          # Nothing looks complete mid-write.
  assert len(os.listdir(tmp_path)) == 2    # Only the temporary files exist.
  assert writer.num_written == 1
  paths = writer.close()
  assert sorted(glob.glob(pattern)) == paths and len(os.listdir(tmp_path)) == 2

  def failing_examples():
    yield records.make_sequence_example(jpeg_frames=[b"x"])
    raise RuntimeError("interrupted")

  with pytest.raises(RuntimeError):
    records.write_sharded_records(failing_examples(), str(tmp_path / "b"), 2, "eval")
  assert os.listdir(tmp_path / "b") == []  # Temporary files removed, nothing final.


def test_writer_rejects_bad_arguments(tmp_path):
  with pytest.raises(ValueError, match="num_shards"):
    records.RecordWriter(str(tmp_path), num_shards=0, prefix="train")
  with pytest.raises(ValueError, match="prefix"):
    records.RecordWriter(str(tmp_path), num_shards=1, prefix="")
  with pytest.raises(ValueError, match="examples"):
    records.write_sharded_records([{"not": "an example"}], str(tmp_path), 1, "train")


def test_segments_round_trip_and_foreign_records():
  """Segment lists written by jvrl, and by another tool (lists of unequal length), parse."""
  example = records.make_sequence_example(
      jpeg_frames=[b"x"], fps=15.0,
      segments=[records.Segment(1_000_000, 2_500_000, 3, "jump"),
                records.Segment(4_000_000, 5_000_000, 0, "run")])
  parsed = records.parse_sequence_example(tf.constant(example.SerializeToString()))
  np.testing.assert_array_equal(parsed["segment_start_us"], [1_000_000, 4_000_000])
  np.testing.assert_array_equal(parsed["segment_end_us"], [2_500_000, 5_000_000])
  np.testing.assert_array_equal(parsed["segment_labels"], [3, 0])
  assert list(parsed["segment_label_texts"].numpy()) == [b"jump", b"run"]
  assert float(parsed["fps"]) == 15.0
  # Another tool's record: three starts, two ends, one label, no texts, no fps.
  foreign = tf.train.SequenceExample()
  context = foreign.context.feature
  context[records.SEGMENT_START_KEY].int64_list.value.extend([0, 10, 20])
  context[records.SEGMENT_END_KEY].int64_list.value.extend([5, 15])
  context[records.SEGMENT_LABEL_INDEX_KEY].int64_list.value.extend([7])
  foreign.feature_lists.feature_list[records.FRAMES_KEY].feature.add().bytes_list.value.append(
      b"x")
  parsed = records.parse_sequence_example(tf.constant(foreign.SerializeToString()))
  np.testing.assert_array_equal(parsed["segment_end_us"], [5, 15, -1])
  np.testing.assert_array_equal(parsed["segment_labels"], [7, -1, -1])
  assert list(parsed["segment_label_texts"].numpy()) == [b"", b"", b""]
  assert float(parsed["fps"]) == 0.0
  # A trimmed clip's record: no segments at all.
  plain = records.make_sequence_example(jpeg_frames=[b"x"])
  parsed = records.parse_sequence_example(tf.constant(plain.SerializeToString()))
  assert parsed["segment_start_us"].shape == (0,) and parsed["segment_labels"].shape == (0,)


def test_timed_captions_round_trip_and_untimed_records_parse_to_minus_one():
  example = records.make_sequence_example(
      jpeg_frames=[b"x"], captions=["cut the onion", "add oil"],
      caption_start_us=[1_500_000, 4_000_000], caption_end_us=[3_900_000, 6_250_000])
  context = example.context.feature
  assert list(context[records.CAPTION_START_KEY].int64_list.value) == [1_500_000, 4_000_000]
  parsed = records.parse_sequence_example(tf.constant(example.SerializeToString()))
  assert list(parsed["captions"].numpy()) == [b"cut the onion", b"add oil"]
  np.testing.assert_array_equal(parsed["caption_start_us"], [1_500_000, 4_000_000])
  np.testing.assert_array_equal(parsed["caption_end_us"], [3_900_000, 6_250_000])
  # Captions without times (jvrl's earlier records, other tools' records): -1 each.
  untimed = records.make_sequence_example(jpeg_frames=[b"x"], captions=["a", "b", "c"])
  parsed = records.parse_sequence_example(tf.constant(untimed.SerializeToString()))
  np.testing.assert_array_equal(parsed["caption_start_us"], [-1, -1, -1])
  np.testing.assert_array_equal(parsed["caption_end_us"], [-1, -1, -1])
  assert parsed["caption_start_us"].dtype == tf.int64
  with pytest.raises(ValueError, match="one time per caption"):
    records.make_sequence_example(jpeg_frames=[b"x"], captions=["a"], caption_start_us=[0],
                                  caption_end_us=[1, 2])
