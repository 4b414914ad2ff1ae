"""Training/eval metrics to the console (absl logging) and TensorBoard.

Only process 0 writes (in multi-host runs every process computes the same
global metrics); other processes get a writer that does nothing.
"""
import os
from typing import Mapping

import jax
import numpy as np
from absl import logging

from jvrl.data.tf_setup import tf


class MetricsWriter:
  """Writes scalar metrics to TensorBoard event files under `logdir`."""

  def __init__(self, logdir: str, enabled: bool | None = None):
    self._enabled = jax.process_index() == 0 if enabled is None else enabled
    self._writer = None
    if self._enabled:
      os.makedirs(logdir, exist_ok=True)
      self._writer = tf.summary.create_file_writer(logdir)

  def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
    """Writes each finite-or-not scalar at `step` (NaNs are written too)."""
    if self._writer is None:
      return
    with self._writer.as_default():
      for name, value in scalars.items():
        tf.summary.scalar(name, float(np.asarray(value)), step=int(step))
    self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None


def log_info(message: str, *args) -> None:
  """Logs on process 0 only (avoids N copies of every line on a pod)."""
  if jax.process_index() == 0:
    logging.info(message, *args, stacklevel=2)  # name the caller, not this helper
