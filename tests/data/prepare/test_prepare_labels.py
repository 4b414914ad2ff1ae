"""Tests of jvrl.data.prepare.labels: one label map for all splits, labels.txt."""
import pytest

from jvrl.data.prepare import labels


def test_sorted_unique_and_unlabelled_ignored():
  assert labels.build_label_map(["run", "", "jump", "run", "Walk"]) == ["Walk", "jump", "run"]


def test_fixed_order_is_kept_and_must_cover_every_name():
  order = ["b", "a", "c"]
  assert labels.build_label_map(["a", "b"], order) == order
  with pytest.raises(ValueError, match="not in the given label list: z"):
    labels.build_label_map(["a", "z"], order)
  with pytest.raises(ValueError, match="twice"):
    labels.build_label_map(["a"], ["a", "a"])


@pytest.mark.parametrize("bad", ["two\nlines", " padded", "\t"])
def test_bad_names_are_rejected(bad):
  with pytest.raises(ValueError, match="single lines"):
    labels.build_label_map([bad])


def test_file_round_trip(tmp_path):
  names = ["passing American football (in game)", "abseiling", "ApplyEyeMakeup"]
  path = str(tmp_path / labels.LABELS_FILE)
  labels.write_labels(path, names)
  assert labels.read_labels(path) == names
  assert labels.label_index(names)["abseiling"] == 1
