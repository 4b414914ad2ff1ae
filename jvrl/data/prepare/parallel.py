"""An ordered parallel map over worker processes that survives crashing workers.

FFmpeg can crash on a hostile file, taking its worker process with it. With
`multiprocessing.Pool` the lost task then hangs the run; here the executor
reports a broken pool, the task that was being waited for is re-run alone in a
fresh process, and if that crashes too it becomes `on_crash(item)`. The other
in-flight tasks are resubmitted, so no item is lost or duplicated.

Workers are started with 'spawn' (not 'fork'): the parent has TensorFlow and
PyAV loaded, and forking a process with their thread pools is unsafe. A
spawned worker re-imports the main script or `-m` module (a package's
`__main__`, e.g. `python -m pytest`, excepted), so scripts that start workers
import TensorFlow inside their functions, not at their top (see
data/prepare_videos.py).
"""
import collections
import concurrent.futures
from concurrent.futures import process as futures_process
import multiprocessing
import os
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar

Item = TypeVar("Item", bound=tuple)
Result = TypeVar("Result")


def default_workers() -> int:
  """The CPUs this process may use."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # Not on Linux.
    return os.cpu_count() or 1


def _new_executor(workers: int,
                  initializer: Optional[Callable[[], None]]) -> concurrent.futures.Executor:
  return concurrent.futures.ProcessPoolExecutor(
      max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
      initializer=initializer)


def _run_alone(fn: Callable[..., Result], item: tuple, on_crash: Callable[[tuple], Result],
               initializer: Optional[Callable[[], None]]) -> Result:
  with _new_executor(1, initializer) as executor:
    try:
      return executor.submit(fn, *item).result()
    except futures_process.BrokenProcessPool:
      return on_crash(item)


def ordered_map(fn: Callable[..., Result], items: Iterable[Item], *, workers: int,
                on_crash: Callable[[Item], Result],
                initializer: Optional[Callable[[], None]] = None,
                max_in_flight: Optional[int] = None) -> Iterator[tuple[Item, Result]]:
  """Yields (item, fn(*item)) for every item, in input order.

  Args:
    fn: a picklable (module-level) function.
    items: argument tuples; consumed lazily, at most `max_in_flight` ahead of
      the one being yielded (so memory stays bounded).
    workers: worker processes; 1 runs everything in this process (no crash
      protection there).
    on_crash: the result of an item whose worker process died twice.
    initializer: run once in each worker process.
    max_in_flight: submitted but not yet yielded items (default 2 * workers).

  Yields:
    (item, result) pairs in the order of `items`.
  """
  if workers <= 1:
    for item in items:
      yield item, fn(*item)
    return
  limit = max_in_flight or 2 * workers
  source = iter(items)
  pending: collections.deque[tuple[Any, Optional[concurrent.futures.Future]]] = (
      collections.deque())
  executor = _new_executor(workers, initializer)

  def submit(item):
    try:
      return executor.submit(fn, *item)
    except futures_process.BrokenProcessPool:
      return None  # Found broken when this item reaches the head of the queue.

  try:
    while True:
      while len(pending) < limit:
        item = next(source, None)
        if item is None:
          break
        pending.append((item, submit(item)))
      if not pending:
        return
      item, future = pending.popleft()
      if not _lost(future):
        yield item, future.result()
        continue
      # A worker died: this item runs alone to learn whether it is the culprit,
      # and every other unfinished item is resubmitted to a fresh pool.
      executor.shutdown(wait=True, cancel_futures=True)
      result = _run_alone(fn, item, on_crash, initializer)
      executor = _new_executor(workers, initializer)
      pending = collections.deque((i, f if not _lost(f) else submit(i)) for i, f in pending)
      yield item, result
  finally:
    executor.shutdown(wait=False, cancel_futures=True)


def _lost(future: Optional[concurrent.futures.Future]) -> bool:
  """True when a future will never give its result because its pool broke."""
  if future is None or future.cancelled():
    return True
  try:
    error = future.exception()  # Waits for the future.
  except concurrent.futures.CancelledError:
    return True
  return isinstance(error, futures_process.BrokenProcessPool)
