r"""jvrl command line: pretrain and/or evaluate a video encoder from a config.

  python -m jvrl.main --config=configs/cvrl_synthetic.py --workdir=/tmp/run \
      [--mode=train|eval|train_and_eval] [--config.train.num_steps=200 ...]

`train` resumes automatically from the newest checkpoint in --workdir; `eval`
restores the newest checkpoint in --workdir and evaluates it.

Multi-host (one command per process, same --workdir on a shared filesystem):
  --coordinator_address=HOST0:PORT --num_processes=N --process_id=I, or the
  environment variables JVRL_COORDINATOR_ADDRESS / JVRL_NUM_PROCESSES /
  JVRL_PROCESS_ID, or --jax_distributed for JAX's cluster auto-detection
  (Cloud TPU, SLURM, ...). See README.md, "Running on a pod".

Start-up, in this order, each refusal one line (`jvrl: ...`, status 2) before
anything is written: the config (`jvrl.config_validation`); the workdir (a
file, not writable, or `--mode=eval` without a checkpoint;
`jvrl.train.workdir`), locked for this job; the newest checkpoint's config
against this one (`jvrl.train.checkpoint_config`); the data, made readable and
then checked (`jvrl.data.data_checks`: labels, overlaps, lengths, sizes,
counts; warnings are logged with their counts). README.md, "What jvrl
checks", lists every guarantee.

Exit status: 0 when done, and also when SIGTERM/SIGINT stopped the run at a
safe point anywhere (training writes a checkpoint; rerun the same command to
resume); 1 for a non-finite loss or a corrupt record (the message says which
step or file); 2 for an invalid config, flag, workdir or input (a
`jvrl.errors.UserError`: the message says what to change), and for a GPU or
TPU that JAX does not use (the message names the install extra;
--allow_cpu_fallback trains on the CPU anyway).
"""
import logging as std_logging
import os
import re
import shlex
import sys

import jvrl  # noqa: F401  (quiets TensorFlow before it is imported)

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to an ml-collections config file (configs/*.py).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and results.")
_MODE = flags.DEFINE_enum("mode", "train_and_eval", ["train", "eval", "train_and_eval"],
                          "What to run.")
_JAX_DISTRIBUTED = flags.DEFINE_bool(
    "jax_distributed", False,
    "Call jax.distributed.initialize() first (multi-host runs; the cluster is "
    "detected from the environment).")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "Multi-host: HOST:PORT of process 0 (with --num_processes "
    "and --process_id).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Multi-host: this process's index.")
_ALLOW_CPU_FALLBACK = flags.DEFINE_bool(
    "allow_cpu_fallback", False,
    "Train on the CPU even when this machine has a GPU or TPU that JAX does not use "
    "(normally a start-up error naming the install extra).")


class _OnlyJvrlInfo(std_logging.Filter):
  """Keeps INFO lines from jvrl's own code; other libraries' (orbax, jax) only
  from WARNING up. Their INFO chatter would drown the progress lines."""

  def filter(self, record: std_logging.LogRecord) -> bool:
    return record.levelno >= std_logging.WARNING or f"{os.sep}jvrl{os.sep}" in record.pathname


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(_OnlyJvrlInfo())
  from jvrl.train import distributed  # pylint: disable=g-import-not-at-top
  try:
    distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                           auto=_JAX_DISTRIBUTED.value)
  except ValueError as error:
    _exit(2, str(error))
  import jax  # pylint: disable=g-import-not-at-top
  from jvrl.train import accelerators  # pylint: disable=g-import-not-at-top
  unused = accelerators.check_this_machine(jax.default_backend())
  if unused and not _ALLOW_CPU_FALLBACK.value:
    _exit(2, unused.error_line())
  if unused:
    logging.warning("%s", unused.warning_line())
  from jvrl import config_validation  # pylint: disable=g-import-not-at-top
  from jvrl import errors  # pylint: disable=g-import-not-at-top
  from jvrl.data import pipeline  # pylint: disable=g-import-not-at-top
  from jvrl.train import preemption  # pylint: disable=g-import-not-at-top
  from jvrl.train import workdir as workdir_lib  # pylint: disable=g-import-not-at-top

  config, workdir, mode = _CONFIG.value, _WORKDIR.value, _MODE.value
  try:  # the one start-up check of the config; it writes nothing
    config_validation.validate_config(config, mode=mode)
  except config_validation.ConfigError as error:
    _exit(2, f"config error: {error}")
  try:
    workdir_lib.check_workdir(workdir, mode)  # creates it for training; eval: needs a checkpoint
    if jax.process_index() == 0:
      logging.info("jvrl %s, workdir %s, mode %s, %d process(es), platform %s, %d device(s): "
                   "%s", jvrl.__version__, workdir, mode, jax.process_count(),
                   jax.default_backend(), jax.device_count(), jax.devices()[0].device_kind)
    # One job per workdir; SIGTERM/SIGINT anywhere in the run stop it at a safe point.
    with workdir_lib.lock_workdir_for_job(workdir), preemption.PreemptionWatcher():
      _run(config, workdir, mode)
  except preemption.StopRequested as stopped:
    logging.warning("%s", stopped)
  except errors.UserError as error:
    _exit(2, str(error))
  except (FloatingPointError, pipeline.CorruptRecordError) as error:
    _exit(1, str(error))


def _run(config, workdir: str, mode: str) -> None:
  """The run once the config and the workdir are known to be usable."""
  import jax  # pylint: disable=g-import-not-at-top
  from jvrl import experiments  # pylint: disable=g-import-not-at-top
  from jvrl.data import data_checks  # pylint: disable=g-import-not-at-top
  from jvrl.data import sources  # pylint: disable=g-import-not-at-top
  from jvrl.train import trainer  # pylint: disable=g-import-not-at-top

  # The newest checkpoint's config is the truth: a resume or an evaluation with
  # another model, objective or optimiser stops here, before anything is written.
  trainer.check_checkpoint_fits(config, workdir, mode)
  if jax.process_index() == 0:  # the command the report shows (config.json: the trainer's)
    with open(os.path.join(workdir, "command.txt"), "w") as f:
      f.write(shlex.join(["python", "-m", "jvrl.main", *sys.argv[1:]]) + "\n")
  splits = (("train",) if mode != "eval" else ()) + (
      ("eval_train", "eval_test") if mode != "train" else ())
  try:  # the run's first step: make the data readable (generates the built-in set once)
    data = sources.prepare_data_source(config.data, splits)
  except ValueError as error:
    raise data_checks.DataCheckError(str(error)) from None
  if jax.process_index() == 0:
    logging.info("Data: %s.", data)
  # Labels, overlaps, lengths, sizes and counts, from record metadata only.
  report = data_checks.check_data(config, mode, experiments.data_expectations(config))
  if jax.process_index() == 0:
    logging.info("%s.", report.summary[0].upper() + report.summary[1:])
    for warning in report.warnings:
      logging.warning("Data: %s", warning)
  # The objective's experiment: training then evaluation for most (jvrl.experiments).
  experiments.run(config, workdir, mode)


def _exit(status: int, message: str) -> None:
  """Ends the program with `message` on one line (no traceback)."""
  sys.stderr.write(f"jvrl: {message}\n")
  sys.stderr.flush()
  sys.exit(status)


def parse_flags(argv: list[str]) -> list[str]:
  """Parses flags; a mistyped `--config.*` field is a one-line error naming it."""
  try:
    return flags.FLAGS(argv)
  except (AttributeError, KeyError) as e:
    overrides = " ".join(a.split("=")[0] for a in argv[1:] if a.startswith("--config."))
    text = str(e).replace("\\n", " ").replace("\\'", "'").replace("\n", " ")
    field = re.search(r"'([^']+)'", text)
    hint = re.search(r'Did you mean "[^"]+" instead of "[^"]+"\?', text)
    sys.stderr.write(
        f"jvrl: unknown config field {field.group(1) if field else ''!r} in {overrides}. "
        f"{hint.group(0) if hint else ''}\n"
        "Every --config.* override must name a field that exists in the config file.\n")
    sys.exit(2)
  except flags.Error as e:
    sys.stderr.write(f"jvrl: {e}\nPass --helpfull to see all flags.\n")
    sys.exit(2)


def run() -> None:
  flags.mark_flags_as_required(["config", "workdir"])
  app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
  sys.exit(run())
