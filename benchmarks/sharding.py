r"""Benchmark: data parallelism vs FSDP (vs FSDP + tensor parallelism) on simulated devices.

  python -m benchmarks.sharding [--devices=8] [--model=r3d_18] [--width_multiplier=0.25] \
      [--batch_size=16] [--clip_length=8] [--crop_size=32] [--steps=3] [--train_run_steps=5]

Each strategy runs in its own process on `--devices` simulated CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count) and times the real jitted
CVRL train step (AdamW, two views, BN, projection head) on random clips:

  data        mesh data=N, every array replicated;
  fsdp        mesh fsdp=N, conv / dense kernels (and their Adam moments)
              split over the devices (`(r"kernel$", "fsdp")`);
  fsdp+model  mesh data=N/4, fsdp=2, model=2, kernels split over fsdp and
              their output features over model.

Printed per strategy: compile time, seconds per step, the parameters' and the
optimiser state's bytes on the most loaded device, and the process's peak host
memory (ru_maxrss). Then, unless --train_run_steps=0, the peak host memory of
a real training run (`python -m jvrl.main --mode=train` on the built-in
synthetic dataset with the default config, that many steps). Simulated devices
share one CPU, so the step times say how much extra work the sharding adds
(gathers, reduce-scatters), not how fast a pod would be; the bytes per device
are what a real device would hold.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

_DEVICES = flags.DEFINE_integer("devices", 8, "Simulated CPU devices.")
_MODEL = flags.DEFINE_string("model", "r3d_18", "Backbone.")
_WIDTH = flags.DEFINE_float("width_multiplier", 0.25, "Backbone width multiplier.")
_BATCH = flags.DEFINE_integer("batch_size", 16, "Global batch (examples; 2 clips each).")
_CLIP = flags.DEFINE_integer("clip_length", 8, "Frames per clip.")
_CROP = flags.DEFINE_integer("crop_size", 32, "Crop side.")
_STEPS = flags.DEFINE_integer("steps", 3, "Timed steps after one warm-up step.")
_TRAIN_RUN_STEPS = flags.DEFINE_integer(
    "train_run_steps", 5, "Steps of the real training run whose peak host memory is "
    "reported (0: skip it).")
_CHILD = flags.DEFINE_string("child", "", "Internal: run one strategy and print JSON.")

STRATEGIES = {
    "data": (lambda n: {"data": n}, ((".*", "replicate"),)),
    "fsdp": (lambda n: {"data": 1, "fsdp": n}, ((r"kernel$", "fsdp"), (".*", "replicate"))),
    "fsdp+model": (lambda n: {"data": n // 4, "fsdp": 2, "model": 2},
                   ((r"kernel$", "fsdp+model"), (".*", "replicate"))),
}


def _peak_rss_mib(who=resource.RUSAGE_SELF) -> float:
  return resource.getrusage(who).ru_maxrss / 1024  # Linux: KiB


def run_strategy(name: str) -> dict:
  """Times one strategy in this process (devices already simulated)."""
  import jax  # pylint: disable=g-import-not-at-top
  from benchmarks import step_timing  # pylint: disable=g-import-not-at-top
  from configs import cvrl_synthetic  # pylint: disable=g-import-not-at-top
  from jvrl.data import device_batches  # pylint: disable=g-import-not-at-top
  from jvrl.train import sharding  # pylint: disable=g-import-not-at-top
  from jvrl.train import trainer  # pylint: disable=g-import-not-at-top

  mesh_fn, rules = STRATEGIES[name]
  config = cvrl_synthetic.get_config()
  config.model_name = _MODEL.value
  # The model options the README's figures were measured with (RGB input, lax's
  # 3-D convs), whatever the synthetic main job's defaults are now.
  config.model = dict(width_multiplier=_WIDTH.value, strided_conv="space_to_depth")
  config.train.batch_size = _BATCH.value
  config.mesh, config.sharding_rules = mesh_fn(jax.device_count()), rules
  setup = trainer.Setup(config)
  host_batch = step_timing.random_cvrl_views(_BATCH.value, _CLIP.value, _CROP.value)
  spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in host_batch.items()}
  _, shardings = setup.abstract_state(spec)
  state = setup.fresh_state(spec, shardings)
  batch = device_batches.make_global_batch(host_batch, setup.mesh)
  step_fn = jax.jit(trainer.make_train_step(setup.objective, setup.optimizer),
                    in_shardings=(shardings, device_batches.batch_sharding(setup.mesh)),
                    out_shardings=(shardings, sharding.replicated(setup.mesh)),
                    donate_argnums=(0,))
  state, compile_s, step_s = step_timing.time_train_step(step_fn, state, batch, _STEPS.value)
  return {
      "strategy": name, "mesh": dict(setup.mesh.shape),
      "params": int(sum(x.size for x in jax.tree.leaves(state.params))),
      "compile_s": compile_s, "step_s": step_s,
      "param_mib": sharding.bytes_per_device(state.params) / 2**20,
      "opt_mib": sharding.bytes_per_device(state.opt_state) / 2**20,
      "peak_rss_mib": _peak_rss_mib(),
  }


def _child_command(name: str) -> list[str]:
  return [sys.executable, "-m", "benchmarks.sharding", f"--child={name}",
          f"--devices={_DEVICES.value}", f"--model={_MODEL.value}",
          f"--width_multiplier={_WIDTH.value}", f"--batch_size={_BATCH.value}",
          f"--clip_length={_CLIP.value}", f"--crop_size={_CROP.value}",
          f"--steps={_STEPS.value}"]


def _training_run_peak_rss() -> tuple[float, float]:
  """(peak host MiB, seconds) of `jvrl.main --mode=train` for a few steps."""
  with tempfile.TemporaryDirectory() as workdir:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "jvrl.main", "--config=configs/cvrl_synthetic.py",
         f"--workdir={workdir}", "--mode=train",
         f"--config.train.num_steps={_TRAIN_RUN_STEPS.value}", "--config.optimizer.warmup_steps=1",
         f"--config.train.log_every={_TRAIN_RUN_STEPS.value}"],
        check=True, capture_output=True)
    return _peak_rss_mib(resource.RUSAGE_CHILDREN), time.perf_counter() - start


def main(argv):
  del argv
  if _CHILD.value:
    print("RESULT " + json.dumps(run_strategy(_CHILD.value)), flush=True)
    return
  # First, while no other child has run: RUSAGE_CHILDREN reports the largest child.
  train_run = _training_run_peak_rss() if _TRAIN_RUN_STEPS.value else None
  env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") +
                                    f" --xla_force_host_platform_device_count={_DEVICES.value}"))
  rows = []
  for name in STRATEGIES:
    out = subprocess.run(_child_command(name), env=env, check=True, capture_output=True,
                         text=True).stdout
    rows.append(json.loads(out.split("RESULT ", 1)[1]))
  print(f"\nCVRL train step, {_MODEL.value} x{_WIDTH.value} ({rows[0]['params']:,} params), "
        f"AdamW, batch {_BATCH.value} (x2 views) of {_CLIP.value}x{_CROP.value}x{_CROP.value}, "
        f"{_DEVICES.value} simulated CPU devices")
  print(f"{'strategy':<12}{'mesh':<28}{'compile s':>10}{'s/step':>8}{'params MiB/dev':>16}"
        f"{'opt MiB/dev':>13}{'peak host MiB':>15}")
  for r in rows:
    mesh = ",".join(f"{k}={v}" for k, v in r["mesh"].items())
    print(f"{r['strategy']:<12}{mesh:<28}{r['compile_s']:>10.1f}{r['step_s']:>8.2f}"
          f"{r['param_mib']:>16.2f}{r['opt_mib']:>13.2f}{r['peak_rss_mib']:>15.0f}")
  if train_run:
    peak, seconds = train_run
    print(f"\nTraining run (python -m jvrl.main --mode=train, configs/cvrl_synthetic.py, "
          f"{_TRAIN_RUN_STEPS.value} steps, {seconds:.0f} s): peak host memory {peak:.0f} MiB")


if __name__ == "__main__":
  app.run(main)
