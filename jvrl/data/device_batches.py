"""Host batches -> global `jax.Array`s sharded over the mesh's data axis.

Each process holds its own slice of the global batch (its shard of the files);
`jax.make_array_from_process_local_data` stitches the slices of every process
into one global array whose leading axis is split over the `data` mesh axis.
`prefetch_to_mesh` keeps a few batches in flight so the host->device copy of
the next batch overlaps the current step.
"""
import collections
from typing import Iterable, Iterator, Mapping

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def batch_sharding(mesh: Mesh, data_axis: str = "data") -> NamedSharding:
  """Sharding of a batch: leading axis split over `data_axis`, rest replicated."""
  return NamedSharding(mesh, PartitionSpec(data_axis))


def make_global_batch(
    local_batch: Mapping[str, np.ndarray], mesh: Mesh, data_axis: str = "data"
) -> dict[str, jax.Array]:
  """Assembles this process's part of a batch into global sharded arrays.

  Args:
    local_batch: dict of numpy arrays whose leading axis is this process's
      share of the global batch (global batch / process count).
    mesh: the device mesh.
    data_axis: mesh axis the batch is split over.

  Returns:
    dict of global `jax.Array`s with leading dimension = global batch size.
  """
  sharding = batch_sharding(mesh, data_axis)
  local_devices = mesh.local_mesh.shape[data_axis]
  out = {}
  for name, value in local_batch.items():
    value = np.asarray(value)
    if value.shape[0] % local_devices:
      raise ValueError(
          f"Batch field {name!r} has {value.shape[0]} rows on this process, not "
          f"divisible by its {local_devices} devices on mesh axis {data_axis!r}.")
    out[name] = jax.make_array_from_process_local_data(sharding, value)
  return out


def prefetch_to_mesh(
    batches: Iterable[Mapping[str, np.ndarray]], mesh: Mesh, size: int = 2,
    data_axis: str = "data",
) -> Iterator[dict[str, jax.Array]]:
  """Yields global batches, keeping `size` of them already copied to devices."""
  queue = collections.deque()
  iterator = iter(batches)

  def enqueue(n: int) -> None:
    for _ in range(n):
      try:
        queue.append(make_global_batch(next(iterator), mesh, data_axis))
      except StopIteration:
        return

  enqueue(size)
  while queue:
    yield queue.popleft()
    enqueue(1)
