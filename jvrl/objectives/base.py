"""The seam between a self-supervised objective and the generic trainer.

An objective contributes exactly four things; everything else (input sources,
batching, device placement, optimiser, train loop, checkpoints, evaluation) is
shared. Adding an objective = one module with `build_objective(config)` (and,
optionally, `check_config(config)` for its own config section), plus a config
file, plus a line in `jvrl.objectives.OBJECTIVE_MODULES`.

Optional extension point, handled in one labelled stage of
`jvrl.train.trainer.make_train_step`: `augment_batch`, an on-device
augmentation of the GLOBAL batch (FAME's foreground-background merging,
STC-mix's space-time cutmix: they mix examples of the whole batch, so they run
in the jitted step under the batch's sharding, not in tf.data). The config's
list of device augmentations (`config.device_augment`,
`jvrl.objectives.device_augmentations`) is attached here by
`jvrl.objectives.build_objective`.
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
# (GLOBAL batch, PRNG key) -> batch: an augmentation of the whole batch on the
# devices, before the model. Pure jnp under jit on the sharded global arrays
# (a permutation or a gather across the batch spans every device). It returns
# a new dict: clips keep their dtype and value convention (uint8 in [0, 255],
# or float in [0, 1], `jvrl.models.inputs`) and shape; it may add fields that
# the loss reads (e.g. mixing targets), never ones the model needs (the model
# is initialised from the pipeline's batch).
BatchAugmentFn = Callable[[Mapping[str, jax.Array], jax.Array], dict]


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
    augment_batch: optional; run by the train step on the global batch before
      the model, with a key of its own each step (see `BatchAugmentFn`).
      None: the model sees the batch the input pipeline made.
  """
  name: str
  model: nn.Module
  loss_fn: LossFn
  preprocess_train: TrainPreprocessFn
  clips_per_example: int = 1
  rng_names: tuple[str, ...] = ()
  encoder_name: str = "encoder"
  expand_example: pipeline.ExpandExampleFn | None = None
  augment_batch: BatchAugmentFn | None = None


def require_section(config: Any, name: str) -> Any:
  """`config.<name>`, the objective's own config section; a ValueError (one line,
  naming the section and the config that shows it) when it is missing."""
  section = config.get(name, None) if hasattr(config, "get") else None
  if section is None:
    raise ValueError(f"config.objective={config.get('objective')!r} needs a config.{name} "
                     f"section (see configs/{name}_synthetic.py).")
  return section
