"""Tests of jvrl.data.prepare.shards: the shard plan and atomic, resumable shard writing."""
import os
import random

import pytest

from jvrl.data import records
from jvrl.data.prepare import inputs
from jvrl.data.prepare import problems
from jvrl.data.prepare import shards
from jvrl.data.prepare import video_record
from jvrl.data.tf_setup import tf


def _entries(split, count, label_of=lambda i: f"class{i % 3}"):
  return [inputs.VideoEntry(path=f"/v/{split}/{i}.mp4", file=f"{split}/{i}.mp4", split=split,
                            label=label_of(i)) for i in range(count)]


def test_plan_covers_every_entry_once_in_balanced_contiguous_blocks():
  entries = _entries("train", 23) + _entries("test", 5)
  plan = shards.plan_shards(entries, {"train": 4, "test": 2})
  assert [(s.split, s.index, s.num_shards) for s in plan] == [
      ("test", 0, 2), ("test", 1, 2), ("train", 0, 4), ("train", 1, 4), ("train", 2, 4),
      ("train", 3, 4)]
  assert sorted(len(s.entries) for s in plan if s.split == "train") == [5, 6, 6, 6]
  planned = [e for s in plan for e in s.entries]
  assert sorted(e.key for e in planned) == sorted(e.key for e in entries)
  assert plan[2].name == "train-00000-of-00004.tfrecord"
  assert records.shard_path("/out", "train", 0, 4) == "/out/" + plan[2].name


def test_plan_ignores_input_order_and_mixes_classes():
  entries = _entries("train", 60, label_of=lambda i: f"class{i // 20}")  # Sorted by class.
  shuffled = list(entries)
  random.Random(0).shuffle(shuffled)
  plan = shards.plan_shards(entries, {"train": 3})
  assert plan == shards.plan_shards(shuffled, {"train": 3})
  for spec in plan:
    assert len({e.label for e in spec.entries}) == 3


def test_more_shards_than_videos_gives_empty_shards():
  plan = shards.plan_shards(_entries("train", 2), {"train": 4})
  assert [len(s.entries) for s in plan].count(0) == 2
  with pytest.raises(ValueError, match="num_shards"):
    shards.plan_shards(_entries("train", 2), {"train": 0})


def test_default_num_shards():
  assert [shards.default_num_shards(n) for n in (0, 1, 100, 101, 9537)] == [1, 1, 1, 2, 96]


def _result(entry, record=b"payload"):
  info = {"file": entry.file, "split": entry.split, "frames": 3}
  return video_record.VideoResult(record=record, info=info, problems=[
      problems.Problem(entry.file, entry.split, "no_audio")])


def test_writer_publishes_records_then_sidecar(tmp_path):
  out = str(tmp_path)
  spec = shards.plan_shards(_entries("train", 3), {"train": 1})[0]
  writer = shards.ShardWriter(out, spec)
  for entry in spec.entries:
    writer.add(_result(entry))
  writer.add(video_record.failed(spec.entries[0], "empty_file"))
  assert not os.path.exists(shards.record_path(out, spec))
  assert not shards.is_complete(out, spec)
  sidecar = writer.finish()
  assert shards.is_complete(out, spec)
  assert [v["shard"] for v in sidecar["videos"]] == [spec.name] * 3
  assert len(sidecar["problems"]) == 4
  assert list(tf.data.TFRecordDataset(shards.record_path(out, spec)).as_numpy_iterator()) == [
      b"payload"] * 3
  assert os.listdir(shards.parts_dir(out)) == [spec.name + ".json"]


def test_changed_or_unpublished_shards_are_not_complete(tmp_path):
  out = str(tmp_path)
  spec = shards.plan_shards(_entries("train", 2), {"train": 1})[0]
  writer = shards.ShardWriter(out, spec)
  writer.add(_result(spec.entries[0]))
  writer.abort()
  assert not os.path.exists(shards.parts_dir(out) + "/" + spec.name + ".incomplete")
  assert not shards.is_complete(out, spec)
  writer = shards.ShardWriter(out, spec)
  writer.add(_result(spec.entries[0]))
  writer.finish()
  with open(shards.record_path(out, spec), "ab") as f:
    f.write(b"junk")
  assert not shards.is_complete(out, spec)
