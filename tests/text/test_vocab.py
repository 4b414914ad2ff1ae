"""Vocabulary building: counts and order, record captions, the cache, the CLI."""
import os
import subprocess
import sys

import numpy as np

from jvrl.data import records
from jvrl.text import tokenizer
from jvrl.text import vocab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _write_records(directory, captions_per_video):
  frames = records.encode_jpeg_frames(np.zeros((2, 8, 8, 3), np.uint8))
  examples = [records.make_sequence_example(jpeg_frames=frames, captions=captions)
              for captions in captions_per_video]
  return records.write_sharded_records(examples, str(directory), 2, "train")


def test_build_vocab_orders_by_count_then_alphabet():
  captions = ["b a", "A c b", b"b, c! c"]  # b: 3, c: 3, a: 2
  assert vocab.build_vocab(captions) == ["[PAD]", "[UNK]", "b", "c", "a"]
  assert vocab.build_vocab(reversed(captions)) == ["[PAD]", "[UNK]", "b", "c", "a"]
  assert vocab.build_vocab(captions, min_count=3) == ["[PAD]", "[UNK]", "b", "c"]
  assert vocab.build_vocab(captions, max_size=3) == ["[PAD]", "[UNK]", "b"]


def test_captions_from_records_and_cached_vocab(tmp_path):
  files = _write_records(tmp_path, [["red disk", "the red disk"], [], ["blue disk"]])
  assert sorted(vocab.captions_from_records(files)) == [b"blue disk", b"red disk",
                                                         b"the red disk"]
  path = vocab.ensure_vocab_file("", files)
  assert os.path.dirname(path) == str(tmp_path)
  assert tokenizer.read_vocab(path) == ["[PAD]", "[UNK]", "disk", "red", "blue", "the"]
  os.utime(path, (0, 0))
  assert vocab.ensure_vocab_file("", files) == path  # cached: not rebuilt
  assert os.stat(path).st_mtime == 0
  assert vocab.ensure_vocab_file(path, []) == path  # a given file is used as is


def test_build_vocab_cli(tmp_path):
  _write_records(tmp_path, [["Red disk"], ["red cube"]])
  output = str(tmp_path / "vocab.txt")
  result = subprocess.run(
      [sys.executable, "data/build_vocab.py", f"--files={tmp_path}/train-*.tfrecord",
       f"--output={output}", "--min_count=2"],
      cwd=REPO, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert "3 tokens from 2 captions in 2 file(s)" in result.stdout
  assert tokenizer.read_vocab(output) == ["[PAD]", "[UNK]", "red"]
