"""SIGTERM / SIGINT become a stop request that the train loop checks after each step."""
import os
import signal
import threading

import pytest

from jvrl.train import preemption


def test_sigterm_sets_the_flag_and_handlers_are_restored():
  previous = signal.getsignal(signal.SIGTERM)
  with preemption.PreemptionWatcher(process_count=1) as watcher:
    assert not watcher.should_stop(1)
    os.kill(os.getpid(), signal.SIGTERM)
    assert watcher.requested and watcher.signal_name == "SIGTERM"
    assert watcher.should_stop(2)
  assert signal.getsignal(signal.SIGTERM) is previous


def test_second_sigint_interrupts_at_once():
  with preemption.PreemptionWatcher(process_count=1) as watcher:
    os.kill(os.getpid(), signal.SIGINT)
    assert watcher.should_stop(1)
    with pytest.raises(KeyboardInterrupt):
      os.kill(os.getpid(), signal.SIGINT)


def test_outside_the_main_thread_nothing_is_installed():
  results = []

  def run():
    with preemption.PreemptionWatcher(process_count=1) as watcher:
      results.append((watcher.should_stop(1), signal.getsignal(signal.SIGTERM)))

  thread = threading.Thread(target=run)
  thread.start()
  thread.join()
  assert results == [(False, signal.getsignal(signal.SIGTERM))]


def test_bad_sync_interval():
  with pytest.raises(ValueError, match="sync_every"):
    preemption.PreemptionWatcher(sync_every=0, process_count=1)


def test_processes_agree_every_sync_every_steps(monkeypatch):
  """Multi-host: flags are combined (one all-gather) only every `sync_every` steps."""
  calls = []

  def fake_allgather(flag):
    calls.append(int(flag))
    return [int(flag), 1]  # the other process was signalled

  monkeypatch.setattr(preemption.multihost_utils, "process_allgather", fake_allgather)
  watcher = preemption.PreemptionWatcher(sync_every=5, process_count=2)
  assert [watcher.should_stop(step) for step in range(1, 5)] == [False] * 4
  assert not calls  # no collective in between
  assert watcher.should_stop(5) and calls == [0]
