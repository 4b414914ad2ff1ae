"""The memory queue of `jvrl.objectives.base.MemoryQueue`: its state, update and sharding.

State (in `TrainState.model_state['queue']`):
  'pointer'  int32 []           the next row to write (MoCo's queue_ptr);
  'filled'   int32 []           rows written so far, at most `size`;
  <name>     [size, *row shape] one array per row kind (keys, video ids, ...).
Each step writes the global batch's rows at `pointer` (the oldest rows) and
advances it by the batch size modulo `size`, exactly MoCo's
`_dequeue_and_enqueue` over the gathered (global) batch. Rows are split over
the mesh's batch axes (like a batch), the two counters replicated.
"""
from typing import Any, Mapping

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jvrl.data import device_batches
from jvrl.objectives import base

POINTER = "pointer"
FILLED = "filled"
COUNTERS = (POINTER, FILLED)


def init_queue(queue: base.MemoryQueue, rng: jax.Array) -> dict[str, jax.Array]:
  """A fresh queue: float rows random unit vectors (MoCo), integer rows -1."""
  if queue.size < 1:
    raise ValueError(f"The memory queue's size must be >= 1, got {queue.size}.")
  clash = sorted(set(queue.rows) & set(COUNTERS))
  if clash:
    raise ValueError(f"Memory-queue rows cannot be named {clash}.")
  state = {POINTER: jnp.zeros((), jnp.int32), FILLED: jnp.zeros((), jnp.int32)}
  for index, (name, row) in enumerate(sorted(queue.rows.items())):
    shape = (queue.size,) + tuple(row.shape)
    if jnp.issubdtype(row.dtype, jnp.floating):
      values = jax.random.normal(jax.random.fold_in(rng, index), shape, jnp.float32)
      if values.ndim > 1:
        values = values / jnp.linalg.norm(values, axis=-1, keepdims=True)
      state[name] = values.astype(row.dtype)
    else:
      state[name] = jnp.full(shape, -1, row.dtype)
  return state


def enqueue(state: Mapping[str, jax.Array], rows: Mapping[str, jax.Array]) -> dict:
  """Writes the batch's `rows` over the oldest ones; returns the new queue state.

  Every row kind of the queue must be given, each [B, *row shape] with the
  same B, and B must divide the queue size (checked when traced).
  """
  names = sorted(k for k in state if k not in COUNTERS)
  if sorted(rows) != names:
    raise ValueError(f"The memory queue holds rows {names}; got {sorted(rows)} to enqueue.")
  size = state[names[0]].shape[0]
  batch = {rows[name].shape[0] for name in names}
  if len(batch) != 1 or size % next(iter(batch)):
    raise ValueError(f"Every row kind must come with one batch size dividing the queue size "
                     f"{size}; got {sorted(batch)}.")
  batch_size = batch.pop()
  pointer = state[POINTER]
  new_state = {POINTER: (pointer + batch_size) % size,
               FILLED: jnp.minimum(state[FILLED] + batch_size, size).astype(jnp.int32)}
  for name in names:
    new_rows = jax.lax.stop_gradient(rows[name]).astype(state[name].dtype)
    start = (pointer,) + (0,) * (new_rows.ndim - 1)
    new_state[name] = jax.lax.dynamic_update_slice(state[name], new_rows, start)
  return new_state


def queue_shardings(queue_state: Mapping[str, Any], mesh: Mesh) -> dict:
  """Rows split over the batch axes (their first dimension), counters replicated."""
  axes = device_batches.batch_axes(mesh)
  rows = NamedSharding(mesh, PartitionSpec(axes[0] if len(axes) == 1 else axes))
  replicated = NamedSharding(mesh, PartitionSpec())
  return {name: replicated if name in COUNTERS else rows for name in queue_state}


def check_queue_size(queue: base.MemoryQueue, global_batch_size: int, mesh: Mesh) -> None:
  """The queue size must be a multiple of the global batch (MoCo asserts the same) and
  of the devices its rows are split over.

  Raises:
    ValueError: naming both numbers.
  """
  shards = device_batches.num_batch_shards(mesh)
  if queue.size % global_batch_size or queue.size % shards:
    raise ValueError(f"The memory queue's size {queue.size} must be a multiple of the global "
                     f"batch size {global_batch_size} and of the {shards} devices the batch "
                     "is split over.")
