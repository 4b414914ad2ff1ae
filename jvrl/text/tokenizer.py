"""Word-level caption tokenizer, the same in Python and inside tf.data.

A caption is lowercased (ASCII letters only), split into words at every run
of characters that are not ASCII letters or digits ("Counter-clockwise, 2x!"
-> counter, clockwise, 2x; other characters separate words), and each word is
looked up in a vocabulary. The vocabulary file has one
token per line; line 0 is `PAD` (id 0) and line 1 is `UNK` (id 1, every
out-of-vocabulary word). Captions are truncated or padded to `max_length`
tokens; the padding mask is True on real tokens.

`WordTokenizer.encode` (NumPy, for tools and tests) and
`WordTokenizer.tf_encode` (a graph op over a batch of captions, usable in
`tf.data.Dataset.map`; the lookup is a `tf.lookup.StaticHashTable`) give
identical ids.
"""
import os
import re
from typing import Sequence

import numpy as np

from jvrl.data.tf_setup import tf

PAD = "[PAD]"
UNK = "[UNK]"
PAD_ID = 0
UNK_ID = 1
# A word is a maximal run of these characters (after lowercasing).
_NON_WORD = "[^a-z0-9]+"
_NON_WORD_RE = re.compile(_NON_WORD)
# ASCII-only lowercasing, as tf.strings.lower without an encoding: unicode
# lowercasing could turn a non-ASCII letter into an ASCII one (e.g. the Kelvin
# sign into 'k') on one side only.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def split_words(text: str | bytes) -> list[str]:
  """Lowercases `text` and splits it into words (runs of ASCII letters/digits)."""
  if isinstance(text, bytes):
    text = text.decode("utf-8", errors="replace")
  return [word for word in _NON_WORD_RE.split(text.translate(_ASCII_LOWER)) if word]


def read_vocab(path: str) -> list[str]:
  """Reads a vocabulary file (one token per line) and checks its layout."""
  with tf.io.gfile.GFile(path, "r") as f:
    vocab = [line.rstrip("\n") for line in f]
  if vocab and vocab[-1] == "":
    vocab.pop()
  check_vocab(vocab, path)
  return vocab


def write_vocab(path: str, vocab: Sequence[str]) -> None:
  """Writes `vocab` one token per line, atomically (temporary file, then rename)."""
  check_vocab(vocab, path)
  directory = os.path.dirname(path)
  if directory:
    tf.io.gfile.makedirs(directory)
  temp_path = f"{path}.tmp-{os.getpid()}"
  with tf.io.gfile.GFile(temp_path, "w") as f:
    f.write("".join(f"{token}\n" for token in vocab))
  tf.io.gfile.rename(temp_path, path, overwrite=True)


def check_vocab(vocab: Sequence[str], where: str = "vocab") -> None:
  """Raises ValueError unless vocab = [PAD, UNK, unique non-empty words...]."""
  if len(vocab) < 2 or vocab[0] != PAD or vocab[1] != UNK:
    raise ValueError(f"{where}: a vocabulary must start with {PAD!r} (id 0) and {UNK!r} "
                     f"(id 1), got {list(vocab[:2])}.")
  if len(set(vocab)) != len(vocab):
    raise ValueError(f"{where}: the vocabulary has duplicate tokens.")
  if any(not token or "\n" in token for token in vocab):
    raise ValueError(f"{where}: tokens must be non-empty single lines.")


class WordTokenizer:
  """Captions -> (ids int32 [max_length], mask bool [max_length]).

  Attributes:
    vocab: the tokens, index = id.
    max_length: tokens per caption after truncation / padding.
  """

  def __init__(self, vocab: Sequence[str], max_length: int):
    """Builds the tokenizer; `vocab` must follow the layout of `check_vocab`."""
    check_vocab(vocab)
    if not isinstance(max_length, int) or max_length < 1:
      raise ValueError(f"max_length must be a Python int >= 1, got {max_length!r}.")
    self.vocab = list(vocab)
    self.max_length = max_length
    self._ids = {token: i for i, token in enumerate(self.vocab)}
    self._table = None

  @classmethod
  def from_file(cls, path: str, max_length: int) -> "WordTokenizer":
    """The tokenizer of the vocabulary file `path`."""
    return cls(read_vocab(path), max_length)

  @property
  def vocab_size(self) -> int:
    """Number of tokens, PAD and UNK included (the embedding table's rows)."""
    return len(self.vocab)

  def encode(self, text: str | bytes) -> tuple[np.ndarray, np.ndarray]:
    """One caption -> (ids int32 [max_length], mask bool [max_length])."""
    words = split_words(text)[:self.max_length]
    ids = np.full([self.max_length], PAD_ID, np.int32)
    ids[:len(words)] = [self._ids.get(word, UNK_ID) for word in words]
    mask = np.zeros([self.max_length], bool)
    mask[:len(words)] = True
    return ids, mask

  def _lookup_table(self) -> tf.lookup.StaticHashTable:
    if self._table is None:
      # Created eagerly even when first needed while tracing a tf.data
      # function, so that every later trace can use it. Special tokens are
      # left out: no split word can equal them.
      with tf.init_scope():
        initializer = tf.lookup.KeyValueTensorInitializer(
            tf.constant(self.vocab[2:], tf.string),
            tf.range(2, len(self.vocab), dtype=tf.int64))
        self._table = tf.lookup.StaticHashTable(initializer, default_value=UNK_ID)
    return self._table

  def tf_encode(self, texts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Captions tf.string [N] -> (ids tf.int32 [N, max_length], mask tf.bool [N, max_length]).

    A graph op (usable in `tf.data.Dataset.map`), equal to `encode` row by row.
    """
    texts = tf.convert_to_tensor(texts, tf.string)
    if texts.shape.rank != 1:
      raise ValueError(f"texts must be tf.string [N], got shape {texts.shape}.")
    lowered = tf.strings.lower(texts)  # ASCII only, like `split_words`
    words = tf.strings.split(tf.strings.strip(
        tf.strings.regex_replace(lowered, _NON_WORD, " ")))
    words = words[:, :self.max_length]
    ids = tf.ragged.map_flat_values(self._lookup_table().lookup, words)
    ids = tf.cast(ids.to_tensor(default_value=PAD_ID,
                                shape=[None, self.max_length]), tf.int32)
    mask = tf.sequence_mask(words.row_lengths(), self.max_length)
    shape = [texts.shape[0], self.max_length]
    return tf.ensure_shape(ids, shape), tf.ensure_shape(mask, shape)
