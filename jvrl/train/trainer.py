"""The generic training loop shared by every objective.

`make_train_step` is the whole update and reads top to bottom: derive this
step's RNG, augment the global batch on the device (when the objective has a
batch augmentation), run the objective's teacher (when it has one), its model
and loss, differentiate, apply the optimiser, move the teacher, fill the memory
queue (when it has one), guard against non-finite numbers. `train` wires the input pipeline,
mesh, optimiser, checkpoints and logging around it:

* it resumes automatically from the newest checkpoint in `workdir`: the state
  (parameters, optimiser state, step, RNG key) and, from the checkpoint's
  metadata, every process's input-pipeline position, so a resumed run takes
  exactly the steps an uninterrupted one would;
* SIGTERM / SIGINT finish the current step, write a checkpoint and raise
  `Preempted` (`jvrl.main` then exits with status 0; rerunning resumes);
* a non-finite loss, gradient or update is caught inside the step. With
  `config.train.skip_nonfinite=False` (default) training stops at the next
  log or checkpoint step with an error naming the first bad step, and no
  checkpoint is written after it (the last good one stays the newest); with
  True that step's update is skipped (the batch is consumed, parameters and
  optimiser state stay) and counted in the logs;
* multi-host: every process runs this same function on its own share of the
  input; only process 0 writes logs and TensorBoard summaries; every process
  takes part in each checkpoint;
* an optional validation hook (`Validation`, e.g. fine-tuning's held-out
  videos): every `every` steps the model is scored on held-out data between
  two train steps (the one train step stays as it is); the state with the
  best validation top-1 is kept in WORKDIR/best_checkpoint, and with
  `config.optimizer.plateau_metric='validation_loss'` the validation loss
  drives reduce-on-plateau.
"""
import dataclasses
import os
import time
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import logging
from jax.experimental import multihost_utils

from jvrl.data import device_batches
from jvrl.data import pipeline
from jvrl.objectives import base
from jvrl.objectives import build_objective
from jvrl.train import checkpoint_config
from jvrl.train import checkpointing
from jvrl.train import ema_teacher
from jvrl.train import memory_queue
from jvrl.train import optimizers
from jvrl.train import preemption
from jvrl.train import sharding
from jvrl.train import workdir as workdir_lib
from jvrl.train.metrics_writer import MetricsWriter, log_info
from jvrl.train.train_state import TrainState

CHECKPOINT_SUBDIR = workdir_lib.CHECKPOINT_SUBDIR
# The state of the best validation top-1 (`Validation`), one checkpoint.
BEST_CHECKPOINT_SUBDIR = "best_checkpoint"
# The config of a run, written to its workdir when it starts training from scratch.
CONFIG_FILE = "config.json"
EXPORT_SUBDIR = os.path.join("export", "encoder")
# Where `config.train.export_teacher=True` writes the teacher's copy of the encoder.
TEACHER_EXPORT_SUBDIR = os.path.join("export", "teacher_encoder")
# Defaults of the guard / preemption / export fields a config may leave out.
TRAIN_DEFAULTS = {"skip_nonfinite": False, "preemption_sync_every": 10,
                  "export_teacher": False}
# fold_in data of the on-device batch augmentation's key (the model's RNG
# streams use 0, 1, ...: this one never collides with them).
AUGMENT_BATCH_RNG_STREAM = 2**31 - 1


class Preempted(preemption.StopRequested):
  """Training stopped early on SIGTERM/SIGINT after checkpointing `step`."""

  def __init__(self, step: int, checkpoint_dir: str, signal_name: str):
    cause = signal_name or "A stop signal to another process"
    super().__init__(f"{cause}: stopped after step {step} and wrote a checkpoint to "
                     f"{checkpoint_dir}; rerun the same command to resume.")
    self.step = step
    self.checkpoint_dir = checkpoint_dir


@dataclasses.dataclass(frozen=True)
class Validation:
  """The optional validation hook of `train`: score held-out data during training.

  Attributes:
    every: validate after every `every` steps and after the last one.
    evaluate: the whole model's variables ({'params', 'batch_stats', ...},
      `model_variables`) -> {'loss': float, 'top1': float} on the held-out data.
      The state with the highest 'top1' (the later one on ties, as PRP's
      ft_classfy.py `main`: `if top1_avg >= best_acc`) is saved to
      WORKDIR/best_checkpoint with {'step', 'top1', 'loss'} under 'validation'
      in its metadata; 'loss' feeds reduce-on-plateau when
      `config.optimizer.plateau_metric='validation_loss'`.
  """
  every: int
  evaluate: Callable[[Mapping[str, Any]], Mapping[str, float]]


def make_train_step(objective: base.Objective, optimizer: optax.GradientTransformation,
                    learning_rate_fn: Callable[[jax.Array], jax.Array] | None = None, *,
                    skip_nonfinite: bool = False):
  """Returns `train_step(state, batch) -> (state, metrics)` (not yet jitted).

  `skip_nonfinite`: when the loss, the gradient or the update is not finite,
  keep the old parameters, model and optimiser state (the step counter still
  advances: the batch is consumed). Either way such steps are counted in
  `state.nonfinite_steps`.
  """
  optimizer = optax.with_extra_args_support(optimizer)
  teacher, queue = objective.teacher, objective.queue

  def train_step(state: TrainState, batch: Mapping[str, jax.Array]):
    step_rng = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    rngs = {name: jax.random.fold_in(step_rng, i) for i, name in enumerate(objective.rng_names)}
    model_state = {c: v for c, v in state.model_state.items() if c != base.QUEUE_COLLECTION}
    mutable = list(model_state.keys())

    # On-device batch augmentation (FAME, STC-mix, config.device_augment): a function
    # of the GLOBAL batch and this step's key, under the batch's sharding.
    # The teacher, the model and the memory queue all see the augmented batch.
    if objective.augment_batch is not None:
      batch = objective.augment_batch(
          batch, jax.random.fold_in(step_rng, AUGMENT_BATCH_RNG_STREAM))

    # Teacher: the model with the EMA parameters, no gradient; its outputs go to the loss.
    extra_outputs, kept_teacher_state = {}, {}
    if teacher is not None:
      teacher_rngs = {name: jax.random.fold_in(step_rng, len(rngs) + i)
                      for i, name in enumerate(objective.rng_names)}
      teacher_outputs, teacher_updates = objective.model.apply(
          {"params": ema_teacher.teacher_model_params(state.params, state.teacher_params),
           **model_state}, batch, train=True, rngs=teacher_rngs, mutable=mutable,
          method=teacher.method)
      extra_outputs[base.TEACHER_OUTPUTS] = jax.lax.stop_gradient(teacher_outputs)
      kept_teacher_state = {c: teacher_updates[c] for c in teacher.state_collections}
    if queue is not None:  # the loss reads the queue as it was before this step
      extra_outputs[base.QUEUE_OUTPUTS] = state.model_state[base.QUEUE_COLLECTION]

    def loss_fn(params):
      outputs, new_model_state = objective.model.apply(
          {"params": params, **model_state}, batch, train=True,
          rngs=rngs, mutable=mutable)
      outputs = dict(outputs, **extra_outputs)
      loss, metrics = objective.loss_fn(outputs, batch)
      return loss, (metrics, new_model_state, outputs)

    (loss, (metrics, new_model_state, outputs)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, new_opt_state = optimizer.update(grads, state.opt_state, state.params, value=loss)
    new_params = optax.apply_updates(state.params, updates)
    new_model_state = {**new_model_state, **kept_teacher_state}
    new_teacher_params = state.teacher_params

    # Teacher: move the EMA copy towards the updated parameters.
    if teacher is not None:
      momentum = teacher.momentum(state.step)
      new_teacher_params = ema_teacher.ema_update(state.teacher_params, new_params, momentum)
      metrics = dict(metrics, teacher_momentum=momentum)
    # Memory queue: this global batch's rows replace the oldest ones.
    if queue is not None:
      new_model_state[base.QUEUE_COLLECTION] = memory_queue.enqueue(
          state.model_state[base.QUEUE_COLLECTION], queue.compute_rows(outputs, batch))

    updated = state.replace(params=new_params, model_state=new_model_state,
                            opt_state=new_opt_state, teacher_params=new_teacher_params)

    # Guard: count non-finite steps; optionally keep the old state for them.
    grad_norm = optax.global_norm(grads)
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & jnp.isfinite(
        optax.global_norm(updates))
    if skip_nonfinite:
      updated = jax.tree.map(lambda new, old: jnp.where(finite, new, old), updated, state)
    first_bad = jnp.where(~finite & (state.first_nonfinite_step == 0), state.step + 1,
                          state.first_nonfinite_step)
    new_state = updated.replace(
        step=state.step + 1,
        nonfinite_steps=state.nonfinite_steps + (~finite).astype(jnp.int32),
        first_nonfinite_step=first_bad.astype(jnp.int32))

    metrics = dict(metrics, loss=loss, grad_norm=grad_norm,
                   nonfinite_steps=new_state.nonfinite_steps,
                   first_nonfinite_step=new_state.first_nonfinite_step)
    if learning_rate_fn is not None:
      metrics["learning_rate"] = learning_rate_fn(state.step)
    return new_state, metrics

  return train_step


def init_train_state(objective: base.Objective, optimizer: optax.GradientTransformation,
                     example_batch: Mapping[str, Any], rng: jax.Array,
                     train_rng: jax.Array) -> TrainState:
  """Initialises parameters, model state and optimiser state (not jitted).

  `example_batch` only provides shapes and dtypes (a batch of one is enough);
  `rng` initialises the parameters, `train_rng` is the base key of the
  training steps' randomness (kept in the state).
  """
  rngs = {"params": rng, **{name: rng for name in objective.rng_names}}
  variables = dict(objective.model.init(rngs, example_batch, train=False))
  params = variables.pop("params")
  if objective.queue is not None:
    variables[base.QUEUE_COLLECTION] = memory_queue.init_queue(
        objective.queue, jax.random.fold_in(rng, 1))
  zero = jnp.zeros((), jnp.int32)
  return TrainState(step=zero, params=params, model_state=variables,
                    opt_state=optimizer.init(params), rng=jax.random.key_data(train_rng),
                    nonfinite_steps=zero, first_nonfinite_step=zero,
                    teacher_params=ema_teacher.initial_teacher_params(params, objective.teacher))


def example_batch_from_spec(element_spec: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """A batch of one, all zeros, with the batch spec's shapes/dtypes (for init).

  `element_spec`: dict of tf.TensorSpec (a tf.data element_spec) or of
  anything with `.shape` and a numpy-compatible `.dtype` (ShapeDtypeStruct).
  The pipeline's host-only fields (`pipeline.HOST_FIELDS`) are left out.
  """
  def zeros(spec):
    dtype = getattr(spec.dtype, "as_numpy_dtype", spec.dtype)
    return np.zeros((1,) + tuple(spec.shape[1:]), dtype)
  return {name: zeros(spec) for name, spec in element_spec.items()
          if name not in pipeline.HOST_FIELDS}


class Setup:
  """The pieces of a run that training and evaluation share, built once."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    self.mesh = sharding.make_mesh(config.mesh.to_dict())
    self.objective = build_objective(config)
    self.global_batch_size = config.train.batch_size
    validate_batch_size(self.global_batch_size, self.mesh, "config.train.batch_size")
    self.local_batch_size = self.global_batch_size // jax.process_count()
    self.num_steps = config.train.num_steps
    self.optimizer = optimizers.make_optimizer(
        config.optimizer, self.num_steps, self.global_batch_size)
    self.learning_rate_fn = optimizers.make_learning_rate_schedule(
        config.optimizer, self.num_steps, self.global_batch_size)

  def _init(self, example):
    return lambda rng, train_rng: init_train_state(
        self.objective, self.optimizer, example, rng, train_rng)

  def _rngs(self):
    return jax.random.key(self.config.seed), jax.random.key(self.config.seed + 1)

  def abstract_state(self, element_spec) -> tuple[TrainState, Any]:
    """(abstract TrainState with shardings, the state's sharding tree).

    `config.sharding_rules` decide the parameters', optimiser state's and
    model state's shardings; the teacher's parameters are sharded exactly
    like the parameters they copy, and a memory queue's rows over the batch
    axes (like a batch).
    """
    shapes = jax.eval_shape(self._init(example_batch_from_spec(element_spec)), *self._rngs())
    queue_shapes = shapes.model_state.get(base.QUEUE_COLLECTION)
    core = shapes.replace(teacher_params={}, model_state={
        c: v for c, v in shapes.model_state.items() if c != base.QUEUE_COLLECTION})
    shardings = sharding.infer_shardings(core, self.config.sharding_rules, self.mesh)
    model_state_shardings = dict(shardings.model_state)
    if queue_shapes is not None:
      memory_queue.check_queue_size(self.objective.queue, self.global_batch_size, self.mesh)
      model_state_shardings[base.QUEUE_COLLECTION] = memory_queue.queue_shardings(
          queue_shapes, self.mesh)
    shardings = shardings.replace(
        teacher_params={name: shardings.params[name] for name in shapes.teacher_params},
        model_state=model_state_shardings)
    abstract = jax.tree.map(
        lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes, shardings)
    return abstract, shardings

  def fresh_state(self, element_spec, shardings) -> TrainState:
    init = jax.jit(self._init(example_batch_from_spec(element_spec)), out_shardings=shardings)
    # Non-partitionable threefry: XLA:CPU compiles each partitionable random
    # initialiser in ~4 s (R3D-18 init: 69 s vs 6 s). Init runs once, so the
    # partitioning it would allow does not matter.
    with jax.threefry_partitionable(False):
      return init(*self._rngs())


def validate_batch_size(batch_size: int, mesh, field: str) -> None:
  """Batch must split evenly over processes and over the mesh's batch axes."""
  shards = device_batches.num_batch_shards(mesh)
  processes = jax.process_count()
  if batch_size <= 0 or batch_size % shards or batch_size % processes:
    raise ValueError(
        f"{field}={batch_size} must be a positive multiple of the {shards} devices the "
        f"batch is split over (mesh axes {device_batches.batch_axes(mesh)}) and of the "
        f"{processes} processes.")


def encoder_variables(state: TrainState, name: str = "encoder") -> dict:
  """The encoder's own variables ({'params', 'batch_stats', ...}) from a state.

  `name` is the objective's `encoder_name` (the encoder submodule's name), or
  any other top-level submodule's.
  """
  variables = {"params": state.params[name]}
  for collection, tree in state.model_state.items():
    if collection != base.QUEUE_COLLECTION and name in tree:
      variables[collection] = tree[name]
  return variables


def with_encoder_variables(state: TrainState, variables: Mapping[str, Any], name: str,
                           shardings: TrainState | None = None) -> TrainState:
  """`state` with its encoder's variables replaced by `variables` (the inverse
  of `encoder_variables`); the optimiser state is left as initialised.

  Raises a ValueError when `variables` does not have exactly the encoder's
  collections, parameter names and shapes (e.g. another model or width).
  """
  return with_submodule_variables(state, {name: variables}, shardings)


def with_submodule_variables(state: TrainState, submodules: Mapping[str, Mapping[str, Any]],
                             shardings: TrainState | None = None,
                             teacher: base.Teacher | None = None) -> TrainState:
  """`state` with the variables of top-level submodules replaced: {name: {'params',
  'batch_stats', ...}} (e.g. {'encoder': ...}, or every stream of a CoCLR model).
  The optimiser state is left as initialised; with `teacher`, the teacher's
  parameters are copied anew from the result (a teacher starts as its student).

  Raises a ValueError when a submodule's variables do not have exactly the
  model's collections, parameter names and shapes (e.g. another model or width).
  """
  params, model_state = dict(state.params), {c: dict(t) for c, t in state.model_state.items()}
  for name, variables in submodules.items():
    current = encoder_variables(state, name)
    if set(variables) != set(current):
      raise ValueError(f"The encoder variables have collections {sorted(variables)}; the "
                       f"model's {name} has {sorted(current)}.")
    for collection, tree in current.items():
      given = jax.tree_util.tree_flatten_with_path(variables[collection])[0]
      expected = jax.tree_util.tree_flatten_with_path(tree)[0]
      given_shapes = {jax.tree_util.keystr(p): np.shape(x) for p, x in given}
      expected_shapes = {jax.tree_util.keystr(p): np.shape(x) for p, x in expected}
      if given_shapes != expected_shapes:
        diff = sorted(set(given_shapes.items()) ^ set(expected_shapes.items()))[:3]
        raise ValueError(f"The encoder variables' {collection!r} do not fit the model's "
                         f"{name} (another model or width?); first differences: {diff}.")
    params[name] = variables["params"]
    for collection in variables:
      if collection != "params":
        model_state[collection][name] = variables[collection]
  new_state = state.replace(params=params, model_state=model_state)
  if teacher is not None:
    new_state = new_state.replace(
        teacher_params=ema_teacher.initial_teacher_params(params, teacher))
  if shardings is not None:
    new_state = jax.device_put(new_state, shardings)
  return new_state


def _format_eta(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _train_setting(config: ml_collections.ConfigDict, name: str) -> Any:
  return config.train.get(name, TRAIN_DEFAULTS[name])


def _all_processes(value: int) -> list[int]:
  """`value` of every process, in process order (a collective when multi-host)."""
  if jax.process_count() == 1:
    return [int(value)]
  return [int(v) for v in multihost_utils.process_allgather(np.asarray(value, np.int64))]


class InputPosition:
  """This process's place in its training input stream, and what it skipped.

  Saved in each checkpoint's metadata (for every process) and read back on
  resume: `next_example` is where the resumed pipeline starts.
  """

  def __init__(self, next_example: int = 0, corrupt_records: int = 0,
               failed_examples: int = 0):
    self.next_example = next_example
    self.corrupt_records = corrupt_records
    self.failed_examples = failed_examples

  def advance(self, info: pipeline.BatchInfo, step: int) -> None:
    """Moves past one consumed batch; warns about what the pipeline skipped."""
    self.next_example = info.next_example
    if info.corrupt_records or info.failed_examples:
      self.corrupt_records += info.corrupt_records
      self.failed_examples += info.failed_examples
      logging.warning(
          "Process %d, step %d: skipped %d corrupt record(s)%s and %d example(s) whose "
          "preprocessing failed; %d and %d so far (config.data.on_corrupt_record='skip').",
          jax.process_index(), step, info.corrupt_records,
          f" in {', '.join(info.corrupt_files)}" if info.corrupt_files else "",
          info.failed_examples, self.corrupt_records, self.failed_examples)

  def to_metadata(self, local_batch_size: int) -> dict:
    """Every process's position (a collective when multi-host: call on all)."""
    return {"process_count": jax.process_count(), "local_batch_size": local_batch_size,
            "next_example": _all_processes(self.next_example),
            "corrupt_records": _all_processes(self.corrupt_records),
            "failed_examples": _all_processes(self.failed_examples)}

  @classmethod
  def from_metadata(cls, metadata: Mapping[str, Any] | None, step: int,
                    local_batch_size: int) -> "InputPosition":
    """This process's position from a checkpoint's metadata (None: a fresh run)."""
    if step == 0:
      return cls()
    saved = (metadata or {}).get("input")
    process, count = jax.process_index(), jax.process_count()
    if (saved and saved["process_count"] == count
        and saved["local_batch_size"] == local_batch_size):
      return cls(saved["next_example"][process], saved["corrupt_records"][process],
                 saved["failed_examples"][process])
    logging.warning(
        "The checkpoint's input position is for another process count or batch size "
        "(or missing); restarting the input at example %d (exact only if no example "
        "was skipped).", step * local_batch_size)
    return cls(step * local_batch_size)


def _raise_if_nonfinite(nonfinite_steps: int, first_step: int, checkpointer) -> None:
  if nonfinite_steps:
    raise FloatingPointError(
        f"Non-finite loss, gradient or update at step {first_step} ({nonfinite_steps} such "
        f"step(s) so far); training stopped and the last good checkpoint in "
        f"{checkpointer.directory} (step {checkpointer.latest_step()}) is kept. Lower the "
        "learning rate, or set config.train.skip_nonfinite=True to skip such batches.")


def _log_progress(step: int, num_steps: int, metrics: dict, steps_per_sec: float,
                  clips_per_sec: float, position: InputPosition, writer: MetricsWriter) -> None:
  """The progress line (process 0) and TensorBoard scalars of a log step."""
  metrics = dict(metrics)
  nonfinite = int(metrics.pop("nonfinite_steps"))
  first_bad = int(metrics.pop("first_nonfinite_step"))
  eta = (num_steps - step) / max(steps_per_sec, 1e-9)
  log_info("step %d/%d  loss %.4f  %s  %.2f steps/s  %.1f clips/s  ETA %s%s",
           step, num_steps, float(metrics["loss"]),
           "  ".join(f"{k} {float(v):.4g}" for k, v in sorted(metrics.items()) if k != "loss"),
           steps_per_sec, clips_per_sec, _format_eta(eta),
           f"  skipped {nonfinite} non-finite step(s), first at step {first_bad}"
           if nonfinite else "")
  skipped = sum(_all_processes(position.corrupt_records + position.failed_examples))
  writer.write_scalars(step, dict(metrics, steps_per_sec=steps_per_sec,
                                  clips_per_sec=clips_per_sec, nonfinite_steps=nonfinite,
                                  skipped_examples=skipped))


def train(config: ml_collections.ConfigDict, workdir: str,
          initial_encoder: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
          *, initial_encoder_source: str = "the given encoder variables",
          validation: Validation | None = None,
          initial_submodules: Callable[[], Mapping[str, Mapping[str, Any]]] | None = None,
          ) -> tuple[TrainState, dict]:
  """Trains `config.objective` for `config.train.num_steps`, resuming if possible.

  Writes checkpoints under WORKDIR/checkpoints, TensorBoard events under
  WORKDIR/tensorboard/train and, at the end, the encoder alone under
  WORKDIR/export/encoder. Returns the final state and the encoder's variables
  (on the host).

  `config` must be valid (`jvrl.config_validation.validate_config`, which
  `jvrl.main` runs once at start-up; fine-tuning's derived config is checked
  there too).

  `initial_encoder`: encoder variables ({'params', 'batch_stats', ...}, e.g.
  from a pretraining run), or a function returning them (called only then),
  that replace the freshly initialised encoder's when training starts from
  scratch (fine-tuning, `config.init_from`); ignored when resuming, since the
  checkpoint already holds them. They must match the model's encoder exactly.
  `initial_encoder_source` says where they came from in the log line
  ("Initialised the encoder from ...").
  `initial_submodules`: like `initial_encoder` for several top-level
  submodules at once, a function returning {name: variables} (e.g. both
  streams of CoCLR's co-training from its first stage). A teacher starts as
  a copy of the student it follows, also after either replacement.

  With `config.train.export_teacher=True` the teacher's copy of the encoder
  is exported too, to WORKDIR/export/teacher_encoder.

  `validation`: the optional validation hook (`Validation`; fine-tuning's
  held-out split). Required by `config.optimizer.plateau_metric=
  'validation_loss'`. The returned state is the last one either way;
  `restore_best_state` reads the best.

  Raises:
    Preempted: SIGTERM/SIGINT arrived; a checkpoint of the last step was written.
    FloatingPointError: a non-finite step with `config.train.skip_nonfinite`
      off; no checkpoint was written after it.
    pipeline.CorruptRecordError: a corrupt record with
      `config.data.on_corrupt_record='fail'`.
  """
  setup = Setup(config)
  mesh, objective = setup.mesh, setup.objective
  if _train_setting(config, "export_teacher") and (
      objective.teacher is None or objective.encoder_name not in objective.teacher.submodules):
    raise ValueError(f"config.train.export_teacher=True, but objective {objective.name!r} has no "
                     f"teacher copy of its {objective.encoder_name!r}: set it to False.")
  observe_plateau = optimizers.make_plateau_observer(config.optimizer)
  if observe_plateau is not None and validation is None:
    raise ValueError("config.optimizer.plateau_metric='validation_loss' needs a validation "
                     "split (for fine-tuning: config.eval.finetune.validation_videos > 0).")
  if validation is not None and validation.every < 1:
    raise ValueError(f"Validation.every must be >= 1, got {validation.every}.")
  skip_nonfinite = _train_setting(config, "skip_nonfinite")
  checkpointer = checkpointing.Checkpointer(
      os.path.join(workdir, CHECKPOINT_SUBDIR), max_to_keep=config.train.keep_checkpoints)
  latest = checkpointer.latest_step()
  start_step = latest or 0
  metadata = checkpointer.restore_metadata(latest) if latest is not None else None
  if latest is not None:  # the checkpoint's config is the truth
    try:
      checkpoint_config.check_resume(config, metadata, checkpointer.directory, latest)
    except checkpoint_config.CheckpointMismatchError:
      checkpointer.close()
      raise
  else:
    write_config(config, workdir)
  position = InputPosition.from_metadata(metadata, start_step, setup.local_batch_size)
  dataset = pipeline.make_train_dataset(
      config, objective.preprocess_train, setup.local_batch_size,
      process_index=jax.process_index(), process_count=jax.process_count(),
      start_example=position.next_example, host_fields=True,
      expand_example=objective.expand_example)
  abstract_state, state_shardings = setup.abstract_state(dataset.element_spec)
  if latest is not None:
    try:
      state = restore_train_state(checkpointer, abstract_state, latest)
    except (ValueError, KeyError, TypeError) as error:
      checkpointer.close()
      raise checkpoint_config.CheckpointMismatchError(
          f"Checkpoint {latest} in {checkpointer.directory} does not fit this run's train "
          f"state (another model or config, or an older jvrl): "
          f"{str(error).splitlines()[0] if str(error) else type(error).__name__}. Use a new "
          "--workdir.") from error
    log_info("Resumed from checkpoint at step %d in %s (input example %d).", latest, workdir,
             position.next_example)
  else:
    state = setup.fresh_state(dataset.element_spec, state_shardings)
    if initial_encoder is not None:
      variables = initial_encoder() if callable(initial_encoder) else initial_encoder
      state = with_submodule_variables(state, {objective.encoder_name: variables},
                                       state_shardings, objective.teacher)
      log_info("Initialised the %s from %s.", objective.encoder_name, initial_encoder_source)
    if initial_submodules is not None:
      submodules = initial_submodules()
      state = with_submodule_variables(state, submodules, state_shardings, objective.teacher)
      log_info("Initialised %s from the given variables.", ", ".join(sorted(submodules)))
  if int(jax.device_get(state.step)) != start_step:
    raise ValueError(f"Checkpoint {latest} in {workdir} holds step "
                     f"{int(jax.device_get(state.step))}; the checkpoint is inconsistent.")
  param_count = sum(x.size for x in jax.tree.leaves(state.params))
  log_info("Objective %s, model %s: %s parameters (%s per device); mesh %s; global batch %d.",
           objective.name, config.model_name, f"{param_count:,}",
           _format_bytes(sharding.bytes_per_device(state.params)), dict(mesh.shape),
           setup.global_batch_size)

  batches = device_batches.prefetch_with_host_data(
      pipeline.host_batches(dataset, position.next_example), mesh)
  train_step = jax.jit(
      make_train_step(objective, setup.optimizer, setup.learning_rate_fn,
                      skip_nonfinite=skip_nonfinite),
      in_shardings=(state_shardings, device_batches.batch_sharding(mesh)),
      out_shardings=(state_shardings, sharding.replicated(mesh)),
      donate_argnums=(0,))
  writer = MetricsWriter(os.path.join(workdir, "tensorboard", "train"))
  metadata = {"config": config.to_json(), "objective": objective.name,
              "model_name": config.model_name}  # what checkpoint_config compares with

  validator = (_Validator(validation, observe_plateau, os.path.join(workdir,
                                                                   BEST_CHECKPOINT_SUBDIR),
                          writer, metadata) if validation is not None else None)

  clips_per_step = setup.global_batch_size * objective.clips_per_example
  log_every = max(1, config.train.log_every)
  step = start_step
  watcher = preemption.PreemptionWatcher(_train_setting(config, "preemption_sync_every"))
  try:
    with watcher:
      if step < setup.num_steps and jax.process_count() == 1:
        # A signal that arrived before this run (start-up, an earlier stage).
        preemption.check_stop(f"the start of the training run in {workdir} (before step "
                              f"{step + 1})")
      if step < setup.num_steps:
        batch, batch_info = next(batches)
        compile_start = time.perf_counter()
        compiled_step = train_step.lower(state, batch).compile()
        log_info("Compiled the train step in %.1f s.", time.perf_counter() - compile_start)
        if jax.process_count() > 1:
          # Start stepping together: a process still compiling when the others
          # reach the step's first collective would make them time out.
          ocp.multihost.sync_global_processes("jvrl_train_step_compiled")
        interval_start, interval_steps, run_start = (time.perf_counter(), 0,
                                                     time.perf_counter())
        while True:
          state, metrics = compiled_step(state, batch)
          step += 1
          interval_steps += 1
          position.advance(batch_info, step)
          if step % log_every == 0 or step == setup.num_steps:
            metrics = jax.device_get(metrics)  # the loop's only regular host sync
            if not skip_nonfinite:
              _raise_if_nonfinite(int(metrics["nonfinite_steps"]),
                                  int(metrics["first_nonfinite_step"]), checkpointer)
            steps_per_sec = interval_steps / (time.perf_counter() - interval_start)
            _log_progress(step, setup.num_steps, metrics, steps_per_sec,
                          steps_per_sec * clips_per_step, position, writer)
            interval_start, interval_steps = time.perf_counter(), 0
          if validator is not None and (step % validation.every == 0
                                        or step == setup.num_steps):
            state = validator.validate(step, state)  # between steps: one train step
          stop = watcher.should_stop(step)
          if step % config.train.checkpoint_every == 0 or step == setup.num_steps or stop:
            if not skip_nonfinite:  # never checkpoint a state past a non-finite step
              _raise_if_nonfinite(int(jax.device_get(state.nonfinite_steps)),
                                  int(jax.device_get(state.first_nonfinite_step)),
                                  checkpointer)
            checkpointer.save(step, state, dict(
                metadata, input=position.to_metadata(setup.local_batch_size)))
          if stop:
            raise Preempted(step, checkpointer.directory, watcher.signal_name)
          if step >= setup.num_steps:
            break
          batch, batch_info = next(batches)
        log_info("Trained %d steps in %.1f s.", step - start_step,
                 time.perf_counter() - run_start)
  finally:
    checkpointer.close()  # waits for pending (good) saves, also on errors
    if validator is not None:
      validator.close()
    writer.close()
  encoder = _to_host(encoder_variables(state, objective.encoder_name))
  checkpointing.export_encoder(  # every process: orbax coordinates the write
      os.path.join(workdir, EXPORT_SUBDIR), model_name=config.model_name,
      model_kwargs=config.model.to_dict(), variables=encoder)
  log_info("Exported the encoder to %s.", os.path.join(workdir, EXPORT_SUBDIR))
  if _train_setting(config, "export_teacher"):
    checkpointing.export_encoder(
        os.path.join(workdir, TEACHER_EXPORT_SUBDIR), model_name=config.model_name,
        model_kwargs=config.model.to_dict(), variables=_to_host(
            ema_teacher.teacher_encoder_variables(state.teacher_params, state.model_state,
                                                  objective.encoder_name)))
    log_info("Exported the teacher's encoder to %s.",
             os.path.join(workdir, TEACHER_EXPORT_SUBDIR))
  return state, encoder


class _Validator:
  """`train`'s validation hook at work: scores, logs, keeps the best state, feeds the
  plateau."""

  def __init__(self, validation: Validation, observe_plateau, best_dir: str,
               writer: MetricsWriter, metadata: Mapping[str, Any]):
    self._validation = validation
    self._observe = jax.jit(observe_plateau) if observe_plateau is not None else None
    self._writer = writer
    self._metadata = dict(metadata)
    self._best = checkpointing.Checkpointer(best_dir, max_to_keep=1)
    latest = self._best.latest_step()
    saved = self._best.restore_metadata(latest)["validation"] if latest is not None else None
    self._best_top1 = saved["top1"] if saved else -np.inf
    self._best_step = saved["step"] if saved else None

  def validate(self, step: int, state: TrainState) -> TrainState:
    """Scores `state` after `step`; returns it with the plateau advanced (if on)."""
    start = time.perf_counter()
    scores = self._validation.evaluate(model_variables(state))
    loss, top1 = float(scores["loss"]), float(scores["top1"])
    if self._observe is not None:
      state = state.replace(opt_state=self._observe(state.opt_state, loss))
    if top1 >= self._best_top1:
      self._best_top1, self._best_step = top1, step
      if step not in self._best.all_steps():  # a resumed run may redo a saved step
        self._best.save(step, state, dict(
            self._metadata, validation={"step": step, "top1": top1, "loss": loss}))
    scale = optimizers.plateau_scale(state.opt_state)
    log_info("validation after step %d: loss %.4f  top-1 %.4f  (best top-1 %.4f after step "
             "%d)%s  %.1f s", step, loss, top1, self._best_top1, self._best_step,
             f"  plateau scale {scale:.3g}" if scale is not None else "",
             time.perf_counter() - start)
    self._writer.write_scalars(step, {"validation_loss": loss, "validation_top1": top1})
    return state

  def close(self) -> None:
    self._best.close()


def restore_train_state(checkpointer: checkpointing.Checkpointer, abstract_state: TrainState,
                        step: int) -> TrainState:
  """Checkpoint `step` as a TrainState shaped like `abstract_state`.

  A checkpoint written before TrainState had `teacher_params` (an objective
  without a teacher) restores too, with `teacher_params={}`.
  """
  try:
    return checkpointer.restore(abstract_state, step=step)[0]
  except ValueError:
    if abstract_state.teacher_params:
      raise
    fields = {name: getattr(abstract_state, name) for name in (
        "step", "params", "model_state", "opt_state", "rng", "nonfinite_steps",
        "first_nonfinite_step")}
    try:
      restored, _ = checkpointer.restore(fields, step=step)
    except ValueError:
      pass
    else:
      return abstract_state.replace(**restored, teacher_params={})
    raise


def _to_host(tree: Any) -> Any:
  """Numpy copies of global arrays, also those split across processes."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  return multihost_utils.process_allgather(tree, tiled=True)


def _format_bytes(count: int) -> str:
  for unit in ("B", "KiB", "MiB", "GiB"):
    if count < 1024 or unit == "GiB":
      return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
    count /= 1024
  return f"{count:.1f} GiB"


def write_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes WORKDIR/config.json (process 0): done when a run starts training from
  scratch, never when it resumes or only evaluates (a checkpoint's config lives in its
  metadata and is compared by `checkpoint_config`)."""
  if jax.process_index() != 0:
    return
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, CONFIG_FILE)
  with open(path + ".tmp", "w") as f:
    f.write(config.to_json(indent=2))
  os.replace(path + ".tmp", path)


def check_checkpoint_fits(config: ml_collections.ConfigDict, workdir: str, mode: str) -> None:
  """The start-up comparison of `config` with the newest checkpoint in `workdir`, if any:
  `checkpoint_config.check_evaluation` for `mode='eval'`, else `check_resume`.
  Creates nothing.

  Raises:
    checkpoint_config.CheckpointMismatchError: one line naming the differing fields.
  """
  checkpoint_dir = os.path.join(workdir, CHECKPOINT_SUBDIR)
  steps = workdir_lib.checkpoint_steps(checkpoint_dir)
  if not steps:
    return
  with checkpointing.Checkpointer(checkpoint_dir) as checkpointer:
    metadata = checkpointer.restore_metadata(steps[-1])
  check = (checkpoint_config.check_evaluation if mode == "eval"
           else checkpoint_config.check_resume)
  check(config, metadata, checkpoint_dir, steps[-1])


def restore_best_state(config: ml_collections.ConfigDict, workdir: str
                       ) -> tuple[TrainState, dict]:
  """The state of the best validation top-1 in `workdir` (`Validation`) and its
  {'step', 'top1', 'loss'}.

  Raises:
    workdir_lib.WorkdirError: the run kept no best state (no validation hook).
  """
  state, _, metadata = _restore_newest(config, workdir, BEST_CHECKPOINT_SUBDIR)
  return state, dict(metadata["validation"])


def restore_latest_state(config: ml_collections.ConfigDict, workdir: str) -> tuple[TrainState, int]:
  """The newest checkpoint's train state in `workdir` (for `config`), and its step.

  Reads no training data. The checkpoint's config is the truth: a config of
  another objective or model is refused (`checkpoint_config.check_evaluation`),
  and the optimiser state is rebuilt from the checkpoint's own optimiser section.

  Raises:
    workdir_lib.WorkdirError: there is no checkpoint.
    checkpoint_config.CheckpointMismatchError: `config` is not the checkpoint's.
  """
  state, step, _ = _restore_newest(config, workdir, CHECKPOINT_SUBDIR)
  return state, step


def _restore_newest(config: ml_collections.ConfigDict, workdir: str,
                    subdir: str) -> tuple[TrainState, int, dict]:
  """(state, step, metadata) of the newest checkpoint in WORKDIR/`subdir`
  (`restore_latest_state`)."""
  checkpoint_dir = os.path.join(workdir, subdir)
  if not workdir_lib.checkpoint_steps(checkpoint_dir):
    raise workdir_lib.WorkdirError(
        f"No checkpoint in {checkpoint_dir}: run with --mode=train (or train_and_eval) first, "
        "or point --workdir at a trained run.")
  checkpointer = checkpointing.Checkpointer(checkpoint_dir,
                                            max_to_keep=config.train.keep_checkpoints)
  try:
    step = checkpointer.latest_step()
    metadata = checkpointer.restore_metadata(step)
    checkpoint_config.check_evaluation(config, metadata, checkpointer.directory, step)
    setup = Setup(checkpoint_config.with_checkpoint_optimizer(config, metadata))
    spec = pipeline.train_element_spec(setup.config, setup.objective.preprocess_train,
                                       setup.local_batch_size, setup.objective.expand_example)
    abstract_state, _ = setup.abstract_state(spec)
    try:
      state = restore_train_state(checkpointer, abstract_state, step)
    except (ValueError, KeyError, TypeError) as error:
      raise checkpoint_config.CheckpointMismatchError(
          f"Checkpoint {step} in {checkpointer.directory} does not fit this run's train state "
          f"(an older jvrl?): {str(error).splitlines()[0] if str(error) else error!r}.") from error
  finally:
    checkpointer.close()
  return state, step, metadata


def model_variables(state: TrainState) -> dict:
  """The whole model's variables ({'params', 'batch_stats', ...}) from a state."""
  return {"params": state.params, **state.model_state}


def restore_encoder_variables(config: ml_collections.ConfigDict, workdir: str) -> tuple[dict, int]:
  """The encoder's variables from the newest checkpoint in `workdir`, and its step."""
  state, step = restore_latest_state(config, workdir)
  return encoder_variables(state, build_objective(config).encoder_name), step
