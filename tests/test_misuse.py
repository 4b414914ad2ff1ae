"""No silent wrong results: each misuse of issue 20 is used correctly or refused in one line.

One section per numbered case. Each test runs what `jvrl.main` runs (the same
function, in process, where the check is pure; `python -m jvrl.main` where the
exit status, the one-line stderr or a signal is the point) and asserts the
outcome: the data used, the warning with its count, or the one-line error.
"""
import json
import logging
import os
import subprocess
import sys

import ml_collections
import pytest
from conftest import TINY_CVRL_OVERRIDES, make_tiny_cvrl_config

from jvrl import errors
from jvrl.train import trainer
from jvrl.train import workdir as workdir_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_FLAGS = [f"--config.{path}={value}" for path, value in TINY_CVRL_OVERRIDES.items()]


@pytest.fixture(scope="module")
def trained(synthetic_cache_dir, tmp_path_factory):
  """A finished tiny CVRL run (4 steps, checkpoints at 2 and 4): (config, workdir)."""
  config = make_tiny_cvrl_config(synthetic_cache_dir)
  workdir = str(tmp_path_factory.mktemp("trained"))
  trainer.train(config, workdir)
  return config, workdir


def _main(workdir, cache_dir, *flags, popen=False):
  """`python -m jvrl.main` on the tiny CVRL config (this checkout's code)."""
  env = dict(os.environ, JVRL_CACHE_DIR=cache_dir, PYTHONPATH=REPO)
  command = [sys.executable, "-m", "jvrl.main", "--config=configs/cvrl_synthetic.py",
             f"--workdir={workdir}", *TINY_FLAGS, *flags]
  if popen:
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
  return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=600)


def _one_line_error(result, *needles):
  """Status 2, one `jvrl:` line with `needles`, no traceback and no library noise."""
  assert result.returncode == 2, result.stderr[-3000:]
  lines = [l for l in result.stderr.splitlines() if l.startswith("jvrl:")]
  assert len(lines) == 1, result.stderr[-3000:]
  for needle in needles:
    assert needle in lines[0], lines[0]
  for noise in ("Traceback", "Event loop is closed", "cannot schedule new futures"):
    assert noise not in result.stderr, result.stderr[-3000:]
  return lines[0]


# ---- 4. The checkpoint's config is the truth -------------------------------------------


@pytest.mark.parametrize("path, value, named", [
    ("model.width_multiplier", 0.125, "config.model.width_multiplier=0.125 (checkpoint: "
                                      "0.0625)"),
    ("model.input_transform", "rgb", "config.model.input_transform='rgb' (checkpoint: "
                                     "'frame_difference')"),
    ("model_name", "r3d_18", "config.model_name='r3d_18' (checkpoint: 'r3d_prp')"),
])
def test_4_evaluating_with_another_model_is_refused(trained, path, value, named):
  config, workdir = trained
  config = ml_collections.ConfigDict(config.to_dict())
  *parents, leaf = path.split(".")
  node = config
  for parent in parents:
    node = node[parent]
  node[leaf] = value
  for check in (lambda: trainer.check_checkpoint_fits(config, workdir, "eval"),
                lambda: trainer.restore_latest_state(config, workdir)):
    with pytest.raises(trainer.checkpoint_config.CheckpointMismatchError) as error:
      check()
    assert named in str(error.value) and "\n" not in str(error.value)


def test_4_main_refuses_another_model_in_one_line_and_rewrites_nothing(trained,
                                                                       synthetic_cache_dir):
  _, workdir = trained
  before = sorted(os.listdir(workdir)), os.path.getmtime(os.path.join(workdir, "config.json"))
  result = _main(workdir, synthetic_cache_dir, "--mode=eval",
                 "--config.model.width_multiplier=0.125")
  _one_line_error(result, "--mode=eval: the checkpoint of step 4",
                  "config.model.width_multiplier=0.125 (checkpoint: 0.0625)")
  assert (sorted(os.listdir(workdir)),
          os.path.getmtime(os.path.join(workdir, "config.json"))) == before


# ---- 5. Counts: clip span, batch vs dataset, k vs gallery, steps vs checkpoint -----------


def test_5_fewer_steps_than_the_checkpoint_are_refused(trained):
  config, workdir = trained
  config = ml_collections.ConfigDict(config.to_dict())
  config.train.num_steps = 2
  with pytest.raises(trainer.checkpoint_config.CheckpointMismatchError,
                     match=r"config.train.num_steps=2 is below step 4 .* --mode=eval"):
    trainer.check_checkpoint_fits(config, workdir, "train")


# ---- 6. One job per workdir ----------------------------------------------------------------


def test_6_a_second_job_is_refused_and_a_dead_jobs_lock_taken_over(tmp_path, caplog):
  workdir = str(tmp_path)
  with workdir_lib.WorkdirLock(workdir):
    with pytest.raises(workdir_lib.WorkdirError,
                       match=rf"in use by another jvrl run \(host .*, PID {os.getpid()}, since"):
      workdir_lib.WorkdirLock(workdir).acquire()
  assert not os.path.exists(os.path.join(workdir, workdir_lib.LOCK_FILE))  # released
  gone = subprocess.Popen(["true"])
  gone.wait()
  lock_path = os.path.join(workdir, workdir_lib.LOCK_FILE)
  with open(lock_path, "w") as f:  # left by a killed run of this host
    json.dump({"host": workdir_lib.socket.gethostname(), "pid": gone.pid, "token": "old"}, f)
  with caplog.at_level(logging.WARNING), workdir_lib.WorkdirLock(workdir):
    assert f"PID {gone.pid}" in caplog.text and "Took over the lock" in caplog.text
  with open(lock_path, "w") as f:  # another host: cannot be checked from here
    json.dump({"host": "elsewhere", "pid": 1, "token": "x"}, f)
  with pytest.raises(workdir_lib.WorkdirError, match=r"host elsewhere, PID 1.*delete the lock "
                                                     r"file only once"):
    workdir_lib.WorkdirLock(workdir).acquire()


def test_6_main_refuses_a_workdir_in_use(tmp_path, synthetic_cache_dir):
  workdir = str(tmp_path / "busy")
  os.makedirs(workdir)
  with workdir_lib.WorkdirLock(workdir):  # a running job of this host: this test process
    result = _main(workdir, synthetic_cache_dir, "--mode=train")
  _one_line_error(result, f"--workdir={workdir} is in use by another jvrl run",
                  f"PID {os.getpid()}")
  assert os.listdir(workdir) == []  # nothing written beside the (released) lock


# ---- 8. Errors that are one line (status 2) naming the setting or file ---------------------


def test_8_a_workdir_that_is_a_file_or_cannot_be_created(tmp_path):
  path = tmp_path / "a_file"
  path.write_text("")
  with pytest.raises(workdir_lib.WorkdirError, match=r"is a file, not a directory"):
    workdir_lib.check_workdir(str(path), "train")
  with pytest.raises(workdir_lib.WorkdirError, match=r"cannot create --workdir=.*a_file/run"):
    workdir_lib.check_workdir(str(path / "run"), "train")
  assert isinstance(workdir_lib.WorkdirError("x"), errors.UserError)  # jvrl.main: status 2


def test_8_eval_on_an_empty_workdir_is_one_line_and_creates_nothing(tmp_path,
                                                                    synthetic_cache_dir):
  workdir = str(tmp_path / "never_trained")
  result = _main(workdir, synthetic_cache_dir, "--mode=eval")
  _one_line_error(result, f"--mode=eval found no checkpoint in {workdir}/checkpoints")
  assert not os.path.exists(workdir)
