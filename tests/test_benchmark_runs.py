"""Tests of benchmarks.runs: commands, the resume rule and the mean / spread table over seeds
(no run is started here: a fake runner stands in for the subprocess)."""
import json
import math
import os
import subprocess
import sys

import pytest

from benchmarks import runs


def test_summary_mean_std_range_and_nan_runs():
  per_seed = {0: {"probe": 0.5, "auc": 0.7, "step": 10}, 1: {"probe": 0.7, "auc": float("nan")},
              2: {"probe": 0.6, "auc": 0.9}}
  table = runs.summarize(per_seed)
  assert sorted(table) == ["auc", "probe"]  # 'step' is not a metric
  assert table["probe"]["mean"] == pytest.approx(0.6)
  assert table["probe"]["std"] == pytest.approx(0.1)  # sample std (ddof=1)
  assert (table["probe"]["min"], table["probe"]["max"]) == (0.5, 0.7)
  assert table["auc"]["mean"] == pytest.approx(0.8) and table["auc"]["nan_runs"] == 1
  assert math.isnan(table["auc"]["values"][1])
  assert runs.summarize({0: {"x": 1.0}})["x"]["std"] == 0.0


def test_markdown_table_has_one_row_per_metric_and_a_column_per_seed():
  table = runs.summarize({0: {"a": 0.25}, 3: {"a": 0.75}})
  text = runs.format_markdown(table, [0, 3])
  assert text.splitlines()[0] == "| metric | mean ± std | min–max | seed 0 | seed 3 |"
  assert text.splitlines()[2] == "| a | 0.500 ± 0.354 | 0.250–0.750 | 0.250 | 0.750 |"


def test_seed_command_sets_the_seed_and_passes_the_overrides_last():
  command = runs.seed_command("configs/x.py", 3, "/tmp/r/seed_3", ["--config.train.num_steps=2"])
  assert command == [sys.executable, "-m", "jvrl.main", "--config=configs/x.py",
                     "--workdir=/tmp/r/seed_3", "--config.seed=3", "--config.train.num_steps=2"]


def test_run_seed_runs_once_then_reads_the_results_back(tmp_path):
  calls = []

  def fake_runner(command, cwd, check):
    calls.append(command)
    workdir = command[4].split("=", 1)[1]
    os.makedirs(os.path.join(workdir, "eval"))
    with open(os.path.join(workdir, "eval", "results.json"), "w") as f:
      json.dump({"knn_top1": 0.5}, f)
    return subprocess.CompletedProcess(command, 0)

  workdir = str(tmp_path / "seed_0")
  results, seconds = runs.run_seed("configs/x.py", 0, workdir, [], runner=fake_runner)
  assert results == {"knn_top1": 0.5} and seconds >= 0 and len(calls) == 1
  results, seconds = runs.run_seed("configs/x.py", 0, workdir, [], runner=fake_runner)
  assert results == {"knn_top1": 0.5} and math.isnan(seconds) and len(calls) == 1


def test_a_failed_run_stops_the_sweep(tmp_path):
  with pytest.raises(SystemExit, match="status 3"):
    runs.run_seed("configs/x.py", 0, str(tmp_path), [],
                  runner=lambda command, cwd, check: subprocess.CompletedProcess(command, 3))
