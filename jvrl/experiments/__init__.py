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
Such a module may name, in `INITIAL_ENCODER_FIELD`, the config field holding
the exported encoder it starts from (checked at start-up like
`config.init_from`, which the other objectives start from).
Every evaluation ends with the run's report (`jvrl.report`: WORKDIR/eval/
report.html), built after results.json is written; a report that fails is a
warning. This layer sits above evaluation, report and train (it uses them) and
below `jvrl.main` and `jvrl.config_validation`.
"""
import importlib
import types
from typing import Any, Mapping

import jax
import ml_collections

from jvrl import report
from jvrl.data import data_checks
from jvrl.evaluation import evaluate
from jvrl.train import checkpointing
from jvrl.train import trainer

EXPERIMENT_MODULES: Mapping[str, str] = types.MappingProxyType({
    "tsp": "jvrl.experiments.tsp",
    "coclr": "jvrl.experiments.coclr",
})
MODES = ("train", "eval", "train_and_eval")
# The field naming an exported encoder (`jvrl.train.checkpointing.export_encoder`,
# `python -m jvrl.tools.convert_torchvision`) that a training run starts from.
INIT_FROM_FIELD = "config.init_from"


def _module(config: ml_collections.ConfigDict) -> types.ModuleType | None:
  name = EXPERIMENT_MODULES.get(config.get("objective"))
  return importlib.import_module(name) if name else None


def run_train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                           mode: str) -> dict | None:
  """Trains `config.objective` (resuming), then runs the shared evaluation.

  A run that starts from scratch starts its encoder from the export named by
  `config.init_from`, when set (a resumed run continues from its checkpoint).
  """
  variables, step = None, None
  if mode in ("train", "train_and_eval"):
    state, variables = trainer.train(config, workdir, **_init_from(config))
    step = int(jax.device_get(state.step))
  if mode in ("eval", "train_and_eval"):
    results = evaluate.run_evaluation(config, workdir, variables=variables, step=step)
    report.build_report_or_warn(workdir, config)  # after results.json: never loses them
    return results
  return None


def _init_from(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """`trainer.train`'s initial-encoder arguments for `config.init_from` ({} when unset);
  the export is checked and read only if the trainer starts from scratch."""
  directory = config.get("init_from", "")
  if not directory:
    return {}

  def load() -> dict:
    checkpointing.check_export_fits(directory, config.model_name, config.model.to_dict(),
                                    field=INIT_FROM_FIELD)
    return checkpointing.load_encoder(directory)[1]

  return {"initial_encoder": load, "initial_encoder_source": directory}


def check_initial_encoder(config: ml_collections.ConfigDict) -> None:
  """Checks the exported encoder the experiment starts from, if it names one.

  Most experiments start from `config.init_from`; one with its own module
  reads the field its module names in `INITIAL_ENCODER_FIELD` (e.g. TSP's
  'config.tsp.initial_encoder') and refuses `config.init_from`. The export
  must hold encoder.json and be the architecture of `config.model_name` /
  `config.model`. Reads encoder.json only.

  Raises:
    ValueError, FileNotFoundError: one line naming the field.
  """
  module = _module(config)
  field = getattr(module, "INITIAL_ENCODER_FIELD", None) if module else INIT_FROM_FIELD
  if module is not None and config.get("init_from"):
    raise ValueError(
        f"config.init_from is not read by objective {config.objective!r}, whose experiment "
        f"starts its encoder from {field or 'its own runs'}: "
        f"{'set that instead' if field else 'remove config.init_from'}.")
  if field is None:
    return
  directory = _field_value(config, field)
  if directory:
    checkpointing.check_export_fits(directory, config.model_name, config.model.to_dict(),
                                    field=field)


def _field_value(config: ml_collections.ConfigDict, field: str) -> Any:
  """The value at 'config.a.b' ('' when a part is missing)."""
  node = config
  for part in field.split(".")[1:]:
    node = node.get(part, None) if hasattr(node, "get") else None
    if node is None:
      return ""
  return node


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
