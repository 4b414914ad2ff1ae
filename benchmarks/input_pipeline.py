r"""Benchmark: tf.data CVRL input pipeline throughput (clips/s) on synthetic records.

  python -m benchmarks.input_pipeline [--batches=20] [--sizes=8x32x64,16x112x128]

For each SIZE = TxCROPxFRAME it generates (once, cached) a synthetic dataset
with FRAMExFRAME frames, then times the full CVRL training pipeline: parse,
CVRL temporal sampling, JPEG decoding of the sampled frames, temporally
consistent augmentation of two views, batching. clips = 2 per example.
"""
import time

import jvrl  # noqa: F401

from absl import app
from absl import flags

from configs import cvrl_synthetic
from jvrl.data import pipeline
from jvrl.objectives import build_objective

_BATCHES = flags.DEFINE_integer("batches", 20, "Timed batches (after 2 warm-up batches).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 32, "Examples per batch.")
_SIZES = flags.DEFINE_list("sizes", ["8x32x64", "16x112x128"],
                           "Clip length x crop size x frame size to measure.")


def measure(clip_length: int, crop: int, frame: int) -> float:
  config = cvrl_synthetic.get_config()
  config.data.synthetic.update(dict(height=frame, width=frame, train_videos=256,
                                    eval_train_videos=0, eval_test_videos=0))
  config.data.clip_length, config.data.crop_size = clip_length, crop
  objective = build_objective(config)
  iterator = pipeline.make_train_dataset(
      config, objective.preprocess_train, _BATCH_SIZE.value).as_numpy_iterator()
  for _ in range(2):
    next(iterator)
  start = time.perf_counter()
  for _ in range(_BATCHES.value):
    next(iterator)
  return 2 * _BATCH_SIZE.value * _BATCHES.value / (time.perf_counter() - start)


def main(argv):
  del argv
  rows = []
  for size in _SIZES.value:
    t, crop, frame = (int(v) for v in size.split("x"))
    rows.append((t, crop, frame, measure(t, crop, frame)))
  print("\nCVRL input pipeline (tf.data, 2 augmented views per video, JPEG frames)")
  print(f"{'clip':>6}{'crop':>6}{'frames':>8}{'clips/s':>10}")
  for t, crop, frame, rate in rows:
    print(f"{t:>6}{crop:>6}{frame:>5}^2{rate:>10.1f}")


if __name__ == "__main__":
  app.run(main)
