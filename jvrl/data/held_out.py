"""A held-out validation subset carved deterministically from one split's videos.

PRP's fine-tuning (ft_classfy.py `main`, the official code) holds out 800 of
UCF101's training videos (400 for HMDB51) with `torch.utils.data.random_split`,
validates on them after every epoch and keeps the checkpoint of the best
validation accuracy. jvrl carves such a subset from a split by the videos'
names ('video/filename'), so the choice does not depend on the file order,
the seed or the process count:

  * `select_held_out(video_ids, count)`: the `count` videos whose SHA-256 of
    the name is smallest (a fixed pseudo-random draw, the same on every
    machine and run), returned sorted. Every video needs a unique, non-empty
    name (refused otherwise: which one was held out could not be told).
  * `config.data.held_out` (a dict; absent = no subset) applies it to a
    pipeline: `split` (the split it is carved from), `ids_file` (the JSON list
    `write_ids` wrote) and `use`: 'exclude' (every video but the held-out ones:
    the training side) or 'only' (the held-out videos: the validation side).
    `sources.make_example_dataset` filters that split's examples accordingly
    (`filter_examples`); other splits are untouched.
"""
import hashlib
import json
import os
from typing import Any, Sequence

from jvrl.data.tf_setup import tf

USES = ("exclude", "only")


def _rank_key(video_id: str) -> str:
  return hashlib.sha256(video_id.encode("utf-8")).hexdigest()


def select_held_out(video_ids: Sequence[str], count: int) -> list[str]:
  """The `count` held-out names among `video_ids` (module docstring), sorted.

  Raises:
    ValueError: `count` not in [1, len(video_ids)), or names empty or repeated.
  """
  video_ids = [str(v) for v in video_ids]
  if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count < len(video_ids):
    raise ValueError(f"Cannot hold out {count!r} of {len(video_ids)} videos: the count must be "
                     "at least 1 and leave videos to train on.")
  empty = sum(1 for v in video_ids if not v)
  if empty:
    raise ValueError(f"{empty} of {len(video_ids)} videos have no 'video/filename': a held-out "
                     "subset is chosen by name (prepare the records with names).")
  if len(set(video_ids)) != len(video_ids):
    repeated = sorted({v for v in video_ids if video_ids.count(v) > 1})
    raise ValueError(f"{len(repeated)} video name(s) occur more than once (e.g. "
                     f"{repeated[0]!r}): a held-out subset is chosen by name, so names must "
                     "be unique.")
  return sorted(sorted(video_ids, key=_rank_key)[:count])


def write_ids(path: str, ids: Sequence[str]) -> None:
  """Writes the held-out names to `path` (JSON list), atomically."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path + ".tmp", "w") as f:
    json.dump(list(ids), f, indent=0)
  os.replace(path + ".tmp", path)


def read_ids(path: str) -> list[str]:
  """The held-out names `write_ids` wrote."""
  with open(path) as f:
    return [str(v) for v in json.load(f)]


def check_held_out_config(held_out: Any) -> None:
  """`config.data.held_out`: a known `use`, a split name and an ids file."""
  use = held_out.get("use")
  if use not in USES:
    raise ValueError(f"config.data.held_out.use={use!r} must be one of {USES}.")
  if not held_out.get("split") or not held_out.get("ids_file"):
    raise ValueError("config.data.held_out needs 'split' and 'ids_file'.")


def filter_examples(dataset: tf.data.Dataset, ids: Sequence[str], use: str) -> tf.data.Dataset:
  """Keeps the examples named in `ids` (`use='only'`) or all the others ('exclude')."""
  if use not in USES:
    raise ValueError(f"use={use!r} must be one of {USES}.")
  names = tf.constant(list(ids), tf.string)
  keep_held_out = use == "only"

  def keep(example):
    held_out = tf.reduce_any(tf.equal(example["filename"], names))
    return held_out if keep_held_out else tf.logical_not(held_out)

  return dataset.filter(keep)
