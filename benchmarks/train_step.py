r"""Benchmark: CVRL train-step compile time and throughput for each backbone.

  python -m benchmarks.train_step [--models=r3d_18,r2plus1d_18,r3d_50] \
      [--batch_size=4] [--clip_length=16] [--crop_size=112] [--width_multiplier=1.0] [--steps=3]
      [--strided_conv=native|space_to_depth] [--conv_impl=native|temporal_taps]

Each step runs the real jitted CVRL train step (two views per example, BN,
projection head, NT-Xent, AdamW) on random uint8 clips, with the batch sharded
over all devices. Prints a table: compile seconds, seconds per step and clips/s
(clips = 2 x batch_size per step). Timings are measured here, never asserted.
"""

import jvrl  # noqa: F401

from absl import app
from absl import flags
import jax

from benchmarks import step_timing
from configs import cvrl_synthetic
from jvrl.data import device_batches
from jvrl.train import trainer

_MODELS = flags.DEFINE_list("models", ["r3d_18", "r2plus1d_18", "r3d_50"], "Backbones.")
_BATCH = flags.DEFINE_integer("batch_size", 4, "Global batch (examples; 2 clips each).")
_CLIP = flags.DEFINE_integer("clip_length", 16, "Frames per clip.")
_CROP = flags.DEFINE_integer("crop_size", 112, "Crop side.")
_WIDTH = flags.DEFINE_float("width_multiplier", 1.0, "Backbone width multiplier.")
_STRIDED = flags.DEFINE_enum("strided_conv", "native", ["native", "space_to_depth"],
                             "How strided convs are computed (see jvrl.models.strided_conv).")
_CONV_IMPL = flags.DEFINE_enum("conv_impl", "native", ["native", "temporal_taps"],
                                "How 3-D convs are computed (see jvrl.models.temporal_taps_conv).")
_STEPS = flags.DEFINE_integer("steps", 3, "Timed steps after one warm-up step.")


def benchmark_model(model_name: str) -> dict:
  config = cvrl_synthetic.get_config()
  config.model_name = model_name
  config.model = dict(width_multiplier=_WIDTH.value, strided_conv=_STRIDED.value,
                      conv_impl=_CONV_IMPL.value, input_transform="rgb")
  config.train.batch_size = _BATCH.value
  config.cvrl.projection_hidden_dim = 2048
  setup = trainer.Setup(config)
  host_batch = step_timing.random_cvrl_views(_BATCH.value, _CLIP.value, _CROP.value)
  element_spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in host_batch.items()}
  _, shardings = setup.abstract_state(element_spec)
  state = setup.fresh_state(element_spec, shardings)
  batch = device_batches.make_global_batch(host_batch, setup.mesh)
  step_fn = jax.jit(
      trainer.make_train_step(setup.objective, setup.optimizer),
      in_shardings=(shardings, device_batches.batch_sharding(setup.mesh)),
      donate_argnums=(0,))
  state, compile_s, step_s = step_timing.time_train_step(step_fn, state, batch, _STEPS.value)
  params = sum(x.size for x in jax.tree.leaves(state.params[setup.objective.encoder_name]))
  return {"model": model_name, "params": params, "compile_s": compile_s, "step_s": step_s,
          "clips_per_s": 2 * _BATCH.value / step_s}


def main(argv):
  del argv
  rows = [benchmark_model(name) for name in _MODELS.value]
  print(f"\nCVRL train step, {len(jax.devices())} x {jax.devices()[0].platform} device(s), "
        f"batch {_BATCH.value} (x2 views), {_CLIP.value}x{_CROP.value}x{_CROP.value}, "
        f"width x{_WIDTH.value}, strided_conv {_STRIDED.value}, conv_impl {_CONV_IMPL.value}")
  print(f"{'model':<14}{'encoder params':>16}{'compile s':>11}{'s/step':>9}{'clips/s':>10}")
  for r in rows:
    print(f"{r['model']:<14}{r['params']:>16,}{r['compile_s']:>11.1f}{r['step_s']:>9.2f}"
          f"{r['clips_per_s']:>10.2f}")


if __name__ == "__main__":
  app.run(main)
