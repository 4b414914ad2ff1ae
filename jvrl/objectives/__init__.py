"""Objectives by name. Each entry builds an `Objective` from the whole config."""
from typing import Callable

import ml_collections

from jvrl.objectives.base import Objective


def _build_cvrl(config: ml_collections.ConfigDict) -> Objective:
  from jvrl.objectives import cvrl  # pylint: disable=g-import-not-at-top
  return cvrl.build_cvrl_objective(config)


def _build_supervised(config: ml_collections.ConfigDict) -> Objective:
  from jvrl.objectives import supervised  # pylint: disable=g-import-not-at-top
  return supervised.build_supervised_objective(config)


def _build_prp(config: ml_collections.ConfigDict) -> Objective:
  from jvrl.objectives import prp  # pylint: disable=g-import-not-at-top
  return prp.build_prp_objective(config)


def _build_vatt(config: ml_collections.ConfigDict) -> Objective:
  from jvrl.objectives import vatt  # pylint: disable=g-import-not-at-top
  return vatt.build_vatt_objective(config)


def _build_combined(config: ml_collections.ConfigDict) -> Objective:
  from jvrl.objectives import combined  # pylint: disable=g-import-not-at-top
  return combined.build_combined_objective(config, OBJECTIVES)


OBJECTIVES: dict[str, Callable[[ml_collections.ConfigDict], Objective]] = {
    "cvrl": _build_cvrl,
    "supervised": _build_supervised,
    "prp": _build_prp,
    "vatt": _build_vatt,
    "combined": _build_combined,
}


def build_objective(config: ml_collections.ConfigDict) -> Objective:
  """Returns the objective named by `config.objective`, built from `config`."""
  name = config.objective
  if name not in OBJECTIVES:
    raise ValueError(
        f"Unknown config.objective={name!r}; known objectives: {sorted(OBJECTIVES)}.")
  return OBJECTIVES[name](config)
