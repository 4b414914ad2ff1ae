"""Pretrained word vectors (word2vec) aligned with a vocabulary, for VATT's frozen embeddings.

VATT embeds words with frozen 300-d word2vec vectors (google-research vatt:
`LanguageModel` in modeling/backbones/text/factory.py builds its
`Embedding(2**16, 300, trainable=False)`, and utils/train/restore.py
`assign_word_embeddings` fills it from a pickled matrix aligned with its
HowTo100M vocabulary). `load_word_vectors(path, vocab)` gives the table
[len(vocab), D] for jvrl's vocabulary (`jvrl.text.tokenizer`), read from:

  *.npy   a matrix already aligned with the vocabulary file (row i = token
          i), VATT's own layout; it must have len(vocab) rows;
  *.npz   arrays 'words' (strings) and 'vectors' [N, D];
  *.bin   word2vec's binary format (e.g. GoogleNews-vectors-negative300.bin):
          a header line "N D", then per word its UTF-8 bytes, a space and D
          little-endian float32;
  other   word2vec / GloVe text: an optional header line "N D", then one line
          per word, "word v_1 ... v_D".

A vocabulary word takes the vector of the same word in the file, else of
the first word in the file that equals it when lowercased (jvrl's tokenizer
lowercases; word2vec's vocabulary is case-sensitive). `[PAD]`, `[UNK]` and
words without a vector get the zero vector. Deviation: in VATT an
out-of-vocabulary word maps to its tokenizer's `<unk>` row of the pickled
matrix (whose values are not published), and its vocabulary is word2vec's
own, so every in-vocabulary word has a vector; MIL-NCE's loader
(antoine77340/MIL-NCE_HowTo100M `_words_to_token`) drops unknown words.
Here they stay as zero vectors; `WordVectors.found` says how many words
had a vector (logged at start-up).
"""
import dataclasses
import os
from typing import Iterator, Sequence

import numpy as np

from jvrl.text import tokenizer as tokenizer_lib


@dataclasses.dataclass(frozen=True, eq=False)
class WordVectors:
  """A word-vector table aligned with a vocabulary.

  Attributes:
    table: float32 [V, D], row i = vocabulary token i.
    found: vocabulary words (PAD and UNK excluded) that had a vector.
    path: where the vectors came from.
  """
  table: np.ndarray
  found: int
  path: str

  @property
  def dim(self) -> int:
    """D, the vectors' width."""
    return int(self.table.shape[1])


def _text_vectors(path: str) -> Iterator[tuple[str, np.ndarray]]:
  with open(path, encoding="utf-8", errors="replace") as f:
    for number, line in enumerate(f):
      parts = line.rstrip("\n").rstrip(" ").split(" ")
      if number == 0 and len(parts) == 2 and all(p.isdigit() for p in parts):
        continue  # word2vec's "N D" header
      if len(parts) < 2:
        continue
      try:
        yield parts[0], np.asarray(parts[1:], np.float32)
      except ValueError:
        raise ValueError(f"{path}:{number + 1}: expected 'word v_1 ... v_D' with numbers, got "
                         f"{line[:80]!r}.") from None


def _binary_vectors(path: str) -> Iterator[tuple[str, np.ndarray]]:
  with open(path, "rb") as f:
    header = f.readline().split()
    if len(header) != 2 or not all(h.isdigit() for h in header):
      raise ValueError(f"{path}: a word2vec .bin file starts with 'N D', got {header[:2]!r}.")
    count, dim = int(header[0]), int(header[1])
    for _ in range(count):
      word = bytearray()
      while True:
        char = f.read(1)
        if not char:
          raise ValueError(f"{path}: ends before its {count} words.")
        if char == b" ":
          break
        if char != b"\n":
          word += char
      vector = np.frombuffer(f.read(4 * dim), "<f4")
      if vector.size != dim:
        raise ValueError(f"{path}: ends inside the vector of {word.decode('utf-8', 'replace')!r}.")
      yield word.decode("utf-8", errors="replace"), vector


def _keyed_vectors(path: str) -> Iterator[tuple[str, np.ndarray]]:
  with np.load(path, allow_pickle=False) as content:
    if "words" not in content or "vectors" not in content:
      raise ValueError(f"{path}: a .npz of word vectors holds arrays 'words' and 'vectors', "
                       f"got {sorted(content.files)}.")
    words, vectors = content["words"], content["vectors"]
    if vectors.ndim != 2 or len(words) != len(vectors):
      raise ValueError(f"{path}: 'vectors' must be [len(words), D], got {vectors.shape} for "
                       f"{len(words)} words.")
    for word, vector in zip(words, vectors):
      yield str(word), vector


def load_word_vectors(path: str, vocab: Sequence[str], dim: int | None = None) -> WordVectors:
  """The table of `vocab`'s word vectors from `path` (formats in the module docstring).

  Args:
    path: the word-vector file.
    vocab: the vocabulary (`tokenizer.check_vocab` layout: PAD, UNK, words).
    dim: the width the model expects (VATT: 300); None = the file's.

  Raises:
    ValueError: a missing or malformed file, vectors of mixed widths, or a
      width other than `dim`.
  """
  tokenizer_lib.check_vocab(vocab)
  if not os.path.isfile(path):
    raise ValueError(f"Word-vector file {path!r} does not exist.")
  if path.endswith(".npy"):
    table = np.load(path, allow_pickle=False).astype(np.float32)
    if table.ndim != 2 or table.shape[0] != len(vocab):
      raise ValueError(f"{path}: a .npy table must be aligned with the vocabulary, "
                       f"[{len(vocab)}, D]; got shape {table.shape}.")
    table[tokenizer_lib.PAD_ID] = 0.0
    found = int(np.count_nonzero(np.any(table[2:] != 0, axis=1)))
  else:
    reader = (_binary_vectors if path.endswith(".bin") else
              _keyed_vectors if path.endswith(".npz") else _text_vectors)
    index = {word: i for i, word in enumerate(vocab) if i >= 2}
    exact, lowered, width = {}, {}, None
    for word, vector in reader(path):
      if width is None:
        width = vector.shape[0]
      elif vector.shape[0] != width:
        raise ValueError(f"{path}: vectors of different widths ({width} and "
                         f"{vector.shape[0]}, at {word!r}).")
      if word in index:
        exact.setdefault(index[word], vector)
      elif word.lower() in index:
        lowered.setdefault(index[word.lower()], vector)
    if width is None:
      raise ValueError(f"{path}: holds no word vector.")
    table = np.zeros((len(vocab), width), np.float32)
    for row, vector in {**lowered, **exact}.items():
      table[row] = vector
    found = len(set(exact) | set(lowered))
  if dim is not None and table.shape[1] != dim:
    raise ValueError(f"{path}: {table.shape[1]}-d vectors, but config.vatt.text.word_dim={dim}.")
  return WordVectors(table=table, found=found, path=path)
