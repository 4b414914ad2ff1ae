"""Tests of jvrl.data.sources: synthetic, records and TFDS example sources."""
import os

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from jvrl.data import records
from jvrl.data import sources
from jvrl.data import synthetic
from jvrl.data.tf_setup import tf

CONTRACT_DTYPES = {
    "num_frames": tf.int32, "label": tf.int32, "label_text": tf.string,
    "captions": tf.string, "waveform": tf.float32, "filename": tf.string,
}


def _data_config(**fields) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict(dict(
      source="records", train_files="", eval_train_files="", eval_test_files="",
      tfds_data_dir="", tfds_splits=dict(train="train", eval_train="train", eval_test="test"),
      synthetic=dict(seed=0, cache_dir="")))
  config.update(fields)
  return config


def _write_records(directory: str, prefix: str, count: int, num_shards: int) -> str:
  examples = [records.make_sequence_example(jpeg_frames=[b"a", b"b"], label=i,
                                            filename=f"video{i}") for i in range(count)]
  records.write_sharded_records(examples, directory, num_shards, prefix)
  return records.shard_glob(directory, prefix)


def _labels(dataset: tf.data.Dataset) -> list[int]:
  return [int(e["label"]) for e in dataset.as_numpy_iterator()]


@pytest.mark.parametrize("num_shards", [5, 1])
@pytest.mark.parametrize("shuffle_files", [False, True])
def test_records_processes_cover_every_example_once(tmp_path, num_shards, shuffle_files):
  """5 shards: files split across 2 processes; 1 shard: examples split."""
  pattern = _write_records(str(tmp_path), "train", 13, num_shards)
  config = _data_config(train_files=pattern)
  per_process = [
      _labels(sources.make_example_dataset(config, "train", shuffle_files=shuffle_files,
                                           seed=3, process_index=p, process_count=2))
      for p in range(2)]
  assert all(per_process)
  assert sorted(per_process[0] + per_process[1]) == list(range(13))
  again = _labels(sources.make_example_dataset(config, "train", shuffle_files=shuffle_files,
                                               seed=3, process_index=0, process_count=2))
  assert again == per_process[0]  # Deterministic for a fixed seed.


def test_records_single_process_keeps_write_order(tmp_path):
  pattern = _write_records(str(tmp_path), "eval_test", 11, 4)
  dataset = sources.make_example_dataset(_data_config(eval_test_files=pattern), "eval_test",
                                         shuffle_files=False, seed=0)
  assert _labels(dataset) == list(range(11))
  spec = dataset.element_spec
  assert spec["frames"].dtype == tf.string and spec["frames"].shape.as_list() == [None]
  for key, dtype in CONTRACT_DTYPES.items():
    assert spec[key].dtype == dtype, key


def test_list_split_files_expands_comma_separated_globs(tmp_path):
  first = _write_records(str(tmp_path / "a"), "part", 3, 2)
  second = _write_records(str(tmp_path / "b"), "part", 3, 1)
  config = _data_config(eval_train_files=f"{second}, {first}")
  files = sources.list_split_files(config, "eval_train")
  assert files == sorted(files) and len(files) == 3
  assert all(f.endswith(".tfrecord") for f in files)


def test_bad_globs_name_the_pattern_and_the_field(tmp_path):
  missing = str(tmp_path / "nothing-*.tfrecord")
  with pytest.raises(ValueError, match="nothing-.*config.data.train_files"):
    sources.list_split_files(_data_config(train_files=missing), "train")
  with pytest.raises(ValueError, match="config.data.eval_test_files"):
    sources.make_example_dataset(_data_config(), "eval_test", shuffle_files=False, seed=0)


def test_bad_arguments():
  with pytest.raises(ValueError, match="config.data.source"):
    sources.list_split_files(_data_config(source="parquet"), "train")
  with pytest.raises(ValueError, match="split"):
    sources.list_split_files(_data_config(), "validation")
  with pytest.raises(ValueError, match="process_index"):
    sources.make_example_dataset(_data_config(), "train", shuffle_files=False, seed=0,
                                 process_index=2, process_count=2)


def test_synthetic_source_returns_the_right_splits(tmp_path):
  settings = dict(seed=0, height=16, width=16, num_frames=4, sample_rate=100, train_videos=6,
                  eval_train_videos=4, eval_test_videos=2, train_shards=2, eval_train_shards=1,
                  eval_test_shards=1, cache_dir=str(tmp_path))
  config = _data_config(source="synthetic", synthetic=settings)
  cfg = synthetic.synthetic_config_from_dict(
      {k: v for k, v in settings.items() if k != "cache_dir"})
  for split, count in (("train", 6), ("eval_train", 4), ("eval_test", 2)):
    files = sources.list_split_files(config, split)
    assert all(os.path.basename(f).startswith(f"{split}-") for f in files)
    assert all(os.path.dirname(f) == synthetic.dataset_dir(cfg, str(tmp_path)) for f in files)
    examples = list(sources.make_example_dataset(
        config, split, shuffle_files=False, seed=0).as_numpy_iterator())
    assert [int(e["label"]) for e in examples] == list(synthetic.split_labels(cfg, split))
    assert len(examples) == count
    assert all(e["num_frames"] == 4 and len(e["captions"]) >= 2 for e in examples)
    assert all(e["waveform"].shape == (40,) for e in examples)


def test_tfds_source_follows_the_contract():
  config = _data_config(source="tfds:ucf101/ucf101_1_256")
  with tfds.testing.mock_data(num_examples=3):
    for split in ("train", "eval_test"):
      dataset = sources.make_example_dataset(config, split, shuffle_files=False, seed=0,
                                             process_index=1, process_count=2)
      examples = list(dataset.take(2).as_numpy_iterator())
  assert examples
  spec = dataset.element_spec
  assert spec["frames"].dtype == tf.uint8 and spec["frames"].shape.as_list()[1:] == [256, 256, 3]
  for key, dtype in CONTRACT_DTYPES.items():
    assert spec[key].dtype == dtype, key
  for example in examples:
    assert example["num_frames"] == example["frames"].shape[0]
    assert 0 <= example["label"] < 101
    assert example["captions"].shape == (0,) and example["waveform"].shape == (0,)
    assert example["filename"] == b""
    assert isinstance(example["label_text"], bytes) and example["label_text"]
  assert np.issubdtype(examples[0]["frames"].dtype, np.uint8)


def _write_damaged_records(directory: str) -> str:
  """Three record files: 'a' truncated in its last record, 'b' with an unparsable
  record 1, 'c' clean and longer (so examples follow the others' end). Labels:
  a 0-3, b 10-13, c 20-25."""
  def write(name, labels, bad_index=None, truncate=0):
    path = os.path.join(directory, f"{name}.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
      for i, label in enumerate(labels):
        data = records.make_sequence_example(jpeg_frames=[b"x"], label=label).SerializeToString()
        writer.write(b"\xff\xff" + data if i == bad_index else data)
    if truncate:
      with open(path, "rb") as f:
        data = f.read()
      with open(path, "wb") as f:
        f.write(data[:-truncate])
  os.makedirs(directory, exist_ok=True)
  write("a_truncated", range(4), truncate=5)
  write("b_bad_record", range(10, 14), bad_index=1)
  write("c_clean", range(20, 26))
  return os.path.join(directory, "*.tfrecord")


def test_corrupt_record_fails_naming_file_and_record(tmp_path):
  config = _data_config(train_files=_write_damaged_records(str(tmp_path)),
                        on_corrupt_record="fail")
  dataset = sources.make_example_dataset(config, "train", shuffle_files=False, seed=0)
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=r"Corrupt or truncated record in \S*b_bad_record.tfrecord \(record 1\)"):
    list(dataset.as_numpy_iterator())


def test_corrupt_records_are_skipped_counted_and_reported(tmp_path, capfd):
  config = _data_config(train_files=_write_damaged_records(str(tmp_path)),
                        on_corrupt_record="skip")
  examples = list(sources.make_example_dataset(
      config, "train", shuffle_files=False, seed=0).as_numpy_iterator())
  assert sorted(int(e["label"]) for e in examples) == [0, 1, 2, 10, 12, 13, *range(20, 26)]
  assert sum(int(e["_corrupt_skipped"]) for e in examples) == 2
  files = {os.path.basename(e["_corrupt_file"].decode()) for e in examples
           if e["_corrupt_skipped"]}
  assert files == {"a_truncated.tfrecord", "b_bad_record.tfrecord"}
  printed = capfd.readouterr().err
  assert "skipped 1 corrupt or truncated record(s) in" in printed
  assert "b_bad_record.tfrecord" in printed and "a_truncated.tfrecord" in printed


def test_on_corrupt_record_must_be_known(tmp_path):
  config = _data_config(train_files=_write_damaged_records(str(tmp_path)),
                        on_corrupt_record="ignore")
  with pytest.raises(ValueError, match="on_corrupt_record"):
    sources.make_example_dataset(config, "train", shuffle_files=False, seed=0)


def test_prepare_data_source_generates_once_and_names_the_data(tmp_path):
  """The run's first step: generates the built-in set (the one place that writes) and says
  what the run reads; records are counted per split."""
  settings = dict(seed=0, height=16, width=16, num_frames=4, sample_rate=100, train_videos=2,
                  eval_train_videos=2, eval_test_videos=1, train_shards=1, eval_train_shards=1,
                  eval_test_shards=1, cache_dir=str(tmp_path / "cache"))
  config = _data_config(source="synthetic", synthetic=settings)
  line = sources.prepare_data_source(config)
  cfg = synthetic.synthetic_config_from_dict(
      {k: v for k, v in settings.items() if k != "cache_dir"})
  directory = synthetic.dataset_dir(cfg, settings["cache_dir"])
  assert line == (f"the built-in synthetic dataset (2 train, 2 eval_train, 1 eval_test videos) "
                  f"in {directory}")
  assert os.path.isfile(os.path.join(directory, "config.json"))
  pattern = _write_records(str(tmp_path / "rec"), "train", 3, 2)
  config = _data_config(train_files=pattern, eval_train_files=pattern, eval_test_files=pattern)
  assert sources.prepare_data_source(config, ("train", "eval_test")) == (
      f"records (train: 2 file(s) matching {pattern!r}; eval_test: 2 file(s) matching "
      f"{pattern!r})")
  with pytest.raises(ValueError, match="matches no file"):
    sources.prepare_data_source(_data_config(train_files=str(tmp_path / "none-*")), ("train",))


def _mixture_config(tmp_path, **weights):
  """config.data reading 'howto' records (labels 0-9) mixed with 'audioset' (100-104)."""
  howto = _write_records(str(tmp_path / "howto"), "train", 10, 2)
  audioset = str(tmp_path / "audioset")
  records.write_sharded_records(
      [records.make_sequence_example(jpeg_frames=[b"a"], label=100 + i) for i in range(5)],
      audioset, 1, "train")
  return _data_config(train_files=howto, mixture=dict(
      howto=dict(weight=weights.get("howto", 3.0)),
      audioset=dict(weight=weights.get("audioset", 1.0), source="records",
                    train_files=records.shard_glob(audioset, "train"))))


def test_mixture_draws_members_in_proportion_deterministically(tmp_path):
  config = _mixture_config(tmp_path)
  members = sources.mixture_members(config)
  assert [(name, weight) for name, weight, _ in members] == [("audioset", 1.0), ("howto", 3.0)]
  stream = sources.make_mixture_dataset(config, "train", seed=5)
  labels = [int(e["label"]) for e in stream.take(800).as_numpy_iterator()]
  from_audioset = np.mean([label >= 100 for label in labels])
  assert abs(from_audioset - 0.25) < 0.05  # weights 1 : 3
  assert set(labels) == set(range(10)) | set(range(100, 105))  # every member repeats
  again = [int(e["label"]) for e in sources.make_mixture_dataset(
      config, "train", seed=5).take(800).as_numpy_iterator()]
  assert again == labels
  # Weight 0 switches a member off; without a mixture nothing changes.
  config.mixture.audioset.weight = 0.0
  assert [name for name, _, _ in sources.mixture_members(config)] == ["howto"]
  assert sources.mixture_members(_data_config()) == []


@pytest.mark.parametrize("member,message", [
    (dict(weight=1.0, train_file="x"), "unknown key"),
    (dict(weight=-1.0), "number >= 0"),
    (dict(source="records"), "number >= 0"),
    (dict(weight=1.0, source="tfds:ucf101"), "not TFDS"),
])
def test_mixture_members_are_checked(member, message):
  with pytest.raises(ValueError, match=message):
    sources.mixture_members(_data_config(mixture=dict(bad=member)))
  with pytest.raises(ValueError, match="every member has weight 0"):
    sources.mixture_members(_data_config(mixture=dict(a=dict(weight=0.0))))


def test_mixture_names_the_members_files(tmp_path):
  config = _data_config(train_files=_write_records(str(tmp_path), "train", 2, 1),
                        mixture=dict(audioset=dict(weight=1.0, source="records", train_files=""),
                                     main=dict(weight=1.0)))
  with pytest.raises(ValueError, match=r"config.data.mixture.audioset.train_files"):
    sources.make_mixture_dataset(config, "train", seed=0)
  line = sources.prepare_data_source(_mixture_config(tmp_path / "m"), ("train",))
  assert line.startswith("a training mixture (audioset 1, howto 3)")
