r"""Generates the built-in synthetic motion dataset (see jvrl/data/synthetic.py).

Into the cache used by training (`config.data.source='synthetic'`):

  python data/make_synthetic.py
  python data/make_synthetic.py --set train_videos=2048 --set seed=1 \
      --cache_dir=/tmp/jvrl_cache

Or as plain TFRecords anywhere (then train with `config.data.source='records'`
and `config.data.train_files=<dir>/train-*.tfrecord` etc.):

  python data/make_synthetic.py --output_dir=/tmp/synthetic_records

`--set KEY=VALUE` overrides a `SyntheticConfig` field (VALUE is a Python
literal, e.g. `--set object_size_range=(8,16)`). Prints the split globs.
"""
import ast
import os
import sys
import time

from absl import app
from absl import flags
from absl import logging

try:
  import jvrl  # noqa: F401
except ImportError:  # Run from a checkout without installing jvrl.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jvrl.data import synthetic  # pylint: disable=g-import-not-at-top

_SET = flags.DEFINE_multi_string("set", [], "KEY=VALUE override of a SyntheticConfig field.")
_CACHE_DIR = flags.DEFINE_string(
    "cache_dir", "", "Cache root ('' = $JVRL_CACHE_DIR or ~/.cache/jvrl).")
_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", "", "If set, write the splits' shards here instead of the cache.")
_NUM_WORKERS = flags.DEFINE_integer("num_workers", 0, "Rendering threads (0 = CPU count).")


def parse_overrides(assignments: list[str]) -> dict:
  """Turns ['key=value', ...] into a dict, values parsed as Python literals."""
  overrides = {}
  for assignment in assignments:
    key, sep, value = assignment.partition("=")
    if not sep or not key.strip():
      raise ValueError(f"--set expects KEY=VALUE, got {assignment!r}.")
    try:
      overrides[key.strip()] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      overrides[key.strip()] = value
  return overrides


def main(argv: list[str]) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  cfg = synthetic.synthetic_config_from_dict(parse_overrides(_SET.value))
  num_workers = _NUM_WORKERS.value or None
  if _OUTPUT_DIR.value:
    start = time.perf_counter()
    for split in synthetic.SPLITS:
      synthetic.generate_split(cfg, split, _OUTPUT_DIR.value, num_workers)
    logging.info("Generated in %.1f s.", time.perf_counter() - start)
    globs = synthetic.split_globs(_OUTPUT_DIR.value)
  else:
    globs = synthetic.ensure_synthetic_dataset(cfg, _CACHE_DIR.value or None, num_workers)
  for split, pattern in globs.items():
    print(f"{split}: {pattern}")


if __name__ == "__main__":
  app.run(main)
