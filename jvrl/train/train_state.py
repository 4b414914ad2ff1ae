"""The training state: everything a checkpoint must hold to resume a run."""
from typing import Any

import flax.struct
import jax


@flax.struct.dataclass
class TrainState:
  """Parameters, mutable model state (batch-norm statistics), optimiser state.

  The step counter is also the RNG position: the train step derives its random
  keys by folding `step` into the run's base key, so no RNG state is stored.
  """
  step: jax.Array
  params: Any
  model_state: Any
  opt_state: Any
