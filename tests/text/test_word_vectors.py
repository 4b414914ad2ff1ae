"""Word vectors aligned with a vocabulary: every file format, lowercase fallback, zeros."""
import numpy as np
import pytest

from jvrl.text import word_vectors

VOCAB = ["[PAD]", "[UNK]", "pour", "flour", "onion", "zzz"]
VECTORS = {"pour": [1.0, 2.0, 3.0], "Flour": [4.0, 5.0, 6.0], "flour": [7.0, 8.0, 9.0],
           "Onion": [0.5, -0.5, 0.25], "other": [9.0, 9.0, 9.0]}
# 'flour' exactly beats 'Flour'; 'onion' only as 'Onion'; 'zzz' has no vector.
EXPECTED = np.array([[0, 0, 0], [0, 0, 0], [1, 2, 3], [7, 8, 9], [0.5, -0.5, 0.25], [0, 0, 0]],
                    np.float32)


def _write_text(path, header):
  lines = [f"{len(VECTORS)} 3"] if header else []
  lines += [f"{word} " + " ".join(map(str, v)) for word, v in VECTORS.items()]
  path.write_text("\n".join(lines) + "\n")
  return str(path)


def _write_binary(path):
  with open(path, "wb") as f:
    f.write(f"{len(VECTORS)} 3\n".encode())
    for word, vector in VECTORS.items():
      f.write(word.encode() + b" " + np.asarray(vector, "<f4").tobytes() + b"\n")
  return str(path)


def test_every_format_gives_the_same_aligned_table(tmp_path):
  npz = tmp_path / "vectors.npz"
  np.savez(npz, words=np.array(list(VECTORS)), vectors=np.array(list(VECTORS.values())))
  for path in (_write_text(tmp_path / "a.txt", header=True),
               _write_text(tmp_path / "b.vec", header=False),
               _write_binary(tmp_path / "c.bin"), str(npz)):
    loaded = word_vectors.load_word_vectors(path, VOCAB, dim=3)
    np.testing.assert_array_equal(loaded.table, EXPECTED, err_msg=path)
    assert loaded.found == 3 and loaded.dim == 3 and loaded.table.dtype == np.float32
  aligned = tmp_path / "aligned.npy"  # VATT's own layout: rows follow the vocabulary
  np.save(aligned, np.arange(18, dtype=np.float32).reshape(6, 3))
  loaded = word_vectors.load_word_vectors(str(aligned), VOCAB)
  assert loaded.table[0].tolist() == [0, 0, 0] and loaded.table[5].tolist() == [15, 16, 17]


def test_bad_files_are_named(tmp_path):
  path = _write_text(tmp_path / "a.txt", header=False)
  with pytest.raises(ValueError, match="word_dim=300"):
    word_vectors.load_word_vectors(path, VOCAB, dim=300)
  with pytest.raises(ValueError, match="does not exist"):
    word_vectors.load_word_vectors(str(tmp_path / "nope.bin"), VOCAB)
  np.save(tmp_path / "short.npy", np.zeros((4, 3), np.float32))
  with pytest.raises(ValueError, match="aligned with the vocabulary"):
    word_vectors.load_word_vectors(str(tmp_path / "short.npy"), VOCAB)
  (tmp_path / "mixed.txt").write_text("pour 1 2 3\nflour 1 2\n")
  with pytest.raises(ValueError, match="different widths"):
    word_vectors.load_word_vectors(str(tmp_path / "mixed.txt"), VOCAB)
