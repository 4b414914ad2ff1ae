"""The seam between a self-supervised objective and the generic trainer.

An objective contributes exactly four things; everything else (input sources,
batching, device placement, optimiser, train loop, checkpoints, evaluation) is
shared. Adding an objective = one module that builds an `Objective`, plus a
config file, plus a line in `jvrl.objectives.OBJECTIVES`.
"""
import dataclasses
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax

# (parsed example dict, stateless seed tf.int32[2]) -> dict of tf tensors for
# one training example. Runs inside tf.data on the host.
TrainPreprocessFn = Callable[[Mapping[str, Any], Any], dict]
# (model outputs, batch) -> (scalar loss, metrics). Pure jnp, runs under jit on
# GLOBAL arrays, so reductions over the batch axis span every device.
LossFn = Callable[[Mapping[str, jax.Array], Mapping[str, jax.Array]],
                  tuple[jax.Array, Mapping[str, jax.Array]]]
# (config, workdir, mesh) -> {metric: value}: evaluation that needs the whole
# trained model, not only its encoder (e.g. VATT's zero-shot retrieval); it
# restores what it needs from WORKDIR's newest checkpoint. Metrics of its
# random-init baseline carry the 'random_init_' prefix.
ExtraEvaluationFn = Callable[[Any, str, Any], Mapping[str, float]]


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
    extra_evaluation: optional evaluation run after the shared encoder
      evaluation (`jvrl.evaluation.evaluate.run_evaluation`); None for most
      objectives.
  """
  name: str
  model: nn.Module
  loss_fn: LossFn
  preprocess_train: TrainPreprocessFn
  clips_per_example: int = 1
  rng_names: tuple[str, ...] = ()
  encoder_name: str = "encoder"
  extra_evaluation: ExtraEvaluationFn | None = None
