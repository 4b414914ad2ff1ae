"""The seam between a self-supervised objective and the generic trainer.

An objective contributes exactly four things; everything else (input sources,
batching, device placement, optimiser, train loop, checkpoints, evaluation) is
shared. Adding an objective = one module with `build_objective(config)` (and,
optionally, `check_config(config)` for its own config section), plus a config
file, plus a line in `jvrl.objectives.OBJECTIVE_MODULES`.
"""
import dataclasses
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax

from jvrl.data import pipeline

# (parsed example dict, stateless seed) -> dict of tf tensors for one training
# example. Runs inside tf.data on the host.
TrainPreprocessFn = pipeline.TrainPreprocessFn
# (model outputs, batch) -> (scalar loss, metrics). Pure jnp, runs under jit on
# GLOBAL arrays, so reductions over the batch axis span every device.
LossFn = Callable[[Mapping[str, jax.Array], Mapping[str, jax.Array]],
                  tuple[jax.Array, Mapping[str, jax.Array]]]


@dataclasses.dataclass(frozen=True)
class Objective:
  """Everything the trainer needs to know about one objective.

  Attributes:
    name: registry name, e.g. 'cvrl'.
    model: a flax module, `model.apply(variables, batch, train=...)` returns a
      dict of outputs. Its video encoder is the submodule named
      `encoder_name`, whose variables are what evaluation and export use.
    loss_fn: computes (loss, metrics) from the outputs and the batch.
    preprocess_train: host-side tf.data function making one training example.
    clips_per_example: encoder forward passes per example (2 for CVRL's two
      views), used to report clips/s.
    rng_names: flax RNG streams `model` needs in training (e.g. 'dropout').
    encoder_name: name of the encoder submodule in `model`'s variables.
    expand_example: optional; turns one parsed video into a tf.data.Dataset
      of training units that `preprocess_train` receives instead of the video
      (TSP: the video's segments, each `clips_per_segment` times). None: the
      video itself is the unit.
  """
  name: str
  model: nn.Module
  loss_fn: LossFn
  preprocess_train: TrainPreprocessFn
  clips_per_example: int = 1
  rng_names: tuple[str, ...] = ()
  encoder_name: str = "encoder"
  expand_example: pipeline.ExpandExampleFn | None = None


def require_section(config: Any, name: str) -> Any:
  """`config.<name>`, the objective's own config section; a ValueError (one line,
  naming the section and the config that shows it) when it is missing."""
  section = config.get(name, None) if hasattr(config, "get") else None
  if section is None:
    raise ValueError(f"config.objective={config.get('objective')!r} needs a config.{name} "
                     f"section (see configs/{name}_synthetic.py).")
  return section
