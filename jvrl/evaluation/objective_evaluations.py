"""Evaluations beyond the shared encoder evaluation, chosen by objective name.

The shared evaluation (`jvrl.evaluation.evaluate`) probes the encoder of every
objective. Some objectives train more than an encoder, and their users want
that evaluated too (VATT: zero-shot video<->text / video<->audio retrieval
through its heads and towers). This module maps an objective name to the
module holding such an evaluation; the evaluation layer owns the choice, so
objectives never import evaluation code (dependencies point one way:
evaluation -> train -> objectives -> models / losses / data).

Each listed module defines `evaluate_whole_model(config, workdir, mesh) ->
{metric: value}`: it restores what it needs from WORKDIR's newest checkpoint
and reports its random-init baseline's metrics with the 'random_init_' prefix.
"""
import importlib
import types
from typing import Callable, Mapping

import ml_collections

WHOLE_MODEL_EVALUATIONS: Mapping[str, str] = types.MappingProxyType({
    "vatt": "jvrl.evaluation.multimodal",
})

WholeModelEvaluationFn = Callable[[ml_collections.ConfigDict, str, object], Mapping[str, float]]


def whole_model_evaluation(config: ml_collections.ConfigDict) -> WholeModelEvaluationFn | None:
  """The whole-model evaluation of `config.objective`, or None when it has none."""
  module = WHOLE_MODEL_EVALUATIONS.get(config.objective)
  if module is None:
    return None
  return importlib.import_module(module).evaluate_whole_model


def check_config(config: ml_collections.ConfigDict) -> None:
  """Refuses a combination whose member needs a whole-model evaluation.

  A 'combined' objective renames its members' heads ('<name>/...'), so a
  member's whole-model evaluation would not find them; rather than drop it
  silently, the config is refused (one line, naming the member).
  """
  if config.get("objective") != "combined":
    return
  members = sorted(set(dict(config.get("combined", {}) or {})) & set(WHOLE_MODEL_EVALUATIONS))
  if members:
    raise ValueError(f"config.combined contains {members}, whose whole-model evaluation "
                     "(e.g. VATT's zero-shot retrieval) does not run on a combined model: "
                     "train it with its own config.objective.")
