"""Tests of jvrl.data.generated: config plumbing, shard writing and the atomic cache."""
import dataclasses
import glob
import json
import os

import pytest

from jvrl.data import generated
from jvrl.data.tf_setup import tf


@dataclasses.dataclass(frozen=True)
class _Config:
  size: int = 3
  name: str = "x"


def test_config_from_dict_fills_defaults_and_names_unknown_keys():
  assert generated.config_from_dict(_Config, {"size": 5}, "toy") == _Config(size=5)
  with pytest.raises(ValueError, match=r"Unknown toy config keys \['bogus'\]"):
    generated.config_from_dict(_Config, {"bogus": 1, "size": 2}, "toy")


@dataclasses.dataclass(frozen=True)
class _SplitConfig(generated.SplitConfig):
  sizes: tuple = (1.0, 2.0)
  lengths: tuple = (3, 5)
  quality: int = 50
  train_videos: int = 4
  eval_train_videos: int = 2
  eval_test_videos: int = 0
  train_shards: int = 2
  eval_train_shards: int = 1
  eval_test_shards: int = 1

  def __post_init__(self):
    self._check_float_range("sizes")
    self._check_int_range("lengths", minimum=1)
    self._check_between("quality", 1, 100)
    self._check_split_sizes()


def test_split_config_sizes_and_checks():
  cfg = _SplitConfig(sizes=[1, 3], lengths=[2, 2])
  assert cfg.sizes == (1.0, 3.0) and cfg.lengths == (2, 2)
  assert cfg.num_videos("eval_train") == 2 and cfg.num_shards("train") == 2
  with pytest.raises(ValueError, match="split"):
    cfg.num_videos("validation")
  for field, value in (("sizes", (2, 1)), ("sizes", (0, 1)), ("lengths", (0, 3)),
                       ("lengths", (1.5, 3)), ("lengths", (4, 3)), ("quality", 101),
                       ("eval_test_videos", -1), ("train_shards", 0)):
    with pytest.raises(ValueError, match=field):
      _SplitConfig(**{field: value})


def test_config_hash_is_stable_and_order_free():
  assert generated.config_hash({"a": 1, "b": [1, 2]}) == generated.config_hash(
      {"b": [1, 2], "a": 1})
  assert generated.config_hash({"a": 1}) != generated.config_hash({"a": 2})
  assert len(generated.config_hash({"a": 1})) == 16


@pytest.mark.parametrize("num_workers", [1, 3])
def test_write_split_keeps_order(tmp_path, num_workers):
  paths = generated.write_split(lambda i: f"record {i}".encode(), 7, str(tmp_path), 2, "train",
                                num_workers)
  assert len(paths) == 2
  written = [list(tf.data.TFRecordDataset(p).as_numpy_iterator()) for p in paths]
  assert written[0] == [f"record {i}".encode() for i in (0, 2, 4, 6)]
  assert written[1] == [f"record {i}".encode() for i in (1, 3, 5)]


def test_ensure_generated_once_atomically(tmp_path):
  target = str(tmp_path / "kind" / "abc")
  calls = []

  def generate(directory):
    calls.append(directory)
    open(os.path.join(directory, "data.txt"), "w").write("data")

  generated.ensure_generated(target, generate, {"seed": 1}, "toy dataset")
  generated.ensure_generated(target, generate, {"seed": 1}, "toy dataset")
  assert len(calls) == 1 and not os.path.exists(calls[0])  # Temp dir renamed into place.
  assert sorted(os.listdir(target)) == ["config.json", "data.txt"]
  assert json.load(open(os.path.join(target, "config.json"))) == {"seed": 1}
  assert os.listdir(tmp_path / "kind") == ["abc"]


def test_ensure_generated_cleans_up_after_a_failure(tmp_path):
  target = str(tmp_path / "abc")

  def fail(directory):
    open(os.path.join(directory, "half.txt"), "w").write("half")
    raise RuntimeError("boom")

  with pytest.raises(RuntimeError, match="boom"):
    generated.ensure_generated(target, fail, {}, "toy dataset")
  assert os.listdir(tmp_path) == []


def test_ensure_generated_refuses_an_incomplete_directory(tmp_path):
  target = tmp_path / "abc"
  target.mkdir()
  (target / "train-00000-of-00001.tfrecord").write_text("partial")
  with pytest.raises(ValueError, match="not a complete toy dataset"):
    generated.ensure_generated(str(target), lambda d: None, {}, "toy dataset")
  assert glob.glob(str(target / "*")) == [str(target / "train-00000-of-00001.tfrecord")]


def test_default_cache_dir(monkeypatch):
  monkeypatch.setenv("JVRL_CACHE_DIR", "/some/where")
  assert generated.default_cache_dir() == "/some/where"
  monkeypatch.delenv("JVRL_CACHE_DIR")
  assert generated.default_cache_dir().endswith(os.path.join(".cache", "jvrl"))
