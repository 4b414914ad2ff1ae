"""Machinery shared by jvrl's generated datasets: from config to cached shards.

The built-in datasets (`synthetic.py`, the trimmed motion videos, and
`synthetic_untrimmed.py`, long videos with annotated action segments) are
rendered from a frozen config dataclass and cached on disk under a hash of
that config. This module holds what they share:

  * `SplitConfig`: base of the config dataclasses (split sizes, field checks);
  * `config_from_dict`: the dataclass from a dict / ConfigDict, rejecting
    unknown keys by name;
  * `config_hash`: the short digest that names the cache directory;
  * `write_split`: render examples with a thread pool, in order, into shards;
  * `ensure_generated`: generate a dataset directory once, atomically.
"""
import concurrent.futures
import dataclasses
import hashlib
import json
import os
import shutil
import time
import uuid
from typing import Any, Callable, Iterator, Mapping, Optional, TypeVar

from absl import logging

from jvrl.data import records

ConfigT = TypeVar("ConfigT")

SPLITS = ("train", "eval_train", "eval_test")
MANIFEST_FILE = "config.json"  # Written last: its presence marks a complete dataset.


def check_split(split: str) -> str:
  """Returns `split`; raises a ValueError unless it is one of `SPLITS`."""
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
  return split


class SplitConfig:
  """Base of the generated datasets' (frozen dataclass) configs.

  A subclass has the fields `<split>_videos` and `<split>_shards` for every
  split of `SPLITS`, and checks its fields in `__post_init__` with the helpers
  below, whose errors name the field.
  """

  def num_videos(self, split: str) -> int:
    """Number of videos of `split`."""
    return getattr(self, f"{check_split(split)}_videos")

  def num_shards(self, split: str) -> int:
    """Number of TFRecord shards of `split`."""
    return getattr(self, f"{check_split(split)}_shards")

  def _set(self, name: str, value: Any) -> None:
    object.__setattr__(self, name, value)  # The dataclass is frozen.

  def _to_float(self, *names: str) -> None:
    for name in names:
      self._set(name, float(getattr(self, name)))

  def _check_float_range(self, *names: str) -> None:
    """Each field must be (low, high) with 0 < low <= high; stored as floats."""
    for name in names:
      value = tuple(float(v) for v in getattr(self, name))
      if len(value) != 2 or not 0 < value[0] <= value[1]:
        raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {value}.")
      self._set(name, value)

  def _check_int_range(self, name: str, minimum: int) -> None:
    """The field must be (low, high) integers with minimum <= low <= high."""
    value = tuple(getattr(self, name))
    if (len(value) != 2 or any(int(v) != v for v in value) or
        not minimum <= value[0] <= value[1]):
      raise ValueError(
          f"{name} must be (low, high) integers with {minimum} <= low <= high, got {value}.")
    self._set(name, tuple(int(v) for v in value))

  def _check_positive(self, *names: str) -> None:
    for name in names:
      if not getattr(self, name) > 0:
        raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")

  def _check_non_negative(self, *names: str) -> None:
    for name in names:
      if getattr(self, name) < 0:
        raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")

  def _check_split_sizes(self) -> None:
    self._check_non_negative(*(f"{split}_videos" for split in SPLITS))
    self._check_positive(*(f"{split}_shards" for split in SPLITS))

  def _check_between(self, name: str, low: int, high: int) -> None:
    if not low <= getattr(self, name) <= high:
      raise ValueError(f"{name} must be in [{low}, {high}], got {getattr(self, name)}.")


def config_from_dict(config_class: type[ConfigT], d: Mapping[str, Any], what: str) -> ConfigT:
  """Builds the dataclass `config_class` from a dict or `ml_collections.ConfigDict`.

  Missing keys take the defaults; unknown keys raise a ValueError naming them.

  Args:
    config_class: a dataclass type.
    d: field name -> value.
    what: what the config configures, for the error message (e.g. 'synthetic dataset').
  """
  if hasattr(d, "to_dict"):
    d = d.to_dict()
  known = {f.name for f in dataclasses.fields(config_class)}
  unknown = sorted(set(d) - known)
  if unknown:
    raise ValueError(f"Unknown {what} config keys {unknown}; known keys: {sorted(known)}.")
  return config_class(**d)


def config_hash(payload: Mapping[str, Any]) -> str:
  """Short hex digest of a JSON-serializable mapping (config fields + versions)."""
  encoded = json.dumps(dict(payload), sort_keys=True).encode("utf-8")
  return hashlib.sha256(encoded).hexdigest()[:16]


def default_cache_dir() -> str:
  """`$JVRL_CACHE_DIR`, else `~/.cache/jvrl`."""
  return os.environ.get("JVRL_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache",
                                                            "jvrl")


def default_num_workers() -> int:
  """Rendering threads by default: min(8, CPU count)."""
  return max(1, min(8, os.cpu_count() or 1))


def map_in_order(fn: Callable[[int], bytes], count: int, num_workers: int) -> Iterator[bytes]:
  """Yields fn(0), ..., fn(count - 1) in order, computed by `num_workers` threads.

  Threads suffice: rendering (NumPy) and JPEG encoding (TF) release the GIL.
  Work is submitted in bounded chunks so memory stays small.
  """
  if num_workers <= 1:
    yield from map(fn, range(count))
    return
  chunk = 8 * num_workers
  with concurrent.futures.ThreadPoolExecutor(max_workers=num_workers) as pool:
    for begin in range(0, count, chunk):
      yield from pool.map(fn, range(begin, min(begin + chunk, count)))


def write_split(make_record: Callable[[int], bytes], count: int, output_dir: str,
                num_shards: int, prefix: str, num_workers: Optional[int] = None) -> list[str]:
  """Writes make_record(0..count-1) as `{prefix}-XXXXX-of-YYYYY.tfrecord` shards.

  Record i goes to shard i % num_shards (see `records.RecordWriter`); the bytes
  written do not depend on `num_workers`.

  Args:
    make_record: index -> serialized record.
    count: number of records.
    output_dir: directory of the shards (created if needed).
    num_shards: number of shard files.
    prefix: file-name prefix (the split's name).
    num_workers: rendering threads; None = `default_num_workers()`.

  Returns:
    The shard paths.
  """
  examples = map_in_order(make_record, count, num_workers or default_num_workers())
  return records.write_sharded_records(examples, output_dir, num_shards, prefix)


def is_complete(directory: str) -> bool:
  """Whether `directory` holds a completely generated dataset (its manifest exists)."""
  return os.path.isfile(os.path.join(directory, MANIFEST_FILE))


def ensure_generated(target: str, generate: Callable[[str], Any], manifest: Mapping[str, Any],
                     description: str) -> None:
  """Generates the dataset directory `target` once, atomically.

  Does nothing when `target` is complete (holds `MANIFEST_FILE`). Otherwise
  `generate(temp_dir)` writes the dataset into a temporary sibling directory
  (`.tmp-<basename>-<pid>-<random>`), `manifest` is written there as
  `config.json`, and the directory is renamed into place in one `os.rename`,
  so an interrupted generation is never mistaken for a complete one. When
  several processes generate concurrently the first rename wins and the others
  discard theirs (generation is deterministic, so all hold the same records).

  Args:
    target: the dataset directory.
    generate: writes the dataset's files into the directory it is given.
    manifest: JSON-serializable description of what was generated (the config).
    description: what is generated, for logs and errors (e.g. 'synthetic dataset').

  Raises:
    ValueError: `target` exists, is not empty and is not complete.
  """
  if is_complete(target):
    return
  if os.path.exists(target) and os.listdir(target):
    raise ValueError(f"{target} exists but is not a complete {description} (no "
                     f"{MANIFEST_FILE}); delete it to regenerate.")
  parent = os.path.dirname(target)
  os.makedirs(parent, exist_ok=True)
  temp_dir = os.path.join(
      parent, f".tmp-{os.path.basename(target)}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
  logging.info("Generating the %s in %s ...", description, target)
  start = time.perf_counter()
  try:
    os.makedirs(temp_dir)
    generate(temp_dir)
    with open(os.path.join(temp_dir, MANIFEST_FILE), "w") as f:
      json.dump(dict(manifest), f, indent=2, sort_keys=True)
    try:
      os.rename(temp_dir, target)
    except OSError:
      if not is_complete(target):
        raise
      logging.info("Another process generated %s first; using it.", target)
  finally:
    shutil.rmtree(temp_dir, ignore_errors=True)
  logging.info("The %s was generated in %.1f s: %s", description,
               time.perf_counter() - start, target)
