"""A held-out subset chosen by name and applied to a split's examples."""
import pytest

from jvrl.data import held_out
from jvrl.data import sources


def test_selection_is_exact_sorted_and_independent_of_the_order():
  names = [f"video_{i:03d}" for i in range(50)]
  chosen = held_out.select_held_out(names, 8)
  assert len(chosen) == 8 and chosen == sorted(chosen) and set(chosen) <= set(names)
  assert held_out.select_held_out(list(reversed(names)), 8) == chosen
  assert set(chosen) < set(held_out.select_held_out(names, 9))  # nested: one more keeps them
  assert chosen != names[:8]  # not simply the first videos of the file order


@pytest.mark.parametrize("names, count, message", [
    (["a", "b"], 2, "leave videos"), (["a", "b"], 0, "at least 1"),
    (["a", "", "c"], 1, "no 'video/filename'"), (["a", "b", "a"], 1, "more than once")])
def test_bad_selections_raise(names, count, message):
  with pytest.raises(ValueError, match=message):
    held_out.select_held_out(names, count)


def test_the_split_yields_the_held_out_videos_or_the_others(tiny_cvrl_config, tmp_path):
  config = tiny_cvrl_config

  def names(split):
    dataset = sources.make_example_dataset(config.data, split, shuffle_files=False, seed=0)
    return [e["filename"].decode() for e in dataset.as_numpy_iterator()]

  everything = names("eval_train")
  test_videos = names("eval_test")
  chosen = held_out.select_held_out(everything, 6)
  ids_file = str(tmp_path / "held_out.json")
  held_out.write_ids(ids_file, chosen)
  assert held_out.read_ids(ids_file) == chosen
  config.data.held_out = dict(split="eval_train", ids_file=ids_file, use="only")
  assert sorted(names("eval_train")) == chosen
  assert names("eval_test") == test_videos  # only the named split is filtered
  config.data.held_out.use = "exclude"
  rest = names("eval_train")
  assert len(rest) == len(everything) - 6 and not set(rest) & set(chosen)
