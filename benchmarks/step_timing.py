"""What the train-step benchmarks share: a random CVRL batch and the step timer."""
import time
from typing import Any, Callable

import jax
import numpy as np


def random_cvrl_views(batch_size: int, clip_length: int, crop_size: int,
                      seed: int = 0) -> dict[str, np.ndarray]:
  """Host batch of two uint8 views [B, T, S, S, 3] of random pixels."""
  rng = np.random.default_rng(seed)
  shape = (batch_size, clip_length, crop_size, crop_size, 3)
  return {"view1": rng.integers(0, 256, shape, np.uint8),
          "view2": rng.integers(0, 256, shape, np.uint8)}


def time_train_step(step_fn: Callable[..., Any], state: Any, batch: Any,
                    steps: int) -> tuple[Any, float, float]:
  """Compiles the jitted `step_fn`, runs one warm-up step, times `steps` more.

  Returns (final state, compile seconds, seconds per timed step). The state is
  donated at every step, so use the returned one.
  """
  start = time.perf_counter()
  compiled = step_fn.lower(state, batch).compile()
  compile_s = time.perf_counter() - start
  state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for _ in range(steps):
    state, metrics = compiled(state, batch)
  jax.block_until_ready(metrics)
  return state, compile_s, (time.perf_counter() - start) / steps
