"""What one `jvrl.main` command runs, chosen by objective name.

Most objectives are one training run followed by the shared evaluation
(`run_train_and_evaluate`). Some published comparisons need several runs in
one command; their module (one line in `EXPERIMENT_MODULES`) defines

  run(config, workdir, mode) -> dict | None    the whole experiment;
  derived_configs(config) -> {name: config}    (optional) the configs of the
                                               training runs it derives, which
                                               `jvrl.config_validation`
                                               checks at start-up;
  DATA_EXPECTATIONS                            (optional) a
                                               `data_checks.Expectations`: what
                                               it does with the data, for the
                                               start-up data checks.

e.g. TSP (`jvrl.experiments.tsp`): an initial encoder, global video features,
TAC and TSP trained from it, and a localization evaluation of all of them.
This layer sits above evaluation and train (it uses both) and below
`jvrl.main` and `jvrl.config_validation`.
"""
import importlib
import types
from typing import Any, Mapping

import jax
import ml_collections

from jvrl.data import data_checks
from jvrl.evaluation import evaluate
from jvrl.train import trainer

EXPERIMENT_MODULES: Mapping[str, str] = types.MappingProxyType({
    "tsp": "jvrl.experiments.tsp",
})
MODES = ("train", "eval", "train_and_eval")


def _module(config: ml_collections.ConfigDict) -> types.ModuleType | None:
  name = EXPERIMENT_MODULES.get(config.get("objective"))
  return importlib.import_module(name) if name else None


def run_train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                           mode: str) -> dict | None:
  """Trains `config.objective` (resuming), then runs the shared evaluation."""
  variables, step = None, None
  if mode in ("train", "train_and_eval"):
    state, variables = trainer.train(config, workdir)
    step = int(jax.device_get(state.step))
  if mode in ("eval", "train_and_eval"):
    return evaluate.run_evaluation(config, workdir, variables=variables, step=step)
  return None


def run(config: ml_collections.ConfigDict, workdir: str, mode: str) -> dict | None:
  """Runs `config`'s experiment in `mode`; returns the evaluation results, if any.

  Raises what training raises (`trainer.Preempted`, FloatingPointError,
  `pipeline.CorruptRecordError`); `jvrl.main` turns those into exit statuses.
  """
  if mode not in MODES:
    raise ValueError(f"mode={mode!r} must be one of {MODES}.")
  module = _module(config)
  if module is None:
    return run_train_and_evaluate(config, workdir, mode)
  return module.run(config, workdir, mode)


def derived_configs(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The training configs `config`'s experiment derives ({} for most objectives)."""
  module = _module(config)
  derive = getattr(module, "derived_configs", None) if module else None
  return dict(derive(config)) if derive else {}


def data_expectations(config: ml_collections.ConfigDict) -> data_checks.Expectations:
  """What `config`'s experiment does with the data (for `data_checks.check_data`):
  the default is one training run on whole videos and the shared evaluation."""
  module = _module(config)
  return getattr(module, "DATA_EXPECTATIONS", None) or data_checks.Expectations()
