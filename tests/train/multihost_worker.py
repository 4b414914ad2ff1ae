"""One process of the multi-host test (`test_distributed.py`), run as a script.

  python multihost_worker.py train PORT PROCESS_ID WORKDIR CACHE_DIR OUT.npz
      one of two processes (2 CPU devices each, gloo collectives) running
      `trainer.train` on the tiny CVRL config; process 0 writes the final
      parameters to OUT.npz.
  python multihost_worker.py reference WORKDIR CACHE_DIR OUT.npz
      one process with 4 CPU devices taking the same steps on the same global
      batches (process 0's and process 1's input pipelines, concatenated);
      writes the initial parameters to OUT_init.npz and the final ones to OUT.npz.
"""
import os
import sys

_MODE = sys.argv[1]
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=" + (
    "2" if _MODE == "train" else "4")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # conftest
sys.path.insert(0, os.path.dirname(sys.path[0]))  # the repository (configs)

NUM_STEPS = 3


def tiny_config(cache_dir: str):
  from conftest import make_tiny_cvrl_config  # pylint: disable=g-import-not-at-top
  config = make_tiny_cvrl_config(cache_dir)
  config.train.num_steps = NUM_STEPS
  config.train.log_every = 1
  config.train.checkpoint_every = NUM_STEPS
  config.mesh = dict(data=-1)
  # Well-conditioned steps, so that summation-order noise stays noise: with
  # temperature 0.1 this untrained tiny net is so sharp that merely running on
  # 2 instead of 4 devices changes the parameters after 3 steps by 0.6% (1.0:
  # 0.003%); Adam's normalised first steps would amplify it too.
  config.cvrl.temperature = 1.0
  config.optimizer.name = "sgd"
  config.optimizer.learning_rate = 1e-4
  return config


def save_params(path: str, params) -> None:
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  np.savez(path, **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves})


def run_train(port: str, process_id: str, workdir: str, cache_dir: str, out: str) -> None:
  from jvrl.train import distributed  # pylint: disable=g-import-not-at-top
  distributed.initialize(f"127.0.0.1:{port}", 2, int(process_id))
  import jax  # pylint: disable=g-import-not-at-top
  from jvrl.train import trainer  # pylint: disable=g-import-not-at-top
  assert jax.process_count() == 2 and jax.device_count() == 4
  state, _ = trainer.train(tiny_config(cache_dir), workdir)
  params = trainer._to_host(state.params)  # pylint: disable=protected-access
  if jax.process_index() == 0:
    save_params(out, params)


def run_reference(workdir: str, cache_dir: str, out: str) -> None:
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jvrl.data import device_batches  # pylint: disable=g-import-not-at-top
  from jvrl.data import pipeline  # pylint: disable=g-import-not-at-top
  from jvrl.train import sharding  # pylint: disable=g-import-not-at-top
  from jvrl.train import trainer  # pylint: disable=g-import-not-at-top
  del workdir
  config = tiny_config(cache_dir)
  setup = trainer.Setup(config)
  local_batch = config.train.batch_size // 2
  host_iterators = [
      pipeline.host_batches(pipeline.make_train_dataset(
          config, setup.objective.preprocess_train, local_batch, process_index=p,
          process_count=2, host_fields=True)) for p in range(2)]
  spec = pipeline.make_train_dataset(config, setup.objective.preprocess_train,
                                     local_batch).element_spec
  _, shardings = setup.abstract_state(spec)
  state = setup.fresh_state(spec, shardings)
  save_params(out.replace(".npz", "_init.npz"), jax.device_get(state.params))
  step = jax.jit(trainer.make_train_step(setup.objective, setup.optimizer,
                                         setup.learning_rate_fn),
                 in_shardings=(shardings, device_batches.batch_sharding(setup.mesh)),
                 out_shardings=(shardings, sharding.replicated(setup.mesh)))
  for _ in range(NUM_STEPS):
    parts = [next(iterator)[0] for iterator in host_iterators]
    batch = {k: np.concatenate([part[k] for part in parts]) for k in parts[0]}
    state, _ = step(state, device_batches.make_global_batch(batch, setup.mesh))
  save_params(out, jax.device_get(state.params))


if __name__ == "__main__":
  from absl import logging  # pylint: disable=g-import-not-at-top
  logging.set_verbosity(logging.INFO)  # progress lines, as jvrl.main shows them
  if _MODE == "train":
    run_train(*sys.argv[2:])
  else:
    run_reference(*sys.argv[2:])
