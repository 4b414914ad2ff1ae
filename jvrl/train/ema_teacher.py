"""The EMA teacher of `jvrl.objectives.base.Teacher`: its parameters, update and export.

The teacher is a copy of some top-level submodules of the model's parameters
(`Teacher.submodules`), kept in `TrainState.teacher_params` and moved after
every optimiser step towards the student's new parameters:

  teacher <- m * teacher + (1 - m) * student,   m = Teacher.momentum(step)

(BYOL / MoCo / DINO; with m = 1 it stays fixed, with m = 0 it follows the
student). Its forward pass uses the student's parameters for every other
submodule and the student's model state (batch-norm statistics) as input;
see `jvrl.train.trainer.make_train_step`.
"""
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from jvrl.objectives import base


def initial_teacher_params(params: Mapping[str, Any], teacher: base.Teacher | None) -> dict:
  """The teacher's parameters at the start: a copy of the student's chosen submodules
  ({} without a teacher).

  Raises:
    ValueError: a submodule the model's parameters do not have.
  """
  if teacher is None:
    return {}
  missing = [name for name in teacher.submodules if name not in params]
  if missing or not teacher.submodules:
    raise ValueError(f"The teacher copies submodules {list(teacher.submodules)}, but the "
                     f"model's parameters have {sorted(params)}.")
  return {name: jax.tree.map(jnp.array, params[name]) for name in teacher.submodules}


def teacher_model_params(params: Mapping[str, Any], teacher_params: Mapping[str, Any]) -> dict:
  """The parameters the teacher's forward pass uses: the student's, with the teacher's
  submodules swapped in."""
  return {**params, **teacher_params}


def ema_update(teacher_params: Any, params: Mapping[str, Any], momentum: jax.Array) -> Any:
  """m * teacher + (1 - m) * student for every teacher leaf (dtype kept)."""
  student = {name: params[name] for name in teacher_params}

  def move(old, new):
    m = momentum.astype(old.dtype)
    return m * old + (1 - m) * new.astype(old.dtype)

  return jax.tree.map(move, teacher_params, student)


def teacher_encoder_variables(teacher_params: Mapping[str, Any], model_state: Mapping[str, Any],
                              name: str) -> dict:
  """The teacher's copy of encoder `name` as encoder variables ({'params', 'batch_stats',
  ...}), for export. Non-parameter collections (batch-norm statistics) are the
  student's: the teacher keeps none of its own.

  Raises:
    ValueError: the teacher does not copy `name`.
  """
  if name not in teacher_params:
    raise ValueError(f"The teacher copies {sorted(teacher_params)}, not the encoder {name!r}: "
                     "there is no teacher encoder to export.")
  variables = {"params": teacher_params[name]}
  for collection, tree in model_state.items():
    if collection != base.QUEUE_COLLECTION and name in tree:
      variables[collection] = tree[name]
  return variables
