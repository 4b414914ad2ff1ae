"""Building a word vocabulary from training captions.

`build_vocab` counts the words of captions (split as `tokenizer.split_words`
does) and keeps the frequent ones; `captions_from_records` reads every
caption of SequenceExample record files (`caption/string`). The command-line
tool is `data/build_vocab.py`. `ensure_vocab_file` is what a run uses: the
configured vocabulary file, or, for the built-in synthetic dataset, a
vocabulary built on the fly from its train split and cached beside it.
"""
import collections
import os
from typing import Iterable, Iterator, Optional, Sequence

from jvrl.data import records
from jvrl.data.tf_setup import tf
from jvrl.text import tokenizer

VOCAB_FILE_PREFIX = "vocab"


def build_vocab(captions: Iterable[str | bytes], min_count: int = 1,
                max_size: Optional[int] = None) -> list[str]:
  """Vocabulary of `captions`: [PAD, UNK] + words by decreasing count.

  Args:
    captions: caption strings (or UTF-8 bytes).
    min_count: keep words seen at least this often (>= 1).
    max_size: at most this many tokens in all, PAD and UNK included
      (None = no limit; >= 2).

  Returns:
    The tokens; ties in count are ordered alphabetically, so the result does
    not depend on the captions' order.
  """
  if min_count < 1:
    raise ValueError(f"min_count must be >= 1, got {min_count}.")
  if max_size is not None and max_size < 2:
    raise ValueError(f"max_size must be >= 2 (PAD and UNK), got {max_size}.")
  counts = collections.Counter()
  for caption in captions:
    counts.update(tokenizer.split_words(caption))
  words = sorted((w for w, c in counts.items() if c >= min_count),
                 key=lambda w: (-counts[w], w))
  vocab = [tokenizer.PAD, tokenizer.UNK] + words
  return vocab if max_size is None else vocab[:max_size]


def captions_from_records(files: Sequence[str]) -> Iterator[bytes]:
  """Every caption of every record in `files` (SequenceExamples), in file order."""
  if not files:
    raise ValueError("captions_from_records needs at least one record file.")
  dataset = tf.data.TFRecordDataset(list(files)).map(
      lambda serialized: records.parse_sequence_example(serialized)["captions"],
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  for captions in dataset.as_numpy_iterator():
    yield from captions


def vocab_file_name(min_count: int, max_size: Optional[int]) -> str:
  """Name of a cached vocabulary built with these options."""
  return f"{VOCAB_FILE_PREFIX}-min{min_count}-max{max_size or 'all'}.txt"


def ensure_vocab_file(vocab_file: str, train_files: Sequence[str], min_count: int = 1,
                      max_size: Optional[int] = None) -> str:
  """The vocabulary file to use, built and cached beside the train files if needed.

  Args:
    vocab_file: a configured vocabulary file; returned as is when non-empty.
    train_files: the training record files (built-in synthetic dataset). When
      `vocab_file` is '', the vocabulary of their captions is built once and
      cached in their directory as `vocab_file_name(min_count, max_size)`
      (written atomically, so concurrent runs are safe).
    min_count, max_size: see `build_vocab`.

  Returns:
    Path of the vocabulary file.
  """
  if vocab_file:
    if not tf.io.gfile.exists(vocab_file):
      raise ValueError(f"Vocabulary file {vocab_file!r} does not exist; build one with "
                       "data/build_vocab.py.")
    return vocab_file
  if not train_files:
    raise ValueError("No vocabulary file and no train files to build one from.")
  path = os.path.join(os.path.dirname(train_files[0]), vocab_file_name(min_count, max_size))
  if not tf.io.gfile.exists(path):
    tokenizer.write_vocab(
        path, build_vocab(captions_from_records(train_files), min_count, max_size))
  return path
