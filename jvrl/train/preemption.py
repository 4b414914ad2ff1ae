"""Stop training cleanly on SIGTERM / SIGINT: finish the step, checkpoint, exit.

Schedulers (Kubernetes, SLURM, Cloud TPU maintenance) announce preemption with
SIGTERM and kill the job a grace period later; Ctrl-C sends SIGINT. While a
`PreemptionWatcher` is active, either signal only sets a flag; the train loop
asks `should_stop(step)` after each step and, when it says yes, writes a
checkpoint and leaves. A second SIGINT interrupts at once (KeyboardInterrupt),
for a user who does not want to wait for the step.

Multi-host: every process must stop after the SAME step, or the collective
ops of the next step (and orbax's coordinated save) would hang. Signals can
reach the processes at different times, so the processes agree: every
`sync_every` steps each process contributes its flag to one all-gather
(`multihost_utils.process_allgather` of a single int) and all stop if any
process was signalled. That costs one tiny collective every `sync_every` steps
(it waits for the step in flight, so it is not free: not every step), and a
signal is acted on at most `sync_every` steps late: choose `sync_every` so that
`sync_every` x step time plus a checkpoint write fits in the scheduler's grace
period. A single process checks its own flag after every step at no cost.

(JAX's own `multihost_utils.reached_preemption_sync_point` does the same through
the coordination service, but listens to SIGTERM only and only in multi-process
runs; one mechanism for both signals and any process count is simpler to test.)

Outside the train loop (start-up, evaluation, fine-tuning's tests, feature
extraction) `jvrl.main` keeps a watcher installed for the whole run, so a
signal is never the default "killed, nothing written". The first signal of
the process is remembered (`stop_signal`): a train loop entered later stops
before its first step, and the evaluation's loops call `check_stop` between
batches, which raises `StopRequested`; `jvrl.main` turns every
`StopRequested` (the train loop's `Preempted` is one) into its one-line
message and exit status 0.
"""
import signal
import threading
from typing import Callable

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The first stop signal this process received while a watcher was installed ('' if
# none); forgotten when the outermost watcher exits.
_stop_signal = ""
_watchers_installed = 0


class StopRequested(Exception):
  """SIGTERM/SIGINT stopped the run at a safe point; the message (one line) says what
  was kept and that rerunning the same command resumes."""


def stop_signal() -> str:
  """The name of the first stop signal this process received ('' if none)."""
  return _stop_signal


def check_stop(what: str) -> None:
  """Raises `StopRequested` if a stop signal arrived; `what` says where the run was.

  Called between units of work outside the train loop (evaluation batches),
  e.g. `check_stop('the evaluation')`.
  """
  if _stop_signal:
    raise StopRequested(
        f"{_stop_signal}: stopped during {what}. Finished training runs, fine-tuning "
        "checkpoints and feature files are kept: rerun the same command to resume (an "
        "unfinished evaluation starts again).")




class PreemptionWatcher:
  """Turns SIGTERM/SIGINT into a flag for the train loop (a context manager).

  Usage:
    with PreemptionWatcher(sync_every=10) as watcher:
      for step in ...:
        train_step(...)
        if watcher.should_stop(step):
          save_checkpoint(step)
          break

  Handlers are installed on entry and the previous ones restored on exit. They
  can only be installed from the main thread; elsewhere the watcher never
  stops (and says so in the log).
  """

  def __init__(self, sync_every: int = 10, process_count: int | None = None):
    """Args: sync_every: multi-host agreement interval in steps (>= 1);
    process_count: defaults to `jax.process_count()`."""
    if sync_every < 1:
      raise ValueError(f"sync_every must be >= 1, got {sync_every}.")
    self._sync_every = sync_every
    self._process_count = jax.process_count() if process_count is None else process_count
    self._requested = False
    self._signal_name = ""
    self._previous: dict[int, Callable | int | None] = {}

  @property
  def requested(self) -> bool:
    """Whether THIS process received a stop signal."""
    return self._requested

  @property
  def signal_name(self) -> str:
    """Name of the signal that was received ('' if none)."""
    return self._signal_name

  def request(self, signal_name: str = "request") -> None:
    """Asks the loop to stop (what the signal handler does)."""
    self._requested = True
    self._signal_name = self._signal_name or signal_name

  def _handle(self, signum, frame) -> None:
    global _stop_signal
    del frame
    name = signal.Signals(signum).name
    if self._requested and signum == signal.SIGINT:
      raise KeyboardInterrupt(f"Second {name}: stopping without a checkpoint.")
    _stop_signal = _stop_signal or name
    self.request(name)
    logging.warning("%s received: stopping at the next safe point (training: after the "
                    "current step, with a checkpoint; evaluation: between batches); send SIGINT "
                    "again to stop at once.", name)

  def should_stop(self, step: int) -> bool:
    """Whether every process should stop after `step` (call after EVERY step).

    Single process: this process's flag. Several: the processes' flags
    combined every `sync_every` steps (all processes get the same answer at
    the same step); False in between.
    """
    if self._process_count == 1:
      return self._requested
    if step % self._sync_every:
      return False
    flags = multihost_utils.process_allgather(np.asarray(self._requested, np.int32))
    return bool(np.any(flags))

  def __enter__(self) -> "PreemptionWatcher":
    if _stop_signal:  # a signal that arrived before this watcher (e.g. during start-up)
      self.request(_stop_signal)
    if threading.current_thread() is not threading.main_thread():
      logging.warning("Not in the main thread: SIGTERM/SIGINT will not checkpoint before "
                      "exiting.")
      return self
    global _watchers_installed
    for signum in SIGNALS:
      self._previous[signum] = signal.signal(signum, self._handle)
    _watchers_installed += 1
    return self

  def __exit__(self, *exc_info) -> None:
    global _stop_signal, _watchers_installed
    if not self._previous:
      return
    for signum, handler in self._previous.items():
      signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
    self._previous.clear()
    _watchers_installed -= 1
    if not _watchers_installed:  # the run is over: a later run starts afresh
      _stop_signal = ""
