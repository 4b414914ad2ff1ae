"""End to end: the TSP comparison of `configs/tsp_synthetic.py` through `python -m jvrl.main`."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import TINY_CVRL_OVERRIDES, TINY_TSP_OVERRIDES, make_tiny_tsp_config
from jvrl import config_validation
from jvrl import models
from jvrl.data import feature_files
from jvrl.data import sources
from jvrl.evaluation import clip_features
from jvrl.evaluation import saved_outputs
from jvrl.experiments import tsp
from jvrl.train import checkpointing
from jvrl.train import sharding

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METRICS = ("fgbg_auc", "fgbg_balanced_accuracy", "fg_action_top1", "localization_map@0.3",
           "localization_map@0.4", "localization_map@0.5", "localization_map@0.6",
           "localization_map@0.7", "localization_average_map")


def _flags():
  flags = [f"--config.{path}={value}" for path, value in TINY_TSP_OVERRIDES.items()]
  flags += [f"--config.tsp.initial.synthetic.{path.split('.')[-1]}={value}"
            for path, value in TINY_CVRL_OVERRIDES.items() if path.startswith("data.synthetic.")]
  return [flag.replace(" ", "") for flag in flags]


def run_main(workdir, cache_dir, *extra):
  env = dict(os.environ, JVRL_CACHE_DIR=cache_dir, PYTHONPATH=REPO)
  return subprocess.run(
      [sys.executable, "-m", "jvrl.main", "--config=configs/tsp_synthetic.py",
       f"--workdir={workdir}", *_flags(), *extra],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=1500)


@pytest.mark.slow
def test_tsp_comparison_end_to_end(tmp_path, synthetic_cache_dir):
  workdir = str(tmp_path / "run")
  result = run_main(workdir, synthetic_cache_dir)
  assert result.returncode == 0, result.stderr[-3000:]
  log = result.stderr + result.stdout
  for needle in ("Data: the built-in untrimmed synthetic dataset",
                 "Initial encoder: supervised training on the built-in synthetic dataset",
                 "Global video features", "Training TAC", "Training TSP", "clips/s",
                 "localization_map@0.5"):
    assert needle in log, needle
  with open(os.path.join(workdir, "eval", "results.json")) as f:
    results = json.load(f)
  assert set(results) == {f"{e}_{m}" for e in tsp.ENCODERS for m in METRICS}
  for name, value in results.items():
    assert math.isnan(value) or 0.0 <= value <= 1.0, name
  assert not math.isnan(results["tsp_fgbg_auc"])
  # The report draws the comparison's timelines from the saved per-video outputs.
  assert os.path.isfile(os.path.join(workdir, "eval", "report.html"))
  assert os.path.isfile(os.path.join(workdir, "eval", "figures", "timeline_00.png"))
  assert list(saved_outputs.load_localization_outputs(workdir)) == list(tsp.ENCODERS)

  # The GVF of every training video is the max over the initial encoder's clip features.
  config = make_tiny_tsp_config(synthetic_cache_dir)
  gvfs = feature_files.read_features(os.path.join(workdir, "gvf", "train_max.h5"))
  assert len(gvfs) == config.data.synthetic_untrimmed.train_videos
  _, initial = checkpointing.load_encoder(os.path.join(workdir, "initial", "export", "encoder"))
  encoder = models.build_model(config.model_name, **config.model.to_dict())
  videos = clip_features.extract_clip_features(
      encoder, initial, clip_features.split_examples(config, "train"), tsp.gvf_grid(config),
      sharding.make_mesh({"data": -1}), 16)
  first = next(videos)
  np.testing.assert_allclose(gvfs[first.key], first.features.max(axis=0), rtol=1e-5, atol=1e-6)

  # Evaluation alone reuses the trained encoders and gives the same numbers, also when the
  # same videos are read as a user's records (the same command, files instead of the
  # built-in source).
  globs = sources.synthetic_split_globs(config.data)
  os.remove(os.path.join(workdir, "eval", "results.json"))
  result = run_main(workdir, synthetic_cache_dir, "--mode=eval", "--config.data.source=records",
                    f"--config.data.eval_train_files={globs['eval_train']}",
                    f"--config.data.eval_test_files={globs['eval_test']}")
  assert result.returncode == 0, result.stderr[-3000:]
  assert "Data: records (eval_train: 1 file(s)" in result.stderr
  with open(os.path.join(workdir, "eval", "results.json")) as f:
    again = json.load(f)
  assert again == pytest.approx(results, abs=1e-6, nan_ok=True)


def test_the_experiment_s_runs_are_validated_at_start_up(tiny_tsp_config):
  config = tiny_tsp_config
  config.tsp.initial.batch_size = 12
  with pytest.raises(config_validation.ConfigError, match=r"the experiment's 'initial' run is "
                                                          r"invalid: config.train.batch_size=12"):
    config_validation.validate_config(config)


def test_an_initial_encoder_of_another_architecture_is_refused(tiny_tsp_config, tmp_path):
  config = tiny_tsp_config
  directory = str(tmp_path / "export")
  encoder = models.build_model("r3d_prp", width_multiplier=0.125)
  import jax  # pylint: disable=g-import-not-at-top
  variables = encoder.init(jax.random.key(0), np.zeros((1, 4, 16, 16, 3), np.float32),
                           train=False)
  checkpointing.export_encoder(directory, model_name="r3d_prp",
                               model_kwargs={"width_multiplier": 0.125}, variables=variables)
  config.tsp.initial_encoder = directory
  with pytest.raises(ValueError, match="set config.model_name / config.model to match it"):
    tsp.initial_encoder_variables(config, str(tmp_path / "run"), train=True)
