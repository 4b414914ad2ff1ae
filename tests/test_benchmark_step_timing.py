"""Tests for benchmarks/step_timing.py (what the train-step benchmarks share)."""
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import step_timing


def test_random_cvrl_views_shapes_and_determinism():
  views = step_timing.random_cvrl_views(3, 4, 8, seed=1)
  assert set(views) == {"view1", "view2"}
  for v in views.values():
    assert v.shape == (3, 4, 8, 8, 3) and v.dtype == np.uint8
  assert not np.array_equal(views["view1"], views["view2"])
  np.testing.assert_array_equal(views["view1"], step_timing.random_cvrl_views(3, 4, 8, 1)["view1"])


def test_time_train_step_runs_warmup_plus_timed_steps():
  step = jax.jit(lambda state, batch: (state + batch, {"loss": jnp.sum(state)}),
                 donate_argnums=(0,))
  state, compile_s, step_s = step_timing.time_train_step(step, jnp.zeros(()), jnp.ones(()), 4)
  assert float(state) == 5.0  # one warm-up step + 4 timed ones
  assert compile_s > 0 and step_s > 0
