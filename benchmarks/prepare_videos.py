r"""Benchmark: video preparation (frames/s) and tf.data reading of its records (clips/s).

  python -m benchmarks.prepare_videos [--videos=16] [--seconds=2] [--workers=0,1]

1. Makes `--videos` test videos (`--width`x`--height`, 30 fps, H.264 + AAC
   stereo audio, a moving texture) in 4 class folders.
2. Times `jvrl.data.prepare.prepare_videos` on them (every frame kept, short
   side `--short_side`, 48 kHz mono audio, JPEG quality 90) for each worker
   count in `--workers` (0 = every CPU): frames/s, wall time included worker
   start-up.
3. Times the CVRL training input pipeline on the records, with the settings of
   configs/cvrl_k400_r3d50.py except 112x112 crops (16-frame clips at stride 2,
   CVRL's augmentation with blur and flips): parse, CVRL temporal sampling,
   JPEG decoding of the sampled frames, two augmented views, batching. Then
   again with configs/cvrl_synthetic.py's augmentation (no blur, no flip, as
   benchmarks/input_pipeline.py measures). clips/s counts both views (2 per
   video), as benchmarks/input_pipeline.py.
"""
import os
import shutil
import tempfile
import time

import jvrl  # noqa: F401

from absl import app
from absl import flags
import av
import numpy as np

from jvrl.data.prepare import decode_video
from jvrl.data.prepare import inputs
from jvrl.data.prepare import parallel
from jvrl.data.prepare import video_record

# TensorFlow/JAX modules are imported inside the functions that need them: the
# preparation's worker processes are spawned and re-import this module, and
# they need neither (see jvrl/data/prepare/parallel.py).
# pylint: disable=g-import-not-at-top

_VIDEOS = flags.DEFINE_integer("videos", 16, "Test videos to make.")
_SECONDS = flags.DEFINE_float("seconds", 2.0, "Length of each video.")
_WIDTH = flags.DEFINE_integer("width", 320, "Frame width of the test videos.")
_HEIGHT = flags.DEFINE_integer("height", 240, "Frame height of the test videos.")
_SHORT_SIDE = flags.DEFINE_integer("short_side", 128, "--short_side of the preparation.")
_WORKERS = flags.DEFINE_list("workers", ["0", "1"], "Worker counts to time (0 = every CPU).")
_BATCHES = flags.DEFINE_integer("batches", 10, "Timed batches (after 2 warm-up batches).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 16, "Videos per batch.")
_FPS = 30


def make_videos(directory: str, count: int, seconds: float, width: int, height: int) -> int:
  """Writes `count` H.264/AAC mp4 files in 4 class folders; returns the frame count."""
  rng = np.random.default_rng(0)
  num_frames = int(round(seconds * _FPS))
  y, x = np.mgrid[:height, :width].astype(np.float32)
  for i in range(count):
    folder = os.path.join(directory, f"class{i % 4}")
    os.makedirs(folder, exist_ok=True)
    phase = rng.uniform(0, 2 * np.pi, 3)
    speed = rng.uniform(1, 4, 2)
    with av.open(os.path.join(folder, f"video{i:03d}.mp4"), "w") as out:
      video = out.add_stream("libx264", rate=_FPS)
      video.width, video.height, video.pix_fmt = width, height, "yuv420p"
      audio = out.add_stream("aac", rate=48000)
      audio.layout = "stereo"
      for t in range(num_frames):
        u, v = x - speed[0] * t, y - speed[1] * t
        image = np.stack([np.sin(u / 9 + phase[0]) * np.cos(v / 7), np.sin((u + v) / 13 + phase[1]),
                          np.cos(u / 5 - v / 11 + phase[2])], axis=-1)
        image = ((image + 1) * 127.5).astype(np.uint8)
        out.mux(video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
      out.mux(video.encode())
      step = audio.codec_context.frame_size
      total = int(seconds * 48000)
      for begin in range(0, total, step):
        tone = np.sin(2 * np.pi * 440 * np.arange(begin, begin + step) / 48000) * 0.3
        frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]).astype(np.float32),
                                           format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = 48000, begin
        out.mux(audio.encode(frame))
      out.mux(audio.encode())
  return count * num_frames


def time_preparation(video_dir: str, output_dir: str, workers: int) -> float:
  """Seconds to prepare every video of `video_dir` into `output_dir`."""
  from jvrl.data.prepare import prepare
  options = video_record.RecordOptions(
      decode=decode_video.DecodeOptions(short_side=_SHORT_SIDE.value, audio_rate=48000),
      jpeg_quality=90)
  start = time.perf_counter()
  summary = prepare.prepare_videos(inputs.list_videos(video_dir), output_dir, options=options,
                                   workers=workers or None, show_progress=False)
  seconds = time.perf_counter() - start
  if summary.failed:
    raise RuntimeError(f"{summary.failed} test videos failed: {summary.failure_reasons}")
  return seconds


def time_reading(pattern: str, augmentation: str) -> float:
  """clips/s of the CVRL training pipeline (2 views per video) on `pattern`.

  Args:
    pattern: the records.
    augmentation: 'k400' (configs/cvrl_k400_r3d50.py's) or 'synthetic'
      (configs/cvrl_synthetic.py's).
  """
  from configs import cvrl_k400_r3d50
  from configs import cvrl_synthetic
  from jvrl.data import pipeline
  from jvrl.objectives import build_objective
  config = cvrl_k400_r3d50.get_config()
  if augmentation == "synthetic":
    config.augment = cvrl_synthetic.get_config().augment
  config.data.train_files = pattern
  config.data.crop_size = 112
  config.data.shuffle_buffer = 64
  objective = build_objective(config)
  iterator = pipeline.make_train_dataset(config, objective.preprocess_train,
                                         _BATCH_SIZE.value).as_numpy_iterator()
  for _ in range(2):
    batch = next(iterator)
  assert batch["view1"].shape[1:] == (config.data.clip_length, 112, 112, 3), batch["view1"].shape
  start = time.perf_counter()
  for _ in range(_BATCHES.value):
    next(iterator)
  return 2 * _BATCH_SIZE.value * _BATCHES.value / (time.perf_counter() - start)


def main(argv):
  del argv
  root = tempfile.mkdtemp(prefix="jvrl_prepare_bench_")
  try:
    video_dir = os.path.join(root, "videos")
    frames = make_videos(video_dir, _VIDEOS.value, _SECONDS.value, _WIDTH.value,
                         _HEIGHT.value)
    rows = []
    for workers in (int(w) for w in _WORKERS.value):
      output_dir = os.path.join(root, f"records_{workers}")
      seconds = time_preparation(video_dir, output_dir, workers)
      rows.append((workers or parallel.default_workers(), seconds))
    size = sum(os.path.getsize(os.path.join(output_dir, f)) for f in os.listdir(output_dir)
               if f.endswith(".tfrecord"))
    pattern = os.path.join(output_dir, "train-*.tfrecord")
    rates = {name: time_reading(pattern, name) for name in ("k400", "synthetic")}
  finally:
    shutil.rmtree(root, ignore_errors=True)

  print(f"\nPreparation: {_VIDEOS.value} videos x {_SECONDS.value:g} s, {_WIDTH.value}x"
        f"{_HEIGHT.value} {_FPS} fps H.264 + AAC -> short side {_SHORT_SIDE.value}, every "
        f"frame, JPEG q90, 48 kHz mono ({frames} frames, {size / 2**20:.1f} MiB of records)")
  print(f"{'workers':>8}{'seconds':>10}{'frames/s':>10}{'videos/s':>10}")
  for workers, seconds in rows:
    print(f"{workers:>8}{seconds:>10.2f}{frames / seconds:>10.0f}"
          f"{_VIDEOS.value / seconds:>10.1f}")
  print("\nReading the records: CVRL train pipeline, 16x112x112 clips (stride 2), 2 views "
        f"per video, batch {_BATCH_SIZE.value}")
  print(f"{'augmentation':<44}{'clips/s':>10}")
  for name, text in (("k400", "configs/cvrl_k400_r3d50.py (blur, flip)"),
                     ("synthetic", "configs/cvrl_synthetic.py (no blur, no flip)")):
    print(f"{text:<44}{rates[name]:>10.1f}")


if __name__ == "__main__":
  app.run(main)
