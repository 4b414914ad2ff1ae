"""CoCLR's experiment: the runs it derives, the two-stream scores, and (slow) the whole
command on tiny videos."""
import json
import os
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
from tests.objectives.test_coclr import TINY_COCLR, tiny_coclr_config

from jvrl.evaluation import evaluate
from jvrl.experiments import coclr as experiment

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_derived_runs_alternate_the_streams_and_freeze_the_other(synthetic_cache_dir):
  config = tiny_coclr_config(synthetic_cache_dir)
  config.coclr.cotrain_cycles = 2
  runs = experiment.derived_configs(config)
  assert list(runs) == ["infonce", "cotrain_1_rgb", "cotrain_1_flow", "cotrain_2_rgb",
                        "cotrain_2_flow"]
  assert runs["infonce"].coclr.stage == "infonce"
  for name in list(runs)[1:]:
    run = runs[name]
    stream = name.split("_")[-1]
    assert run.coclr.stage == "cotrain" and run.coclr.train_stream == stream
    assert run.train.num_steps == config.coclr.cotrain_steps
    frozen = "flow_encoder|flow_head" if stream == "rgb" else "encoder|rgb_head"
    assert tuple(run.optimizer.lr_multipliers) == ((f"^({frozen})/", 0.0),)


class _Split:
  def __init__(self, features, labels):
    self.features, self.labels = features, labels


def test_two_stream_scores_combine_both_streams():
  """RGB knows the class, flow is noise: the two streams together keep most of RGB's
  accuracy (probabilities averaged; features side by side)."""
  rng = np.random.default_rng(0)
  train_y, test_y = np.repeat(np.arange(4), 20), np.repeat(np.arange(4), 10)
  centres = rng.normal(size=(4, 8)) * 3

  def streams(labels):
    return (centres[labels] + rng.normal(size=(len(labels), 8)),
            rng.normal(size=(len(labels), 8)))

  (rgb_train, flow_train), (rgb_test, flow_test) = streams(train_y), streams(test_y)
  rgb = {"eval_train": _Split(rgb_train, train_y), "eval_test": _Split(rgb_test, test_y)}
  flow = {"eval_train": _Split(flow_train, train_y), "eval_test": _Split(flow_test, test_y)}
  eval_config = ml_collections.ConfigDict(dict(
      linear_probe=dict(steps=100, learning_rate=0.01, weight_decay=0.0),
      knn=dict(k=5, temperature=0.07), retrieval_ks=(1, 5)))
  both = experiment.two_stream_metrics(rgb, flow, eval_config, seed=0)
  alone = evaluate.metrics_from_features(rgb_train, train_y, rgb_test, test_y, eval_config)
  assert set(both) == {"linear_probe_top1", "knn_top1", "retrieval_recall@1",
                       "retrieval_recall@5"}
  assert alone["linear_probe_top1"] > 0.9 and both["linear_probe_top1"] > 0.7
  assert both["knn_top1"] > 0.5


@pytest.mark.slow
def test_coclr_command_trains_both_stages_and_evaluates_every_stream(synthetic_cache_dir,
                                                                     tmp_path):
  workdir = str(tmp_path / "run")
  overrides = {**TINY_COCLR, "coclr.evaluate_infonce": False}
  result = subprocess.run(
      [sys.executable, "-m", "jvrl.main", "--config=configs/coclr_synthetic.py",
       f"--workdir={workdir}", *[f"--config.{k}={v}" for k, v in overrides.items()]],
      cwd=REPO, env=dict(os.environ, JVRL_CACHE_DIR=synthetic_cache_dir),
      capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  with open(os.path.join(workdir, "eval", "results.json")) as f:
    results = json.load(f)
  for model in ("coclr", "random_init"):
    for stream in ("rgb", "flow", "two_stream"):
      assert 0 <= results[f"{model}_{stream}_linear_probe_top1"] <= 1
  for subdir in ("infonce", "cotrain_1_rgb", "cotrain_1_flow"):
    assert os.path.isdir(os.path.join(workdir, subdir, "checkpoints"))
  for export in ("encoder", "flow_encoder"):
    assert os.path.isfile(os.path.join(workdir, "export", export, "encoder.json"))
  assert os.path.isfile(os.path.join(workdir, "eval", "report.html"))
