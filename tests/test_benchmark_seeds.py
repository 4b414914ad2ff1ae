"""Tests of benchmarks.seeds' command line (its machinery: tests/test_benchmark_runs.py)."""
from benchmarks import runs
from benchmarks import seeds


def test_overrides_pass_through_to_the_runs():
  argv = runs.parse_flags(["seeds.py", "--config=configs/x.py", "--workdir_root=/tmp/r",
                           "--seeds=4,5", "--config.train.num_steps=3"])
  assert argv[1:] == ["--config.train.num_steps=3"]
  assert seeds._SEEDS.value == ["4", "5"]  # pylint: disable=protected-access
