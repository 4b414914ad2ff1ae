"""The seam between a self-supervised objective and the generic trainer.

An objective contributes exactly four things; everything else (input sources,
batching, device placement, optimiser, train loop, checkpoints, evaluation) is
shared. Adding an objective = one module with `build_objective(config)` (and,
optionally, `check_config(config)` for its own config section), plus a config
file, plus a line in `jvrl.objectives.OBJECTIVE_MODULES`.

Optional extension points, each handled in one labelled stage of
`jvrl.train.trainer.make_train_step`:

* `augment_batch`: an on-device augmentation of the GLOBAL batch (FAME's
  foreground-background merging, STC-mix's space-time cutmix: they mix
  examples of the whole batch, so they run in the jitted step under the
  batch's sharding, not in tf.data). The config's list of device
  augmentations (`config.device_augment`,
  `jvrl.objectives.device_augmentations`) is attached here by
  `jvrl.objectives.build_objective`.
* `Teacher`: a slowly moving (EMA) copy of some of the model's submodules
  (BYOL / MoCo key encoders, DINO / SVT teachers), kept in
  `TrainState.teacher_params`. Before the student's forward pass the trainer
  runs the model with the teacher's parameters (`Teacher.method`, no
  gradient) and hands its outputs to the loss as `outputs[TEACHER_OUTPUTS]`;
  after the optimiser step it moves the teacher towards the new parameters
  with `Teacher.momentum(step)`.
* `MemoryQueue`: a MoCo-style FIFO of rows computed from each global batch
  (keys, video ids, ...), held in `TrainState.model_state[QUEUE_COLLECTION]`
  and split over the batch axes. The loss reads it as `outputs[QUEUE_OUTPUTS]`
  (as it was BEFORE this step); after the optimiser step the trainer
  enqueues `MemoryQueue.rows(outputs, batch)`.
"""
import dataclasses
import math
from typing import Any, Callable, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

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


# Keys under which `make_train_step` adds the teacher's outputs and the memory
# queue (before this step's rows) to the model outputs the loss receives.
TEACHER_OUTPUTS = "teacher"
QUEUE_OUTPUTS = "queue"
# The flax collection of `TrainState.model_state` that holds the memory queue:
# {'pointer': int32 [], 'filled': int32 [], <row name>: [size, ...], ...}.
QUEUE_COLLECTION = "queue"


@dataclasses.dataclass(frozen=True)
class Teacher:
  """An exponential-moving-average copy of some of the model's submodules.

  Attributes:
    submodules: names of top-level entries of the model's 'params' that the
      teacher copies (e.g. ('encoder', 'head')); the others are shared with
      the student (e.g. MoCo's frozen second stream).
    momentum: step (int32 array, the number of steps taken before this one)
      -> the EMA momentum m of this step: teacher <- m * teacher + (1 - m) *
      student, after the optimiser step (`cosine_momentum`: DINO's 0.996 -> 1).
    method: name of the model method the teacher runs (None: `__call__`),
      called as `method(batch, train=True)` with the teacher's parameters;
      its outputs reach the loss as `outputs[TEACHER_OUTPUTS]`, without
      gradient.
    state_collections: model-state collections whose updates by the teacher's
      forward pass are kept (e.g. DINO's centre of the teacher outputs). All
      other updates (batch-norm statistics of the teacher's batch) are
      dropped: the student's running statistics stay the student's.
  """
  submodules: tuple[str, ...]
  momentum: Callable[[jax.Array], jax.Array]
  method: str | None = None
  state_collections: tuple[str, ...] = ()


def cosine_momentum(start: float, end: float, num_steps: int) -> Callable[[jax.Array],
                                                                          jax.Array]:
  """DINO's teacher-momentum schedule: `start` at step 0, rising along a half cosine to
  `end` at `num_steps`: m(s) = end - (end - start) * (1 + cos(pi * s / num_steps)) / 2.
  `start == end` is a constant momentum (MoCo's 0.999)."""
  if not 0.0 <= start <= 1.0 or not 0.0 <= end <= 1.0:
    raise ValueError(f"teacher momentum must lie in [0, 1], got {start} -> {end}.")
  if num_steps < 1:
    raise ValueError(f"num_steps must be >= 1, got {num_steps}.")

  def momentum(step: jax.Array) -> jax.Array:
    progress = jnp.minimum(jnp.asarray(step, jnp.float32) / num_steps, 1.0)
    return jnp.float32(end) - (jnp.float32(end - start)) * (1.0 + jnp.cos(math.pi * progress)) / 2
  return momentum


@dataclasses.dataclass(frozen=True)
class MemoryQueue:
  """A FIFO memory of rows from past global batches (MoCo's queue of keys).

  Attributes:
    size: rows kept (K); must be a multiple of the global batch size and of
      the number of devices the batch is split over.
    rows: row name -> shape and dtype of ONE row (`jax.ShapeDtypeStruct`),
      e.g. {'rgb_keys': ShapeDtypeStruct((128,), float32)}. Float rows start
      as random unit vectors (MoCo), integer rows as -1.
    compute_rows: (outputs, batch) -> {row name: [global batch, ...]}, this
      step's rows (outputs include `outputs[TEACHER_OUTPUTS]`); called after
      the loss, values taken without gradient.
  The queue's state also holds 'pointer' (the next row written) and 'filled'
  (rows written so far, at most `size`): MoCo's queue_ptr, and CoCLR's
  "queue is full" test.
  """
  size: int
  rows: Mapping[str, jax.ShapeDtypeStruct]
  compute_rows: Callable[[Mapping[str, Any], Mapping[str, jax.Array]],
                         Mapping[str, jax.Array]]


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
    teacher: optional EMA teacher (see `Teacher`).
    queue: optional memory queue (see `MemoryQueue`).
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
  teacher: Teacher | None = None
  queue: MemoryQueue | None = None


def require_section(config: Any, name: str) -> Any:
  """`config.<name>`, the objective's own config section; a ValueError (one line,
  naming the section and the config that shows it) when it is missing."""
  section = config.get(name, None) if hasattr(config, "get") else None
  if section is None:
    raise ValueError(f"config.objective={config.get('objective')!r} needs a config.{name} "
                     f"section (see configs/{name}_synthetic.py).")
  return section
