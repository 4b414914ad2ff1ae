"""Host batches -> global `jax.Array`s sharded over the mesh's batch axes.

Each process holds its own slice of the global batch (its shard of the files);
`jax.make_array_from_process_local_data` stitches the slices of every process
into one global array whose leading axis is split over the mesh's batch axes
('data' and, when the mesh has one, 'fsdp'; never 'model', whose devices share
a batch slice). `prefetch_to_mesh` keeps a few batches in flight so the
host->device copy of the next batch overlaps the current step.
"""
import collections
import math
from typing import Any, Iterable, Iterator, Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

# Mesh axes a batch's leading dimension is split over, in this order.
BATCH_AXES = ("data", "fsdp")


def batch_axes(mesh: Mesh) -> tuple[str, ...]:
  """The axes of `mesh` a batch's leading dimension is split over."""
  return tuple(axis for axis in BATCH_AXES if axis in mesh.shape)


def num_batch_shards(mesh: Mesh) -> int:
  """How many slices a global batch is split into (devices along the batch axes)."""
  return math.prod(mesh.shape[axis] for axis in batch_axes(mesh))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Sharding of a batch: leading axis split over the batch axes, rest replicated."""
  axes = batch_axes(mesh)
  return NamedSharding(mesh, PartitionSpec(axes[0] if len(axes) == 1 else axes))


def make_global_batch(local_batch: Mapping[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """Assembles this process's part of a batch into global sharded arrays.

  Args:
    local_batch: dict of numpy arrays whose leading axis is this process's
      share of the global batch (global batch / process count).
    mesh: the device mesh.

  Returns:
    dict of global `jax.Array`s with leading dimension = global batch size.
  """
  sharding = batch_sharding(mesh)
  local_shards = math.prod(mesh.local_mesh.shape[axis] for axis in batch_axes(mesh))
  out = {}
  for name, value in local_batch.items():
    value = np.asarray(value)
    if value.shape[0] % local_shards:
      raise ValueError(
          f"Batch field {name!r} has {value.shape[0]} rows on this process, not "
          f"divisible by its {local_shards} devices on mesh axes {batch_axes(mesh)}.")
    out[name] = jax.make_array_from_process_local_data(sharding, value)
  return out


def prefetch_with_host_data(
    batches: Iterable[tuple[Mapping[str, np.ndarray], Any]], mesh: Mesh, size: int = 2,
) -> Iterator[tuple[dict[str, jax.Array], Any]]:
  """Like `prefetch_to_mesh` for (host batch, host data) pairs.

  The host data (anything: e.g. the examples' positions in the input stream)
  stays on the host and comes back paired with its global batch.
  """
  queue = collections.deque()
  iterator = iter(batches)

  def enqueue(n: int) -> None:
    for _ in range(n):
      try:
        batch, host_data = next(iterator)
      except StopIteration:
        return
      queue.append((make_global_batch(batch, mesh), host_data))

  enqueue(size)
  while queue:
    yield queue.popleft()
    enqueue(1)


def prefetch_to_mesh(
    batches: Iterable[Mapping[str, np.ndarray]], mesh: Mesh, size: int = 2,
) -> Iterator[dict[str, jax.Array]]:
  """Yields global batches, keeping `size` of them already copied to devices."""
  for batch, _ in prefetch_with_host_data(((b, None) for b in batches), mesh, size):
    yield batch
