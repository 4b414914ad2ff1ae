"""The generic training loop shared by every objective.

`make_train_step` is the whole update and reads top to bottom: derive this
step's RNG, run the objective's model and loss, differentiate, apply the
optimiser. `train` wires the input pipeline, mesh, optimiser, checkpoints and
logging around it: it resumes automatically from the newest checkpoint in
`workdir`, including the input pipeline's position.
"""
import os
import time
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from jvrl.data import device_batches
from jvrl.data import pipeline
from jvrl.objectives import base
from jvrl.objectives import build_objective
from jvrl.train import checkpointing
from jvrl.train import optimizers
from jvrl.train import sharding
from jvrl.train.metrics_writer import MetricsWriter, log_info
from jvrl.train.train_state import TrainState

CHECKPOINT_SUBDIR = "checkpoints"
EXPORT_SUBDIR = os.path.join("export", "encoder")


def make_train_step(objective: base.Objective, optimizer: optax.GradientTransformation,
                    base_rng: jax.Array,
                    learning_rate_fn: Callable[[jax.Array], jax.Array] | None = None):
  """Returns `train_step(state, batch) -> (state, metrics)` (not yet jitted)."""

  def train_step(state: TrainState, batch: Mapping[str, jax.Array]):
    step_rng = jax.random.fold_in(base_rng, state.step)
    rngs = {name: jax.random.fold_in(step_rng, i) for i, name in enumerate(objective.rng_names)}
    mutable = list(state.model_state.keys())

    def loss_fn(params):
      outputs, new_model_state = objective.model.apply(
          {"params": params, **state.model_state}, batch, train=True,
          rngs=rngs, mutable=mutable)
      loss, metrics = objective.loss_fn(outputs, batch)
      return loss, (metrics, new_model_state)

    (loss, (metrics, new_model_state)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, new_opt_state = optimizer.update(grads, state.opt_state, state.params)
    new_state = TrainState(
        step=state.step + 1,
        params=optax.apply_updates(state.params, updates),
        model_state=dict(new_model_state),
        opt_state=new_opt_state)
    metrics = dict(metrics, loss=loss, grad_norm=optax.global_norm(grads))
    if learning_rate_fn is not None:
      metrics["learning_rate"] = learning_rate_fn(state.step)
    return new_state, metrics

  return train_step


def init_train_state(objective: base.Objective, optimizer: optax.GradientTransformation,
                     example_batch: Mapping[str, Any], rng: jax.Array) -> TrainState:
  """Initialises parameters, model state and optimiser state (not jitted).

  `example_batch` only provides shapes and dtypes (a batch of one is enough).
  """
  rngs = {"params": rng, **{name: rng for name in objective.rng_names}}
  variables = dict(objective.model.init(rngs, example_batch, train=False))
  params = variables.pop("params")
  return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                    model_state=variables, opt_state=optimizer.init(params))


def example_batch_from_spec(element_spec: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """A batch of one, all zeros, with the batch spec's shapes/dtypes (for init).

  `element_spec`: dict of tf.TensorSpec (a tf.data element_spec) or of
  anything with `.shape` and a numpy-compatible `.dtype` (ShapeDtypeStruct).
  """
  def zeros(spec):
    dtype = getattr(spec.dtype, "as_numpy_dtype", spec.dtype)
    return np.zeros((1,) + tuple(spec.shape[1:]), dtype)
  return {name: zeros(spec) for name, spec in element_spec.items()}


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

  def abstract_state(self, element_spec) -> tuple[TrainState, Any]:
    """(abstract TrainState with shardings, the state's sharding tree)."""
    example = example_batch_from_spec(element_spec)
    shapes = jax.eval_shape(
        lambda rng: init_train_state(self.objective, self.optimizer, example, rng),
        jax.random.key(0))
    shardings = sharding.infer_shardings(shapes, self.config.sharding_rules, self.mesh)
    abstract = jax.tree.map(
        lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes, shardings)
    return abstract, shardings

  def fresh_state(self, element_spec, shardings) -> TrainState:
    example = example_batch_from_spec(element_spec)
    init = jax.jit(lambda rng: init_train_state(self.objective, self.optimizer, example, rng),
                   out_shardings=shardings)
    # Non-partitionable threefry: XLA:CPU compiles each partitionable random
    # initialiser in ~4 s (R3D-18 init: 69 s vs 6 s). Init runs once, so the
    # partitioning it would allow does not matter.
    with jax.threefry_partitionable(False):
      return init(jax.random.key(self.config.seed))


def validate_batch_size(batch_size: int, mesh, field: str) -> None:
  """Batch must split evenly over processes and over the mesh's data axis."""
  data_devices = mesh.shape["data"]
  if batch_size <= 0 or batch_size % data_devices or batch_size % jax.process_count():
    raise ValueError(
        f"{field}={batch_size} must be a positive multiple of the {data_devices} devices "
        f"on the 'data' mesh axis and of the {jax.process_count()} processes.")


def encoder_variables(state: TrainState, name: str = "encoder") -> dict:
  """The encoder's own variables ({'params', 'batch_stats', ...}) from a state.

  `name` is the objective's `encoder_name` (the encoder submodule's name).
  """
  variables = {"params": state.params[name]}
  for collection, tree in state.model_state.items():
    if name in tree:
      variables[collection] = tree[name]
  return variables


def _format_eta(seconds: float) -> str:
  seconds = int(max(seconds, 0))
  return f"{seconds // 3600:d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def train(config: ml_collections.ConfigDict, workdir: str) -> tuple[TrainState, dict]:
  """Trains `config.objective` for `config.train.num_steps`, resuming if possible.

  Writes checkpoints under WORKDIR/checkpoints, TensorBoard events under
  WORKDIR/tensorboard/train and, at the end, the encoder alone under
  WORKDIR/export/encoder. Returns the final state and the encoder's variables
  (on the host).
  """
  setup = Setup(config)
  mesh, objective = setup.mesh, setup.objective
  checkpointer = checkpointing.Checkpointer(
      os.path.join(workdir, CHECKPOINT_SUBDIR), max_to_keep=config.train.keep_checkpoints)
  latest = checkpointer.latest_step()
  # The pipeline starts at the first example the checkpoint has not seen yet
  # (the checkpoint's step is the number of batches consumed).
  start_step = latest or 0
  dataset = pipeline.make_train_dataset(
      config, objective.preprocess_train, setup.local_batch_size,
      process_index=jax.process_index(), process_count=jax.process_count(),
      start_example=start_step * setup.local_batch_size)
  abstract_state, state_shardings = setup.abstract_state(dataset.element_spec)
  if latest is not None:
    state, _ = checkpointer.restore(abstract_state, step=latest)
    log_info("Resumed from checkpoint at step %d in %s.", latest, workdir)
  else:
    state = setup.fresh_state(dataset.element_spec, state_shardings)
  if int(jax.device_get(state.step)) != start_step:
    raise ValueError(f"Checkpoint {latest} in {workdir} holds step "
                     f"{int(jax.device_get(state.step))}; the checkpoint is inconsistent.")
  param_count = sum(x.size for x in jax.tree.leaves(state.params))
  log_info("Objective %s, model %s: %s parameters; mesh %s; global batch %d.",
           objective.name, config.model_name, f"{param_count:,}", dict(mesh.shape),
           setup.global_batch_size)

  batches = device_batches.prefetch_to_mesh(dataset.as_numpy_iterator(), mesh)

  train_step = jax.jit(
      make_train_step(objective, setup.optimizer, jax.random.key(config.seed + 1),
                      setup.learning_rate_fn),
      in_shardings=(state_shardings, device_batches.batch_sharding(mesh)),
      out_shardings=(state_shardings, sharding.replicated(mesh)),
      donate_argnums=(0,))
  writer = MetricsWriter(os.path.join(workdir, "tensorboard", "train"))
  metadata = {"config": config.to_json(), "objective": objective.name,
              "model_name": config.model_name}

  clips_per_step = setup.global_batch_size * objective.clips_per_example
  log_every = max(1, config.train.log_every)
  step = start_step
  if step < setup.num_steps:
    batch = next(batches)
    compile_start = time.perf_counter()
    compiled_step = train_step.lower(state, batch).compile()
    log_info("Compiled the train step in %.1f s.", time.perf_counter() - compile_start)
    interval_start, interval_steps, run_start = time.perf_counter(), 0, time.perf_counter()
    while True:
      state, metrics = compiled_step(state, batch)
      step += 1
      interval_steps += 1
      if step % log_every == 0 or step == setup.num_steps:
        metrics = jax.device_get(metrics)  # the only host sync of the loop
        now = time.perf_counter()
        steps_per_sec = interval_steps / (now - interval_start)
        eta = (setup.num_steps - step) / max(steps_per_sec, 1e-9)
        log_info("step %d/%d  loss %.4f  %s  %.2f steps/s  %.1f clips/s  ETA %s",
                 step, setup.num_steps, float(metrics["loss"]),
                 "  ".join(f"{k} {float(v):.4g}" for k, v in sorted(metrics.items())
                           if k != "loss"),
                 steps_per_sec, steps_per_sec * clips_per_step, _format_eta(eta))
        writer.write_scalars(step, dict(metrics, steps_per_sec=steps_per_sec,
                                        clips_per_sec=steps_per_sec * clips_per_step))
        if not np.isfinite(float(metrics["loss"])):
          raise FloatingPointError(
              f"Non-finite loss {float(metrics['loss'])} at step {step}; the last good "
              f"checkpoint in {checkpointer.directory} is kept.")
        interval_start, interval_steps = time.perf_counter(), 0
      if step % config.train.checkpoint_every == 0 or step == setup.num_steps:
        checkpointer.save(step, state, metadata)
      if step >= setup.num_steps:
        break
      batch = next(batches)
    log_info("Trained %d steps in %.1f s.", step - start_step, time.perf_counter() - run_start)
  checkpointer.wait_until_finished()
  checkpointer.close()
  writer.close()
  encoder = jax.device_get(encoder_variables(state, objective.encoder_name))
  if jax.process_index() == 0:
    checkpointing.export_encoder(
        os.path.join(workdir, EXPORT_SUBDIR), model_name=config.model_name,
        model_kwargs=config.model.to_dict(), variables=encoder)
    log_info("Exported the encoder to %s.", os.path.join(workdir, EXPORT_SUBDIR))
  return state, encoder


def restore_encoder_variables(config: ml_collections.ConfigDict, workdir: str) -> tuple[dict, int]:
  """The encoder's variables from the newest checkpoint in `workdir`, and its step."""
  setup = Setup(config)
  checkpointer = checkpointing.Checkpointer(
      os.path.join(workdir, CHECKPOINT_SUBDIR), max_to_keep=config.train.keep_checkpoints)
  step = checkpointer.latest_step()
  if step is None:
    raise FileNotFoundError(
        f"No checkpoint in {os.path.join(workdir, CHECKPOINT_SUBDIR)}: run with "
        "--mode=train (or train_and_eval) first, or point --workdir at a trained run.")
  spec = pipeline.make_train_dataset(
      config, setup.objective.preprocess_train, setup.local_batch_size,
      process_index=jax.process_index(), process_count=jax.process_count()).element_spec
  abstract_state, _ = setup.abstract_state(spec)
  state, _ = checkpointer.restore(abstract_state, step=step)
  checkpointer.close()
  return encoder_variables(state, setup.objective.encoder_name), step
