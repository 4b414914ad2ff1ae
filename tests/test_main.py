"""End to end: `python -m jvrl.main` pretrains, evaluates, resumes, and evaluates alone."""
import json
import os
import subprocess
import sys

import pytest
from conftest import TINY_CVRL_OVERRIDES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY_OVERRIDES = [f"--config.{path}={value}" for path, value in TINY_CVRL_OVERRIDES.items()]


def run_main(workdir, cache_dir, *extra):
  env = dict(os.environ, JVRL_CACHE_DIR=cache_dir)
  return subprocess.run(
      [sys.executable, "-m", "jvrl.main", "--config=configs/cvrl_synthetic.py",
       f"--workdir={workdir}", *TINY_OVERRIDES, *extra],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_main_train_and_eval_then_eval_alone(tmp_path, synthetic_cache_dir):
  workdir = str(tmp_path / "run")
  result = run_main(workdir, synthetic_cache_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  log = result.stderr + result.stdout
  for needle in ("step 4/4", "steps/s", "clips/s", "ETA", "linear_probe_top1"):
    assert needle in log, needle
  with open(os.path.join(workdir, "eval", "results.json")) as f:
    results = json.load(f)
  for key in ("linear_probe_top1", "knn_top1", "retrieval_recall@1", "retrieval_recall@10",
              "random_init_linear_probe_top1", "random_init_knn_top1",
              "random_init_retrieval_recall@1"):
    assert 0.0 <= results[key] <= 1.0, key
  # The tiny gallery holds 20 videos: recall@20 and @50 would be 1.0 by construction.
  assert "retrieval_recall@20" not in results and "retrieval_recall@50" not in results
  assert "retrieval_recall@20, retrieval_recall@50 not reported" in log
  assert results["step"] == 4
  assert os.listdir(os.path.join(workdir, "tensorboard", "eval"))
  # Every evaluation leaves its report (tests/report checks what is in it).
  assert os.path.isfile(os.path.join(workdir, "eval", "report.html"))
  assert "Report: " in log and "not built" not in log and "not drawn" not in log
  with open(os.path.join(workdir, "command.txt")) as f:
    assert f.read().startswith("python -m jvrl.main --config=configs/cvrl_synthetic.py")

  # Eval alone restores the newest checkpoint and gives the same numbers.
  os.remove(os.path.join(workdir, "eval", "results.json"))
  result = run_main(workdir, synthetic_cache_dir, "--mode=eval")
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(workdir, "eval", "results.json")) as f:
    again = json.load(f)
  assert again == pytest.approx(results, abs=1e-6)


def test_unknown_config_field_is_a_one_line_error(tmp_path, synthetic_cache_dir):
  result = run_main(str(tmp_path / "x"), synthetic_cache_dir, "--config.train.num_stepz=3")
  assert result.returncode == 2
  assert "unknown config field 'num_stepz'" in result.stderr
  assert "Traceback" not in result.stderr


def test_invalid_config_is_a_one_line_error_before_training(tmp_path, synthetic_cache_dir):
  result = run_main(str(tmp_path / "x"), synthetic_cache_dir, "--config.train.batch_size=12")
  assert result.returncode == 2, result.stderr[-2000:]
  assert ("jvrl: config error: config.train.batch_size=12 must be a positive multiple of 8"
          in result.stderr)
  assert "Traceback" not in result.stderr


def test_partial_multihost_flags_are_a_one_line_error(tmp_path, synthetic_cache_dir):
  result = run_main(str(tmp_path / "x"), synthetic_cache_dir, "--num_processes=2")
  assert result.returncode == 2
  assert "must be given together" in result.stderr and "Traceback" not in result.stderr
