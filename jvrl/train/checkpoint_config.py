"""A checkpoint's own config is the truth: this run's config is compared with it.

Every training checkpoint stores the config it was trained with (its
metadata's 'config'). Before a run resumes from a checkpoint, or evaluates
one, the fields that define what the checkpoint holds are compared with this
run's, and any difference refuses the run in one line that names each field
with both values (`CheckpointMismatchError`), instead of evaluating another
model than the one trained or failing deep inside orbax:

* evaluating (`check_evaluation`): the objective, the model and its options,
  and the objective's own section (`state_fields`): what the encoder computes
  and what the checkpoint's train state holds. The optimiser is taken from
  the checkpoint when restoring (`with_checkpoint_optimizer`), so it may differ;
* resuming (`check_resume`): the same plus the optimiser and the seed, which
  the rest of the run continues with; and `config.train.num_steps` may not be
  below the checkpoint's step (the run would "finish" at once, reporting a
  model trained longer than asked).

Fields a rerun may change (steps to train, data paths, evaluation settings,
logging) are not compared. TSP's section mixes training and experiment
settings and is left out (its model, objective and optimiser are compared).
"""
import json
from typing import Any, Mapping

import ml_collections

from jvrl import errors

# Objectives whose config section is not compared (see the module docstring).
_SECTION_NOT_COMPARED = ("tsp",)
_ABSENT = "<absent>"


class CheckpointMismatchError(errors.UserError):
  """This run's config disagrees with the checkpoint's (one line naming the fields)."""


def saved_config(metadata: Mapping[str, Any] | None) -> dict | None:
  """The config a checkpoint was trained with (its metadata's 'config'), or None."""
  text = (metadata or {}).get("config")
  if not text:
    return None
  try:
    return json.loads(text)
  except ValueError:
    return None


def state_fields(config: Mapping[str, Any]) -> tuple[str, ...]:
  """The top-level fields that define a checkpoint's train state for `config`."""
  objective = config.get("objective")
  fields = ["objective", "model_name", "model"]
  if objective not in _SECTION_NOT_COMPARED:
    fields.append(objective)
  if objective == "combined":
    fields += sorted(dict(config.get("combined") or {}))
  return tuple(dict.fromkeys(f for f in fields if isinstance(f, str)))


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
  if isinstance(value, Mapping):
    flat = {}
    for key, item in value.items():
      flat.update(_flatten(item, f"{prefix}.{key}"))
    return flat or {prefix: {}}
  return {prefix: value}


def differences(config: ml_collections.ConfigDict, saved: Mapping[str, Any],
                fields: tuple[str, ...]) -> list[str]:
  """'config.F=NOW (checkpoint: THEN)' for every leaf of `fields` that differs."""
  current = json.loads(config.to_json())
  found = []
  for field in fields:
    now = _flatten(current.get(field, _ABSENT), f"config.{field}")
    then = _flatten(saved.get(field, _ABSENT), f"config.{field}")
    for path in sorted(set(now) | set(then)):
      value_now, value_then = now.get(path, _ABSENT), then.get(path, _ABSENT)
      if value_now != value_then:
        found.append(f"{path}={value_now!r} (checkpoint: {value_then!r})")
  return found


def _refuse(what: str, found: list[str], checkpoint_dir: str, step: int, fix: str) -> None:
  if found:
    raise CheckpointMismatchError(
        f"{what}: the checkpoint of step {step} in {checkpoint_dir} was trained with another "
        f"config: {'; '.join(found)}. The checkpoint's config is the truth: {fix}")


def check_evaluation(config: ml_collections.ConfigDict, metadata: Mapping[str, Any] | None,
                     checkpoint_dir: str, step: int) -> None:
  """Refuses to evaluate checkpoint `step` with a config of another model or objective."""
  saved = saved_config(metadata)
  if saved is not None:
    _refuse("--mode=eval", differences(config, saved, state_fields(saved)), checkpoint_dir,
            step, "evaluate with its settings (drop the differing overrides).")


def check_resume(config: ml_collections.ConfigDict, metadata: Mapping[str, Any] | None,
                 checkpoint_dir: str, step: int) -> None:
  """Refuses to resume from checkpoint `step` with another model, objective, optimiser
  or seed, or with fewer steps to train than it already holds."""
  saved = saved_config(metadata)
  if saved is not None:
    fields = state_fields(saved) + ("optimizer", "seed")
    _refuse("Resuming", differences(config, saved, fields), checkpoint_dir, step,
            "resume with its settings, or train the new config in a new --workdir.")
  num_steps = config.train.num_steps
  if num_steps < step:
    raise CheckpointMismatchError(
        f"config.train.num_steps={num_steps} is below step {step} of the newest checkpoint in "
        f"{checkpoint_dir}: the run would stop at once with a model trained longer than asked. "
        f"Raise num_steps to at least {step} to continue, use --mode=eval to evaluate it, or "
        "use a new --workdir.")


def with_checkpoint_optimizer(config: ml_collections.ConfigDict,
                              metadata: Mapping[str, Any] | None) -> ml_collections.ConfigDict:
  """`config` with the checkpoint's optimiser section (what its optimiser state was
  built from), for restoring a train state to evaluate it."""
  saved = saved_config(metadata)
  if saved is None or "optimizer" not in saved:
    return config
  restored = ml_collections.ConfigDict(config.to_dict())
  restored.optimizer = saved["optimizer"]
  return restored
