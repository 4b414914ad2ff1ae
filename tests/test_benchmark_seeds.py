"""Tests of benchmarks.seeds: the mean / spread table over seeds (the runs are not run here)."""
import math

import pytest

from benchmarks import seeds


def test_summary_mean_std_range_and_nan_runs():
  per_seed = {0: {"probe": 0.5, "auc": 0.7, "step": 10}, 1: {"probe": 0.7, "auc": float("nan")},
              2: {"probe": 0.6, "auc": 0.9}}
  table = seeds.summarize(per_seed)
  assert sorted(table) == ["auc", "probe"]  # 'step' is not a metric
  assert table["probe"]["mean"] == pytest.approx(0.6)
  assert table["probe"]["std"] == pytest.approx(0.1)  # sample std (ddof=1)
  assert (table["probe"]["min"], table["probe"]["max"]) == (0.5, 0.7)
  assert table["auc"]["mean"] == pytest.approx(0.8) and table["auc"]["nan_runs"] == 1
  assert math.isnan(table["auc"]["values"][1])
  assert seeds.summarize({0: {"x": 1.0}})["x"]["std"] == 0.0


def test_markdown_table_has_one_row_per_metric_and_a_column_per_seed():
  table = seeds.summarize({0: {"a": 0.25}, 3: {"a": 0.75}})
  text = seeds.format_markdown(table, [0, 3])
  assert text.splitlines()[0] == "| metric | mean ± std | min–max | seed 0 | seed 3 |"
  assert text.splitlines()[2] == "| a | 0.500 ± 0.354 | 0.250–0.750 | 0.250 | 0.750 |"


def test_overrides_pass_through_to_the_runs():
  argv = seeds.parse_flags(["seeds.py", "--config=configs/x.py", "--workdir_root=/tmp/r",
                            "--seeds=4,5", "--config.train.num_steps=3"])
  assert argv[1:] == ["--config.train.num_steps=3"]
  assert seeds._SEEDS.value == ["4", "5"]  # pylint: disable=protected-access
