"""The run directory (`--workdir`): usable, owned by one job at a time.

`check_workdir(workdir, mode)` runs at start-up, before anything is written:
a path that is a file, a directory that cannot be created or written, and
`--mode=eval` on a directory without a finished checkpoint are one-line
`WorkdirError`s (an eval refused this way creates nothing).

`WorkdirLock` makes one job the owner of a workdir for its whole run: two
jobs on one workdir would resume from each other's checkpoints and write the
same step directories. The lock is the file `WORKDIR/.jvrl.lock`, created
atomically (a hard link of a finished temporary file, so a reader never sees
it half written) and holding the owner's host, PID, process start time and
start date. A second job is refused with the owner in the message. A lock
left by a process that is gone (killed, crashed machine) is detected when the
owner was on this host (its PID is not running, or is running but started
at another time: a reused PID) and taken over with a warning; a lock from
another host cannot be checked from here, so the message says which file to
delete once that job is known to be gone. A multi-host job holds one lock:
process 0 takes it and tells the others (`lock_workdir_for_job`).
"""
import contextlib
import datetime
import json
import os
import socket
import uuid
from typing import Iterator

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from jvrl import errors

LOCK_FILE = ".jvrl.lock"
CHECKPOINT_SUBDIR = "checkpoints"


class WorkdirError(errors.UserError):
  """The workdir cannot be used as asked (one line naming it and what to do)."""


def checkpoint_steps(checkpoint_dir: str) -> list[int]:
  """The finished checkpoint steps in `checkpoint_dir`, ascending, read without orbax.

  A finished step is a directory named by its number (orbax renames a step's
  temporary directory to that only once every file is written); nothing is
  created when `checkpoint_dir` does not exist.
  """
  if not os.path.isdir(checkpoint_dir):
    return []
  return sorted(int(name) for name in os.listdir(checkpoint_dir)
                if name.isdigit() and os.path.isdir(os.path.join(checkpoint_dir, name)))


def check_workdir(workdir: str, mode: str) -> None:
  """Checks that `workdir` can hold this run; creates it for training modes.

  Raises:
    WorkdirError: `workdir` is a file, cannot be created or written, or
      (`mode='eval'`) holds no finished checkpoint; nothing is created then.
  """
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise WorkdirError(f"--workdir={workdir} is a file, not a directory: give a directory "
                       "for checkpoints, logs and results.")
  if mode == "eval":
    checkpoint_dir = os.path.join(workdir, CHECKPOINT_SUBDIR)
    if not checkpoint_steps(checkpoint_dir):
      raise WorkdirError(
          f"--mode=eval found no checkpoint in {checkpoint_dir}: evaluation restores a trained "
          "run; train first (--mode=train or train_and_eval) or point --workdir at a trained "
          "run.")
  else:
    try:
      os.makedirs(workdir, exist_ok=True)
    except OSError as error:
      raise WorkdirError(f"cannot create --workdir={workdir}: {error.strerror or error}; "
                         "choose a directory you can write.") from None
  if not os.access(workdir, os.W_OK | os.X_OK):
    raise WorkdirError(f"--workdir={workdir} is not writable by this user: choose a "
                       "directory you can write.")


def _process_start_time(pid: int) -> str | None:
  """The start time of process `pid` in clock ticks after boot (Linux), or None."""
  try:
    with open(f"/proc/{pid}/stat") as stat:
      return stat.read().rsplit(")", 1)[1].split()[19]  # field 22: starttime
  except (OSError, IndexError):
    return None


def _is_running(pid: int, start_time: str | None) -> bool:
  """Whether process `pid` (of this host) still runs and is the one that started then."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # runs, as another user
    pass
  current = _process_start_time(pid)
  return start_time is None or current is None or current == start_time


class WorkdirLock:
  """Exclusive ownership of a workdir by one job (see the module docstring).

  Usage:
    with WorkdirLock(workdir):
      ...   # train / evaluate
  """

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_FILE)
    self._token = uuid.uuid4().hex
    self._held = False

  def _owner_record(self) -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid(),
            "start_time": _process_start_time(os.getpid()), "token": self._token,
            "since": datetime.datetime.now().isoformat(timespec="seconds"),
            "processes": jax.process_count()}

  def _create(self) -> bool:
    """Creates the lock file with this process as owner; False if it exists."""
    temp = f"{self.path}.{self._token}.tmp"
    with open(temp, "w") as f:
      json.dump(self._owner_record(), f)
    try:
      os.link(temp, self.path)  # atomic; fails if the lock exists
      return True
    except FileExistsError:
      return False
    except OSError:  # a filesystem without hard links: exclusive create instead
      try:
        descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
      except FileExistsError:
        return False
      with os.fdopen(descriptor, "w") as f:
        json.dump(self._owner_record(), f)
      return True
    finally:
      os.remove(temp)

  def _read(self, path: str) -> dict:
    try:
      with open(path) as f:
        return json.load(f)
    except (OSError, ValueError):
      return {}

  def _describe(self, owner: dict) -> str:
    return (f"host {owner.get('host', '?')}, PID {owner.get('pid', '?')}, since "
            f"{owner.get('since', '?')}")

  def acquire(self) -> None:
    """Takes the lock, taking over a stale one of this host.

    Raises:
      WorkdirError: another running job holds it (named in the message).
    """
    for _ in range(3):
      if self._create():
        self._held = True
        return
      owner = self._read(self.path)
      if not owner:
        continue  # released (or replaced) between the two calls: try again
      if owner.get("host") != socket.gethostname():
        raise WorkdirError(
            f"--workdir={os.path.dirname(self.path)} is in use by another jvrl run "
            f"({self._describe(owner)}; lock file {self.path}): wait for it to finish or use "
            "another --workdir; delete the lock file only once that run is known to be gone.")
      if _is_running(int(owner.get("pid", -1)), owner.get("start_time")):
        raise WorkdirError(
            f"--workdir={os.path.dirname(self.path)} is in use by another jvrl run "
            f"({self._describe(owner)}; lock file {self.path}): wait for it to finish or use "
            "another --workdir.")
      stale = f"{self.path}.stale.{self._token}"
      try:
        os.rename(self.path, stale)
      except FileNotFoundError:
        continue  # another process took it over first
      if self._read(stale).get("token") != owner.get("token"):
        # Between reading and renaming, another process took the lock over:
        # give it back and count this as "in use".
        with contextlib.suppress(OSError):
          os.link(stale, self.path)
        os.remove(stale)
        continue
      os.remove(stale)
      logging.warning("Took over the lock of --workdir=%s from a run that is gone (%s).",
                      os.path.dirname(self.path), self._describe(owner))
    if self._create():
      self._held = True
      return
    raise WorkdirError(f"--workdir={os.path.dirname(self.path)} is in use by another jvrl run "
                       f"({self._describe(self._read(self.path))}; lock file {self.path}).")

  def release(self) -> None:
    """Removes the lock if this process still holds it."""
    if self._held and self._read(self.path).get("token") == self._token:
      with contextlib.suppress(OSError):
        os.remove(self.path)
    self._held = False

  def __enter__(self) -> "WorkdirLock":
    self.acquire()
    return self

  def __exit__(self, *exc_info) -> None:
    self.release()


@contextlib.contextmanager
def lock_workdir_for_job(workdir: str) -> Iterator[None]:
  """Holds `workdir`'s lock for the whole job (a context manager).

  Single process: this process takes it. Multi-host: process 0 takes it (one
  lock for the job) and every process learns whether it succeeded, so all
  stop together when another job owns the workdir.

  Raises:
    WorkdirError: the workdir is in use.
  """
  lock = WorkdirLock(workdir)
  if jax.process_count() == 1:
    with lock:
      yield
    return
  failure = None
  if jax.process_index() == 0:
    try:
      lock.acquire()
    except WorkdirError as error:
      failure = error
  ok = int(multihost_utils.broadcast_one_to_all(np.int32(failure is None)))
  if failure is not None:
    raise failure
  if not ok:
    raise WorkdirError(f"--workdir={workdir} is in use by another jvrl run (process 0 says "
                       "which; see its message).")
  try:
    yield
  finally:
    lock.release()
