"""Objectives by name: one line per method, naming the module that implements it.

Each objective module defines

  build_objective(config) -> Objective   the method, built from the whole config;
  check_config(config) -> None           (optional) its own start-up checks of
                                         its config section: a ValueError whose
                                         message is one line naming the field.

`jvrl.config_validation` calls `check_objective_config` for the configured
objective, so a method validates its own settings; evaluations that need more
than the encoder are chosen by the evaluation layer (`jvrl.evaluation`), never
attached here.

The run's objective (`config.objective`) also gets the config's on-device batch
augmentations (`config.device_augment`, `device_augmentations`), chained after
its own `augment_batch`; a combined objective's members are built without them
(the list applies once, to the combined batch, with member-prefixed keys).
"""
import dataclasses
import importlib
import types
from typing import Mapping

import ml_collections

from jvrl.objectives import device_augmentations
from jvrl.objectives.base import Objective

OBJECTIVE_MODULES: Mapping[str, str] = types.MappingProxyType({
    "cvrl": "jvrl.objectives.cvrl",
    "supervised": "jvrl.objectives.supervised",
    "prp": "jvrl.objectives.prp",
    "vatt": "jvrl.objectives.vatt",
    "combined": "jvrl.objectives.combined",
    "tsp": "jvrl.objectives.tsp",
    "concur": "jvrl.objectives.concur",
    "stor": "jvrl.objectives.stor",
    "teg": "jvrl.objectives.teg",
    "coclr": "jvrl.objectives.coclr",
    "svt": "jvrl.objectives.svt",
})
OBJECTIVE_NAMES: tuple[str, ...] = tuple(OBJECTIVE_MODULES)


def objective_module(name: str) -> types.ModuleType:
  """The module implementing objective `name` (imported on first use)."""
  if name not in OBJECTIVE_MODULES:
    raise ValueError(f"Unknown objective {name!r}; known objectives: {sorted(OBJECTIVE_NAMES)}.")
  return importlib.import_module(OBJECTIVE_MODULES[name])


def build_objective(config: ml_collections.ConfigDict, name: str | None = None) -> Objective:
  """Returns the objective `name` (default `config.objective`), built from `config`."""
  name = config.objective if name is None else name
  if name not in OBJECTIVE_MODULES:
    raise ValueError(f"Unknown config.objective={name!r}; known objectives: "
                     f"{sorted(OBJECTIVE_NAMES)}.")
  objective = objective_module(name).build_objective(config)
  if name != config.objective or not device_augmentations.names(config):
    return objective
  return dataclasses.replace(objective, augment_batch=device_augmentations.chain(
      [objective.augment_batch, device_augmentations.build(config)]))


def check_objective_config(config: ml_collections.ConfigDict, name: str | None = None) -> None:
  """Runs objective `name`'s (default `config.objective`) own config checks, if any, and
  for the run's objective those of `config.device_augment`.

  Raises:
    ValueError: one line naming the field to change.
  """
  name = config.objective if name is None else name
  check = getattr(objective_module(name), "check_config", None)
  if check is not None:
    check(config)
  if name == config.objective:
    device_augmentations.check_config(config, objective_module)
