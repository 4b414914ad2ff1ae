"""Device mesh and parameter shardings, with sharding rules given as data.

`config.mesh` names the mesh axes and their sizes (-1 = whatever is left);
`config.sharding_rules` is a sequence of (regex, tactic) pairs matched against
'/'-joined parameter paths (e.g. 'encoder/stage4_block1/conv_b/kernel'); the
first matching rule decides. Tactics:
  'replicate'  every device holds the whole array (data parallelism);
  'fsdp'       the array's largest dimension divisible by the `data` axis size
               is split over it (ZeRO-3 / FSDP style), else replicated.
Optimiser state follows its parameter's sharding (same tree structure).
"""
import math
import re
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

TACTICS = ("replicate", "fsdp")


def make_mesh(mesh_config: Mapping[str, int], devices: Sequence[jax.Device] | None = None) -> Mesh:
  """Builds a mesh from {'axis_name': size, ...}; one size may be -1.

  The first axis must be 'data' (the axis the batch is split over).
  """
  devices = list(jax.devices() if devices is None else devices)
  names = tuple(mesh_config.keys())
  if not names or names[0] != "data":
    raise ValueError(f"config.mesh must start with the 'data' axis, got axes {names}.")
  sizes = [int(s) for s in mesh_config.values()]
  if sizes.count(-1) > 1:
    raise ValueError(f"At most one config.mesh axis may be -1, got {dict(mesh_config)}.")
  known = math.prod(s for s in sizes if s != -1)
  if any(s == 0 or s < -1 for s in sizes) or len(devices) % known:
    raise ValueError(
        f"config.mesh={dict(mesh_config)} does not fit {len(devices)} devices.")
  sizes = [len(devices) // known if s == -1 else s for s in sizes]
  if math.prod(sizes) != len(devices):
    raise ValueError(
        f"config.mesh={dict(mesh_config)} uses {math.prod(sizes)} devices but "
        f"{len(devices)} are available; use -1 for one axis.")
  return Mesh(np.asarray(devices).reshape(sizes), names)


def _path_name(path) -> str:
  parts = []
  for key in path:
    for attr in ("key", "name", "idx"):
      if hasattr(key, attr):
        parts.append(str(getattr(key, attr)))
        break
    else:
      parts.append(str(key))
  return "/".join(parts)


def _tactic_spec(tactic: str, shape: tuple[int, ...], mesh: Mesh) -> PartitionSpec:
  if tactic == "replicate":
    return PartitionSpec()
  if tactic == "fsdp":
    data_size = mesh.shape["data"]
    candidates = [d for d in np.argsort(shape)[::-1] if shape[d] % data_size == 0]
    if data_size == 1 or not candidates:
      return PartitionSpec()
    spec = [None] * len(shape)
    spec[int(candidates[0])] = "data"
    return PartitionSpec(*spec)
  raise ValueError(f"Unknown sharding tactic {tactic!r}; known: {TACTICS}.")


def infer_shardings(tree: Any, rules: Sequence[tuple[str, str]], mesh: Mesh) -> Any:
  """Returns a tree of NamedShardings for `tree` (arrays or ShapeDtypeStructs).

  Args:
    tree: a pytree of arrays / jax.ShapeDtypeStruct (params, optimiser state).
    rules: (regex, tactic) pairs, first match on the leaf's '/'-joined path
      wins (`re.search`); a leaf no rule matches is an error.
    mesh: the device mesh.
  """
  compiled = [(re.compile(pattern), tactic) for pattern, tactic in rules]
  for _, tactic in compiled:
    if tactic not in TACTICS:
      raise ValueError(f"Unknown sharding tactic {tactic!r}; known: {TACTICS}.")

  def leaf_sharding(path, leaf):
    name = _path_name(path)
    shape = tuple(getattr(leaf, "shape", ()))
    for pattern, tactic in compiled:
      if pattern.search(name):
        return NamedSharding(mesh, _tactic_spec(tactic, shape, mesh))
    raise ValueError(f"No sharding rule matches parameter {name!r}; add a catch-all ('.*', 'replicate').")

  return jax.tree_util.tree_map_with_path(leaf_sharding, tree)


def replicated(mesh: Mesh) -> NamedSharding:
  """A fully replicated sharding on `mesh`."""
  return NamedSharding(mesh, PartitionSpec())
