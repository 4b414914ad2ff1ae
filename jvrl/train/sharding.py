"""Device mesh and parameter shardings, with sharding rules given as data.

`config.mesh` names the mesh axes and their sizes (-1 = whatever is left).
Axes, in this order (any may be left out except `data`):
  'data'   pure data parallelism: the batch is split over it, parameters are
           replicated across it unless a rule says 'fsdp' and there is no
           'fsdp' axis.
  'fsdp'   fully sharded data parallelism: the batch is split over it too, and
           parameters (with their optimiser state) matched by an 'fsdp' rule
           are split over it (ZeRO-3 / FSDP: each device keeps 1/N of them and
           XLA all-gathers a layer's weights when it is used).
  'model'  tensor parallelism: the batch is NOT split over it; parameters
           matched by a 'model' rule have their output dimension split over it.
E.g. `dict(data=-1)` (default, data parallel), `dict(data=-1, fsdp=8)` (FSDP
within groups of 8 devices, data parallel across groups), `dict(data=2,
fsdp=4, model=2)`.

`config.sharding_rules` is a sequence of (regex, tactic) pairs matched against
'/'-joined paths in the train state (e.g. 'params/encoder/stage4_block1/
conv_b/kernel', 'opt_state/0/mu/encoder/stage4_block1/conv_b/kernel'); the
first matching rule decides. Optimiser state leaves carry their parameter's
path, so a rule ending in 'kernel$' shards a kernel and its Adam moments alike.
Tactics:
  'replicate'   every device holds the whole array;
  'fsdp'        the array's largest dimension divisible by the FSDP axis size
                is split over the 'fsdp' axis (over 'data' when the mesh has no
                'fsdp' axis); replicated when no dimension divides;
  'model'       the last dimension (a kernel's output features) is split over
                the 'model' axis when it divides; else replicated;
  'fsdp+model'  both: the last dimension over 'model', then the largest other
                dimension divisible by the FSDP axis over it.
E.g. FSDP for every conv / dense kernel, the rest replicated:
  config.sharding_rules = ((r"kernel$", "fsdp"), (".*", "replicate"))
Every tactic is numerically the same computation as 'replicate' (up to
floating-point summation order); only memory and communication change.
"""
import math
import re
from typing import Any, Mapping, Sequence

import jax
import numpy as np
from jax.experimental import mesh_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

TACTICS = ("replicate", "fsdp", "model", "fsdp+model")
MESH_AXES = ("data", "fsdp", "model")  # batches split over data and fsdp: device_batches


def make_mesh(mesh_config: Mapping[str, int], devices: Sequence[jax.Device] | None = None) -> Mesh:
  """Builds a mesh from {'axis_name': size, ...}; one size may be -1.

  The first axis must be 'data'; the others are 'fsdp' and/or 'model', in that
  order (see the module docstring). Devices are laid out with
  `mesh_utils.create_device_mesh` (topology-aware on TPU; the device order on
  CPU/GPU), so that the last axes are the fastest-connected devices.
  """
  devices = list(jax.devices() if devices is None else devices)
  names = tuple(mesh_config.keys())
  if not names or names[0] != "data":
    raise ValueError(f"config.mesh must start with the 'data' axis, got axes {names}.")
  unknown = [n for n in names if n not in MESH_AXES]
  if unknown or list(names) != [a for a in MESH_AXES if a in names]:
    raise ValueError(f"config.mesh axes must be a subset of {MESH_AXES} in that order, got "
                     f"{names}.")
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
  try:
    device_array = mesh_utils.create_device_mesh(sizes, devices, allow_split_physical_axes=True)
  except (ValueError, NotImplementedError, AssertionError):
    device_array = np.asarray(devices).reshape(sizes)
  return Mesh(device_array, names)


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


def _fsdp_axis(mesh: Mesh) -> str:
  return "fsdp" if "fsdp" in mesh.shape else "data"


def _tactic_spec(tactic: str, shape: tuple[int, ...], mesh: Mesh) -> PartitionSpec:
  if tactic not in TACTICS:
    raise ValueError(f"Unknown sharding tactic {tactic!r}; known: {TACTICS}.")
  spec = [None] * len(shape)
  if "model" in tactic.split("+"):
    model_size = mesh.shape.get("model", 1)
    if shape and model_size > 1 and shape[-1] % model_size == 0:
      spec[-1] = "model"
  if "fsdp" in tactic.split("+"):
    axis = _fsdp_axis(mesh)
    size = mesh.shape[axis]
    candidates = [int(d) for d in np.argsort(shape, kind="stable")[::-1]
                  if spec[d] is None and shape[d] % size == 0]
    if size > 1 and candidates:
      spec[candidates[0]] = axis
  return PartitionSpec(*spec) if any(spec) else PartitionSpec()


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
    raise ValueError(f"No sharding rule matches parameter {name!r}; add a catch-all "
                     "('.*', 'replicate').")

  return jax.tree_util.tree_map_with_path(leaf_sharding, tree)


def replicated(mesh: Mesh) -> NamedSharding:
  """A fully replicated sharding on `mesh`."""
  return NamedSharding(mesh, PartitionSpec())


def bytes_per_device(tree: Any) -> int:
  """Bytes of `tree`'s arrays held by the most loaded device (shards, not copies)."""
  per_device: dict[Any, int] = {}
  for leaf in jax.tree.leaves(tree):
    for shard in leaf.addressable_shards:
      per_device[shard.device] = per_device.get(shard.device, 0) + shard.data.nbytes
  return max(per_device.values(), default=0)
