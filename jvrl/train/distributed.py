"""Multi-host start-up: `jax.distributed.initialize` from flags or the environment.

Every process of a multi-host run calls `initialize` once, before anything
touches a JAX device. Where the settings come from, first found wins:

  1. explicit arguments (`python -m jvrl.main --coordinator_address=HOST:PORT
     --num_processes=N --process_id=I`);
  2. the environment: JVRL_COORDINATOR_ADDRESS, JVRL_NUM_PROCESSES,
     JVRL_PROCESS_ID (all three, e.g. set by a launch script);
  3. `auto=True` (`--jax_distributed`): JAX's own cluster detection (Cloud
     TPU pods, SLURM, Open MPI, Kubernetes JobSet..., and JAX_COORDINATOR_ADDRESS
     / JAX_NUM_PROCESSES / JAX_PROCESS_ID).
With none of them the run is single-process and nothing is initialised.

On CPU the processes exchange collectives with gloo (JAX's default CPU
collectives here; set explicitly below so that an older default cannot turn
cross-process collectives off).
"""
import dataclasses
import os
from typing import Mapping

import jax
from absl import logging

ENV_COORDINATOR_ADDRESS = "JVRL_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JVRL_NUM_PROCESSES"
ENV_PROCESS_ID = "JVRL_PROCESS_ID"


@dataclasses.dataclass(frozen=True)
class DistributedArgs:
  """Explicit `jax.distributed.initialize` arguments (None: let JAX detect them)."""
  coordinator_address: str | None = None
  num_processes: int | None = None
  process_id: int | None = None


def resolve_args(coordinator_address: str | None = None, num_processes: int | None = None,
                 process_id: int | None = None, *, auto: bool = False,
                 environ: Mapping[str, str] | None = None) -> DistributedArgs | None:
  """Decides how to initialise (see the module docstring); touches no device.

  Returns:
    The arguments for `jax.distributed.initialize` (all None: JAX's cluster
    auto-detection), or None for a single-process run.

  Raises:
    ValueError: a partial set of flags or JVRL_* variables (one line naming
      what is missing), or a malformed number.
  """
  environ = os.environ if environ is None else environ
  flags_given = [coordinator_address, num_processes, process_id]
  if any(value not in (None, "") for value in flags_given):
    if any(value in (None, "") for value in flags_given):
      raise ValueError("Multi-host flags must be given together: --coordinator_address, "
                       "--num_processes and --process_id (got "
                       f"{coordinator_address!r}, {num_processes!r}, {process_id!r}).")
    return _checked(coordinator_address, num_processes, process_id, "--")
  env_names = (ENV_COORDINATOR_ADDRESS, ENV_NUM_PROCESSES, ENV_PROCESS_ID)
  env_values = [environ.get(name, "") for name in env_names]
  if any(env_values):
    missing = [name for name, value in zip(env_names, env_values) if not value]
    if missing:
      raise ValueError(f"Set all of {', '.join(env_names)} or none; missing: "
                       f"{', '.join(missing)}.")
    return _checked(*env_values, "$")
  return DistributedArgs() if auto else None


def _checked(address, num_processes, process_id, prefix: str) -> DistributedArgs:
  try:
    num_processes, process_id = int(num_processes), int(process_id)
  except ValueError:
    raise ValueError(f"num_processes and process_id must be integers, got "
                     f"{num_processes!r} and {process_id!r}.") from None
  if ":" not in str(address):
    raise ValueError(f"{prefix}coordinator_address must be HOST:PORT (process 0's host), "
                     f"got {address!r}.")
  if num_processes < 1 or not 0 <= process_id < num_processes:
    raise ValueError(f"Need num_processes >= 1 and 0 <= process_id < num_processes, got "
                     f"{num_processes} and {process_id}.")
  return DistributedArgs(str(address), num_processes, process_id)


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, *, auto: bool = False) -> bool:
  """Initialises `jax.distributed` when flags, JVRL_* variables or `auto` ask for it.

  Must run before any JAX computation or device query. Returns whether
  `jax.distributed.initialize` was called.
  """
  args = resolve_args(coordinator_address, num_processes, process_id, auto=auto)
  if args is None:
    return False
  try:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  except (AttributeError, ValueError):  # option renamed or removed in another JAX
    pass
  jax.distributed.initialize(coordinator_address=args.coordinator_address,
                             num_processes=args.num_processes, process_id=args.process_id)
  logging.info("jax.distributed: process %d of %d, %d local / %d global devices.",
               jax.process_index(), jax.process_count(), jax.local_device_count(),
               jax.device_count())
  return True
