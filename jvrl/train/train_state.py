"""The training state: everything a checkpoint must hold to resume a run exactly."""
from typing import Any

import flax.struct
import jax


@flax.struct.dataclass
class TrainState:
  """Parameters, mutable model state, optimiser state, RNG and guard counters.

  Attributes:
    step: number of train steps taken (= batches consumed).
    params: the model's parameters (float32 master weights).
    model_state: other flax collections, e.g. {'batch_stats': ...}.
    opt_state: the optimiser's state.
    rng: uint32 key data of the run's base key (`jax.random.key_data`). Step
      `s` draws its randomness from `fold_in(rng, s)`, so `rng` and `step`
      together are the RNG position; keeping the key in the checkpoint makes a
      resumed run independent of the config's seed.
    nonfinite_steps: how many steps had a non-finite loss, gradient or update.
    first_nonfinite_step: the (1-based, as logged) first such step; 0 if none.
    teacher_params: the EMA teacher's parameters ({submodule: params} for the
      objective's `Teacher.submodules`; {} without a teacher), sharded like
      the parameters they copy.
  An objective's memory queue lives in `model_state['queue']`
  (`jvrl.objectives.base.QUEUE_COLLECTION`).
  The input pipeline's position is not an array: it travels in the
  checkpoint's metadata (see `jvrl.train.trainer`).
  """
  step: jax.Array
  params: Any
  model_state: Any
  opt_state: Any
  rng: jax.Array
  nonfinite_steps: jax.Array
  first_nonfinite_step: jax.Array
  teacher_params: Any = flax.struct.field(default_factory=dict)
