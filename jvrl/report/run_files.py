"""What a finished run left in its WORKDIR that the report reads (besides
`jvrl.evaluation.saved_outputs`): results, config, command, training scalars.
"""
import glob
import json
import os

import ml_collections
import numpy as np

from jvrl.evaluation import saved_outputs

RESULTS_FILE = "results.json"
CONFIG_FILE = "config.json"
COMMAND_FILE = "command.txt"
TRAIN_EVENTS_SUBDIR = os.path.join("tensorboard", "train")


def read_results(workdir: str) -> dict[str, float]:
  """WORKDIR/eval/results.json; FileNotFoundError naming it when the run has none."""
  path = os.path.join(saved_outputs.eval_dir(workdir), RESULTS_FILE)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} does not exist: evaluate the run first "
                            "(python -m jvrl.main --mode=eval ...).")
  with open(path) as f:
    return json.load(f)


def read_config(workdir: str) -> ml_collections.ConfigDict | None:
  """The config the run was started with (WORKDIR/config.json), or None."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def read_command(workdir: str) -> str | None:
  """The command line of the run's last `jvrl.main` (WORKDIR/command.txt), or None."""
  path = os.path.join(workdir, COMMAND_FILE)
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return f.read().strip()


def training_runs(workdir: str) -> dict[str, str]:
  """{run name: its train event directory}: the run itself ('' ) first, then the
  runs it holds one or two levels down (TSP's 'initial' and 'tac',
  'finetune/<init>'), sorted by name."""
  found = {}
  for pattern in ("", "*", os.path.join("*", "*")):
    for directory in sorted(glob.glob(os.path.join(workdir, pattern, TRAIN_EVENTS_SUBDIR))):
      name = os.path.relpath(os.path.dirname(os.path.dirname(directory)), workdir)
      if glob.glob(os.path.join(directory, "events.out.tfevents.*")):
        found["" if name == "." else name] = directory
  return found


def read_scalars(event_dir: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """{tag: (steps int64 [S], values float64 [S])} of every scalar in `event_dir`'s
  event files, by step; a step written twice (a resumed run) keeps its last value."""
  from tensorboard.compat.proto import event_pb2  # pylint: disable=g-import-not-at-top
  from jvrl.data.tf_setup import tf  # pylint: disable=g-import-not-at-top
  by_tag: dict[str, dict[int, float]] = {}
  for path in sorted(glob.glob(os.path.join(event_dir, "events.out.tfevents.*"))):
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
      event = event_pb2.Event.FromString(record)
      for value in event.summary.value:
        if value.HasField("tensor"):
          array = tf.make_ndarray(value.tensor)
          if array.size != 1:
            continue
          number = float(array.reshape(()))
        elif value.HasField("simple_value"):
          number = float(value.simple_value)
        else:
          continue
        by_tag.setdefault(value.tag, {})[int(event.step)] = number
  return {tag: (np.asarray(sorted(points), np.int64),
                np.asarray([points[s] for s in sorted(points)], np.float64))
          for tag, points in by_tag.items()}
