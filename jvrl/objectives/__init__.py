"""Objectives by name. Each entry builds an `Objective` from the whole config."""
from typing import Callable

import ml_collections

from jvrl.objectives.base import Objective


def _build_cvrl(config: ml_collections.ConfigDict) -> Objective:
  from jvrl.objectives import cvrl  # pylint: disable=g-import-not-at-top
  return cvrl.build_cvrl_objective(config)


OBJECTIVES: dict[str, Callable[[ml_collections.ConfigDict], Objective]] = {
    "cvrl": _build_cvrl,
}


def build_objective(config: ml_collections.ConfigDict) -> Objective:
  """Returns the objective named by `config.objective`, built from `config`."""
  name = config.objective
  if name not in OBJECTIVES:
    raise ValueError(
        f"Unknown config.objective={name!r}; known objectives: {sorted(OBJECTIVES)}.")
  return OBJECTIVES[name](config)
