"""Multi-host start-up settings, and a real 2-process training run on localhost."""
import glob
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from jvrl.train import distributed

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multihost_worker.py")


def test_flags_win_over_environment():
  env = {distributed.ENV_COORDINATOR_ADDRESS: "envhost:1", distributed.ENV_NUM_PROCESSES: "4",
         distributed.ENV_PROCESS_ID: "3"}
  args = distributed.resolve_args("host0:1234", 2, 1, environ=env)
  assert args == distributed.DistributedArgs("host0:1234", 2, 1)
  assert distributed.resolve_args(environ=env) == distributed.DistributedArgs("envhost:1", 4, 3)


def test_auto_detection_and_single_process():
  assert distributed.resolve_args(environ={}) is None
  assert distributed.resolve_args(auto=True, environ={}) == distributed.DistributedArgs()


@pytest.mark.parametrize("kwargs, env, match", [
    (dict(coordinator_address="h:1", num_processes=2), {}, "must be given together"),
    ({}, {distributed.ENV_COORDINATOR_ADDRESS: "h:1"}, "missing: JVRL_NUM_PROCESSES"),
    (dict(coordinator_address="h", num_processes=2, process_id=0), {}, "HOST:PORT"),
    (dict(coordinator_address="h:1", num_processes=2, process_id=2), {}, "process_id <"),
])
def test_incomplete_or_bad_settings_are_one_line_errors(kwargs, env, match):
  with pytest.raises(ValueError, match=match) as error:
    distributed.resolve_args(**kwargs, environ=env)
  assert "\n" not in str(error.value)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_reach_the_same_parameters_as_one(tiny_cvrl_config, tmp_path):
  """2 processes x 2 CPU devices (gloo) == 1 process x 4 devices on the same global batches."""
  from jvrl.data import sources  # pylint: disable=g-import-not-at-top
  cache_dir = tiny_cvrl_config.data.synthetic.cache_dir
  sources.list_split_files(tiny_cvrl_config.data, "train")  # generate the data once, here
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  workdir, port = str(tmp_path / "run"), str(_free_port())
  multi_out, single_out = str(tmp_path / "multi.npz"), str(tmp_path / "single.npz")
  workers = [subprocess.Popen(
      [sys.executable, WORKER, "train", port, str(i), workdir, cache_dir, multi_out],
      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
  logs = [w.communicate(timeout=600)[0] for w in workers]
  reference = subprocess.run([sys.executable, WORKER, "reference", "-", cache_dir, single_out],
                             env=env, capture_output=True, text=True, timeout=600)
  for worker, log in zip(workers, logs):
    assert worker.returncode == 0, log[-3000:]
  assert reference.returncode == 0, reference.stderr[-3000:]

  # Only process 0 logs progress and writes summaries; both took part in the checkpoint.
  assert "step 3/3" in logs[0] and "step 3/3" not in logs[1] and "step 1/3" not in logs[1]
  assert len(glob.glob(os.path.join(workdir, "tensorboard", "train", "*"))) == 1
  assert os.path.isdir(os.path.join(workdir, "checkpoints", "3"))
  multi, single = np.load(multi_out), np.load(single_out)
  init = np.load(single_out.replace(".npz", "_init.npz"))
  assert sorted(multi.files) == sorted(single.files) == sorted(init.files)
  # Equal up to summation order (gloo across processes vs one process's
  # all-reduce): measured at most 0.07% of a leaf's movement (as between 2 and
  # 4 devices in one process). A process training on the wrong data or with
  # per-process batch statistics differs by the order of the movement itself.
  for name in single.files:
    moved = np.abs(single[name] - init[name]).max()
    difference = np.abs(multi[name] - single[name]).max()
    assert difference <= 1e-2 * moved + 1e-7, (name, difference, moved)
