"""Word tokenizer: splitting, ids and masks, Python == TensorFlow, vocabulary files."""
import numpy as np
import pytest

from jvrl.data.tf_setup import tf
from jvrl.text import tokenizer

VOCAB = ["[PAD]", "[UNK]", "a", "red", "disk", "moves", "to", "the", "right", "2x"]
CAPTIONS = ["A red disk moves to the right", "THE red, disk -- moves!", "", "a blue cube",
            "Counter-clockwise 2x", "a a a a a a a a a a", "Élan rouge: the disk",
            "!!!", "\u212a\u0130 red"]  # Kelvin sign, dotted capital I: not ASCII


def test_split_words():
  assert tokenizer.split_words("Counter-clockwise, 2x FAST!") == [
      "counter", "clockwise", "2x", "fast"]
  assert tokenizer.split_words(b"  ") == []
  assert tokenizer.split_words("café") == ["caf"]  # non-ASCII letters separate words
  assert tokenizer.split_words("\u212aelvin") == ["elvin"]  # no unicode lowercasing


def test_encode_ids_mask_truncation_and_unknown_words():
  tok = tokenizer.WordTokenizer(VOCAB, max_length=4)
  ids, mask = tok.encode("A red cube moves to the right")
  np.testing.assert_array_equal(ids, [2, 3, tokenizer.UNK_ID, 5])  # truncated to 4
  assert mask.all() and ids.dtype == np.int32
  ids, mask = tok.encode("red")
  np.testing.assert_array_equal(ids, [3, 0, 0, 0])
  np.testing.assert_array_equal(mask, [True, False, False, False])
  assert tok.vocab_size == len(VOCAB)


def test_tf_encode_equals_python_encode_inside_tf_data():
  tok = tokenizer.WordTokenizer(VOCAB, max_length=6)
  dataset = tf.data.Dataset.from_tensors(tf.constant(CAPTIONS)).map(tok.tf_encode)
  ids, mask = next(dataset.as_numpy_iterator())  # the table works in a traced map
  assert ids.shape == mask.shape == (len(CAPTIONS), 6) and ids.dtype == np.int32
  for i, caption in enumerate(CAPTIONS):
    expected_ids, expected_mask = tok.encode(caption)
    np.testing.assert_array_equal(ids[i], expected_ids, err_msg=caption)
    np.testing.assert_array_equal(mask[i], expected_mask, err_msg=caption)
  eager_ids, _ = tok.tf_encode(tf.constant(CAPTIONS))  # and eagerly, after tracing
  np.testing.assert_array_equal(eager_ids.numpy(), ids)


def test_vocab_file_round_trip_and_checks(tmp_path):
  path = str(tmp_path / "sub" / "vocab.txt")
  tokenizer.write_vocab(path, VOCAB)
  assert tokenizer.read_vocab(path) == VOCAB
  assert tokenizer.WordTokenizer.from_file(path, 3).encode("red disk")[0].tolist() == [3, 4, 0]
  with pytest.raises(ValueError, match="must start with"):
    tokenizer.WordTokenizer(["a", "[PAD]"], 4)
  with pytest.raises(ValueError, match="duplicate"):
    tokenizer.WordTokenizer(VOCAB + ["red"], 4)
  with pytest.raises(ValueError, match="max_length"):
    tokenizer.WordTokenizer(VOCAB, 0)
