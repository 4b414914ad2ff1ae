"""Tests of jvrl.data.prepare.parallel: ordered results, and a crashing worker loses nothing.

Only this module and `parallel` load in the spawned workers (no TensorFlow),
so the processes start quickly.
"""
import os

from jvrl.data.prepare import parallel


def _square_or_crash(x: int, crash_on: int) -> int:
  if x == crash_on:
    os._exit(3)  # Like a segfault in FFmpeg: the worker dies without an exception.
  return x * x


def test_in_process_and_parallel_give_ordered_results():
  items = [(i, -1) for i in range(7)]
  for workers in (1, 2):
    results = list(parallel.ordered_map(_square_or_crash, items, workers=workers,
                                        on_crash=lambda item: None))
    assert results == [((i, -1), i * i) for i in range(7)]


def test_a_crashing_item_becomes_on_crash_and_the_others_complete():
  items = [(i, 3) for i in range(7)]
  results = list(parallel.ordered_map(_square_or_crash, items, workers=2,
                                      on_crash=lambda item: f"crashed {item[0]}"))
  assert [r for _, r in results] == [0, 1, 4, "crashed 3", 16, 25, 36]
