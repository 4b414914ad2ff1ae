r"""Per-clip features of every video, from any trained jvrl encoder, for localization models.

  python -m jvrl.extract_features --workdir=DIR --files='/data/anet/val-*.tfrecord' \
      --output=DIR/features/val.h5 --clip_length=16 --stride=16

writes one float32 [num_clips, D] array per video (H5 keyed by the video's
name = its file name without folders or extension, the layout of TSP's
released features, which G-TAD / BMN / BMT read; `--format=npy` writes one
`<name>.npy` per video plus `manifest.json`). Clip i of a video starts at
frame i * stride and takes `clip_length` frames every `frame_stride`
frames; frames are resized (short side) and centre-cropped; the feature is
the encoder's globally average-pooled output (the features of
`jvrl.evaluation.clip_features`). Each video's clip start frames and
seconds, fps, length and clip settings are stored beside it (H5 attributes /
manifest). A video shorter than one clip is written with zero rows and
flagged (`short_video=1`, and a warning), never dropped.

The encoder: `--encoder=DIR/export/encoder`, or the export of `--workdir`
(CVRL, PRP, VATT's video tower, supervised, TSP: every run exports one).
Clip length, frame stride and the crop default to the run's own
(`--workdir`'s config.json), else 16 / 1 / 128 -> 112 (TSP's).

Batches of clips are sharded over every local device; progress and clips/s
are logged. Rerunning the same command resumes: videos already written are
skipped. Exit status: 0; 2 for a bad flag, missing files or encoder.
"""
import json
import os
import sys

import jvrl  # noqa: F401  (quiets TensorFlow before it is imported)

from absl import app
from absl import flags
from absl import logging

FLAGS = flags.FLAGS


def define_flags() -> None:
  """Defines the command line's flags (only when run as a program: a library import
  defines none, so it never clashes with another tool's flags in one process)."""
  flags.DEFINE_string("workdir", "", "A jvrl run directory (its export/encoder and "
                                 "config.json give the encoder and the clip defaults).")
  flags.DEFINE_string("encoder", "", "An exported encoder directory (default: "
                                 "WORKDIR/export/encoder).")
  flags.DEFINE_string("files", None, "Record files: comma-separated globs.")
  flags.DEFINE_string("output", None, "Output H5 file (--format=h5) or directory "
                                "(--format=npy).")
  flags.DEFINE_enum("format", "h5", ["h5", "npy"], "Output layout.")
  flags.DEFINE_integer("clip_length", None, "Frames per clip.")
  flags.DEFINE_integer("frame_stride", None, "Step between a clip's frames.")
  flags.DEFINE_integer("stride", 16, "Frames between consecutive clip starts "
                                 "(TSP: 16 for ActivityNet, 1 for THUMOS14).")
  flags.DEFINE_integer("resize_short_side", None, "Short side after resizing.")
  flags.DEFINE_integer("crop_size", None, "Centre crop side.")
  flags.DEFINE_integer("batch_size", 64, "Clips per batch (over all devices).")
  flags.DEFINE_float("fps", 0.0, "Frame rate of records that store none (for the clip "
                            "times in seconds).")


DEFAULTS = {"clip_length": 16, "frame_stride": 1, "resize_short_side": 128, "crop_size": 112}


def _exit(message: str) -> None:
  sys.stderr.write(f"jvrl.extract_features: {message}\n")
  sys.exit(2)


def run_config_defaults(workdir: str) -> dict:
  """Clip settings of the run in `workdir` (its config.json), where it has them."""
  path = os.path.join(workdir, "config.json") if workdir else ""
  if not path or not os.path.isfile(path):
    return {}
  with open(path) as f:
    config = json.load(f)
  data, evaluation = config.get("data", {}), config.get("eval", {})
  found = {"clip_length": data.get("clip_length"), "frame_stride": data.get("frame_stride"),
           "resize_short_side": evaluation.get("resize_short_side"),
           "crop_size": evaluation.get("crop_size")}
  return {k: v for k, v in found.items() if v}


def extract(encoder_dir: str, files: str, output: str, file_format: str, grid, batch_size: int,
            fallback_fps: float = 0.0) -> dict:
  """Writes the clip features of every video of `files` to `output`; returns counts."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from jvrl.data import feature_files  # pylint: disable=g-import-not-at-top
  from jvrl.data import sources  # pylint: disable=g-import-not-at-top
  from jvrl.evaluation import clip_features  # pylint: disable=g-import-not-at-top
  from jvrl.train import checkpointing  # pylint: disable=g-import-not-at-top
  from jvrl.train import sharding  # pylint: disable=g-import-not-at-top

  encoder, variables = checkpointing.load_encoder(encoder_dir)
  data = ml_collections.ConfigDict(dict(source="records", eval_test_files=files))
  mesh = sharding.make_mesh({"data": -1})
  counts = {"videos": 0, "clips": 0, "short_videos": 0, "skipped_done": 0}
  with feature_files.FeatureWriter(output, file_format) as writer:
    done = frozenset(writer.completed())
    counts["skipped_done"] = len(done)
    examples = clip_features.skip_videos(
        sources.make_example_dataset(data, "eval_test", shuffle_files=False, seed=0), done)
    for video in clip_features.extract_clip_features(encoder, variables, examples, grid, mesh,
                                                     batch_size):
      fps = video.fps if video.fps > 0 else fallback_fps
      attributes = {
          "filename": video.filename, "num_frames": video.num_frames, "fps": fps,
          "clip_length": grid.clip_length, "frame_stride": grid.frame_stride,
          "clip_stride": grid.clip_stride, "clip_start_frames": video.clip_starts,
          "short_video": int(len(video.features) == 0)}
      if fps > 0:
        attributes["clip_start_seconds"] = video.clip_starts.astype(np.float64) / fps
      writer.write(video.key, video.features, attributes)
      counts["videos"] += 1
      counts["clips"] += len(video.features)
      counts["short_videos"] += int(len(video.features) == 0)
  return counts


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.INFO)
  from jvrl.evaluation import clip_features  # pylint: disable=g-import-not-at-top
  from jvrl.train import trainer  # pylint: disable=g-import-not-at-top
  if not FLAGS.files or not FLAGS.output:
    _exit("--files and --output are required.")
  encoder_dir = FLAGS.encoder or (
      os.path.join(FLAGS.workdir, trainer.EXPORT_SUBDIR) if FLAGS.workdir else "")
  if not encoder_dir:
    _exit("name the encoder: --workdir=RUN_DIR (uses RUN_DIR/export/encoder) or "
          "--encoder=EXPORT_DIR.")
  settings = {**DEFAULTS, **run_config_defaults(FLAGS.workdir)}
  for name in ("clip_length", "frame_stride", "resize_short_side", "crop_size"):
    if FLAGS[name].value is not None:
      settings[name] = FLAGS[name].value
  try:
    grid = clip_features.ClipGrid(clip_stride=FLAGS.stride, **settings)
  except ValueError as error:
    _exit(str(error))
  logging.info("Encoder %s; clips of %d frames every %d frames (frame stride %d), resized to "
               "%d, centre crop %d; writing %s (%s).", encoder_dir, grid.clip_length,
               grid.clip_stride, grid.frame_stride, grid.resize_short_side, grid.crop_size,
               FLAGS.output, FLAGS.format)
  try:
    counts = extract(encoder_dir, FLAGS.files, FLAGS.output, FLAGS.format, grid,
                     FLAGS.batch_size, FLAGS.fps)
  except (FileNotFoundError, ValueError) as error:
    _exit(str(error).splitlines()[0])
  logging.info("Done: %d videos (%d clips, %d shorter than one clip, written with zero rows); "
               "%d were already in %s.", counts["videos"], counts["clips"],
               counts["short_videos"], counts["skipped_done"], FLAGS.output)


if __name__ == "__main__":
  define_flags()
  app.run(main)
