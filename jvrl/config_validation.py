"""Start-up checks of an experiment config: each problem is one line saying what to change.

The entry point owns validation: `jvrl.main` calls `validate_config` once,
before any data is read, written or generated and before any model is
compiled, so a mistake costs seconds, not a compile or a dataset pass (the
trainer and the evaluation assume a validated config; a library user calls
`validate_config` first, as `main` does). Checking never writes anything. It
checks:

* the objective and model exist, the model accepts `config.model`'s options,
  and the two fit together (objectives put their own heads on the encoder's
  feature map, so `config.model.num_classes` must be unset); the objective
  checks its own config section (`check_config` of its module, see
  `jvrl.objectives`), and the evaluation layer refuses combinations it cannot
  evaluate;
* shapes: clip length, frame stride and crop sizes are positive, the training
  crop fits the synthetic frames, the eval crop fits the resized frames;
* `config.model.dtype` is a float type JAX computes in (mixed precision:
  'bfloat16' computes activations and matmuls in bfloat16 while the
  parameters, optimiser state and loss stay float32);
* the mesh fits the devices, the sharding rules are (regex, known tactic)
  pairs, and the train / eval batch sizes divide over the batch's devices and
  the processes; evaluation is asked for on one host only;
* the training settings (steps, intervals, guard and preemption options),
  the optimiser section (`optimizers.check_optimizer_config`: names, keys,
  types, ranges), `config.data.on_corrupt_record`, `config.data.train_split`
  and, when on, `config.eval.finetune` have valid values (and the fine-tuning
  run's own derived config is valid); when the mode evaluates, `config.eval`'s
  settings (`evaluate.check_eval_config`);
* for `source='records'`, every file pattern the mode needs matches record
  files (not directories); for any other source no `*_files` is set (it would
  be ignored while the run reads other data); a training mixture
  (`config.data.mixture`) has valid members whose train files exist;
* when training, the exported encoder the run starts from (`config.init_from`,
  or the experiment's own field such as `config.tsp.initial_encoder`) holds
  encoder.json and is the architecture of `config.model_name` / `config.model`
  (only encoder.json is read).

What needs the data itself (labels, overlaps, lengths, frame sizes, dataset
size vs batch) is checked after the data is made readable, by
`jvrl.data.data_checks`; what needs the workdir, by `jvrl.train.workdir` and
`jvrl.train.checkpoint_config`.
"""
import math
import re
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from jvrl import errors

COMPUTE_DTYPES = ("float32", "bfloat16", "float16")
_MODES = ("train", "eval", "train_and_eval")


class ConfigError(errors.UserError):
  """An invalid config; the message is one line naming the field to change."""


def _get(node: Any, path: str, default: Any = None) -> Any:
  for part in path.split("."):
    if node is None or not hasattr(node, "get"):
      return default
    node = node.get(part, None)
  return default if node is None else node


def _require(condition: bool, message: str) -> None:
  if not condition:
    raise ConfigError(message)


def _positive_ints(config, paths: tuple[str, ...]) -> None:
  for path in paths:
    value = _get(config, path)
    if value is not None:
      _require(isinstance(value, int) and value >= 1,
               f"config.{path}={value!r} must be a positive integer.")


def _check_objective_and_model(config) -> None:
  from jvrl import models  # pylint: disable=g-import-not-at-top
  from jvrl import objectives  # pylint: disable=g-import-not-at-top
  from jvrl.evaluation import objective_evaluations  # pylint: disable=g-import-not-at-top
  objective = _get(config, "objective")
  _require(objective in objectives.OBJECTIVE_NAMES, f"config.objective={objective!r} is "
           f"unknown; use one of {sorted(objectives.OBJECTIVE_NAMES)}.")
  try:
    objectives.check_objective_config(config)
    objective_evaluations.check_config(config)
  except ValueError as error:
    raise ConfigError(str(error)) from None
  model_name = _get(config, "model_name")
  _require(model_name in models.MODEL_NAMES, f"config.model_name={model_name!r} is unknown; "
           f"use one of {list(models.MODEL_NAMES)}.")
  model = _get(config, "model", {})
  options = models.model_options(model_name)
  for key in model:
    _require(key in options, f"config.model.{key} is not an option of {model_name!r}; it "
             f"accepts {list(options)}.")
  _require(_get(model, "num_classes") is None,
           f"config.model.num_classes={_get(model, 'num_classes')} makes {model_name!r} a "
           f"classifier, but objective {objective!r} needs its feature map: remove "
           "config.model.num_classes (objectives add their own heads).")
  dtype = _get(model, "dtype")
  if dtype is not None:
    _require(str(jnp.dtype(dtype) if not isinstance(dtype, str) else dtype) in COMPUTE_DTYPES,
             f"config.model.dtype={dtype!r} must be one of {COMPUTE_DTYPES} "
             "('bfloat16' = mixed precision with float32 parameters).")


def _check_data_source(config) -> None:
  """Record files are read only with `source='records'`: set anywhere else, they
  would be ignored while the run reads other data."""
  source = _get(config, "data.source", "synthetic")
  if source == "records":
    return
  for split in ("train", "eval_train", "eval_test"):
    files = _get(config, f"data.{split}_files", "")
    _require(not files, f"config.data.{split}_files={files!r} is set, but "
             f"config.data.source={source!r} reads "
             f"{'TFDS' if str(source).startswith('tfds:') else 'the built-in dataset'} and "
             "would ignore it: add --config.data.source=records to read the files, or drop "
             f"config.data.{split}_files.")


def _check_shapes(config) -> None:
  _positive_ints(config, ("data.clip_length", "data.frame_stride", "data.crop_size",
                          "eval.crop_size", "eval.resize_short_side", "eval.num_clips",
                          "eval.num_crops"))
  from jvrl.data import sources  # pylint: disable=g-import-not-at-top
  crop = _get(config, "data.crop_size")
  source = _get(config, "data.source", "synthetic")
  if source in sources.BUILT_IN:
    try:
      built_in, _ = sources.built_in_settings(config.data)  # reads the settings, writes nothing
    except ValueError as error:
      raise ConfigError(f"config.data.{source}: {error}") from None
    height, width = built_in.height, built_in.width
    if crop is not None:
      _require(crop <= min(height, width),
               f"config.data.crop_size={crop} is larger than the synthetic frames "
               f"({height}x{width}): lower it or raise config.data.{source}.height/width.")
  eval_crop, resize = _get(config, "eval.crop_size"), _get(config, "eval.resize_short_side")
  if eval_crop and resize:
    _require(eval_crop <= resize,
             f"config.eval.crop_size={eval_crop} exceeds config.eval.resize_short_side="
             f"{resize}: lower the crop or raise the resize.")


def _check_finetune(config, mode: str) -> None:
  """`config.eval.finetune` (fine-tuning after evaluation), when it is on."""
  from jvrl.data import sources  # pylint: disable=g-import-not-at-top
  split = _get(config, "data.train_split", "train")
  _require(split in sources.SPLITS,
           f"config.data.train_split={split!r} must be one of {sources.SPLITS}.")
  steps = _get(config, "eval.finetune.steps", 0)
  _require(isinstance(steps, int) and steps >= 0,
           f"config.eval.finetune.steps={steps!r} must be an integer >= 0 (0: no fine-tuning).")
  if mode == "train" or not steps:
    return
  _positive_ints(config, ("eval.finetune.batch_size", "eval.finetune.num_clips",
                          "eval.finetune.num_crops", "eval.finetune.resize_short_side"))
  classes = _get(config, "eval.finetune.num_classes")
  _require(isinstance(classes, int) and classes >= 2,
           f"config.eval.finetune.num_classes={classes!r} must be the number of classes (>= 2).")
  resize, crop = _get(config, "eval.finetune.resize_short_side"), _get(config, "data.crop_size")
  if resize and crop:
    _require(resize >= crop, f"config.eval.finetune.resize_short_side={resize} is below "
             f"config.data.crop_size={crop}: the random training crop would not fit.")
  warmup = _get(config, "eval.finetune.optimizer.warmup_steps",
                _get(config, "optimizer.warmup_steps", 0))
  _require(warmup <= steps, f"fine-tuning warm-up ({warmup} steps) exceeds "
           f"config.eval.finetune.steps={steps}: set config.eval.finetune.optimizer.warmup_steps.")
  videos = _get(config, "eval.finetune.validation_videos", 0)
  _require(isinstance(videos, int) and not isinstance(videos, bool) and videos >= 0,
           f"config.eval.finetune.validation_videos={videos!r} must be an integer >= 0 "
           "(eval_train videos held out for validation; 0: none).")
  if videos:
    every = _get(config, "eval.finetune.validation_every")
    _require(isinstance(every, int) and not isinstance(every, bool) and every >= 1,
             f"config.eval.finetune.validation_every={every!r} must be the steps between "
             "validations (>= 1, e.g. one epoch) when validation_videos > 0.")
    clips = _get(config, "eval.finetune.validation_clips", 1)
    _require(isinstance(clips, int) and not isinstance(clips, bool) and clips >= 1,
             f"config.eval.finetune.validation_clips={clips!r} must be an integer >= 1.")
    _require(not _get(config, "data.source", "synthetic").startswith(sources.TFDS_PREFIX),
             "config.eval.finetune.validation_videos needs the 'records' or a built-in data "
             "source (the held-out videos are chosen by their names in the records).")



def _check_devices(config, mode: str) -> None:
  from jvrl.data import device_batches  # pylint: disable=g-import-not-at-top
  from jvrl.train import sharding  # pylint: disable=g-import-not-at-top
  mesh_config = _get(config, "mesh", {"data": -1})
  try:
    mesh = sharding.make_mesh(dict(mesh_config))
  except ValueError as error:
    raise ConfigError(str(error)) from None
  for rule in _get(config, "sharding_rules", ()):
    _require(len(rule) == 2, f"config.sharding_rules entry {rule!r} must be a (regex, tactic) "
             "pair.")
    pattern, tactic = rule
    try:
      re.compile(pattern)
    except re.error as error:
      raise ConfigError(f"config.sharding_rules regex {pattern!r} is invalid: {error}.") from None
    _require(tactic in sharding.TACTICS, f"config.sharding_rules tactic {tactic!r} for "
             f"{pattern!r} is unknown; use one of {sharding.TACTICS}.")
  shards, processes = device_batches.num_batch_shards(mesh), jax.process_count()
  _require(mode == "train" or processes == 1,
           f"Evaluation runs on one host for now, but this run has {processes} processes: "
           "train with --mode=train on the pod, then run --mode=eval on one host.")
  multiple = math.lcm(shards, processes)
  fields = ["train.batch_size"] if mode != "eval" else []
  fields += ["eval.batch_size"] if mode != "train" else []
  if mode != "train" and _get(config, "eval.finetune.steps", 0):
    fields.append("eval.finetune.batch_size")
  if mode != "train" and _get(config, "eval.linear_probe.protocol", "fast") == "cvrl":
    fields.append("eval.linear_probe.cvrl.batch_size")
  for field in fields:
    size = _get(config, field)
    if size is None:
      continue
    _require(isinstance(size, int) and size > 0 and size % multiple == 0,
             f"config.{field}={size} must be a positive multiple of {shards} (the devices the "
             f"batch is split over, mesh axes {device_batches.batch_axes(mesh)}) and of the "
             f"{processes} process(es), e.g. {multiple * max(1, round(size / multiple))}.")


def _check_training(config) -> None:
  from jvrl.data import sources  # pylint: disable=g-import-not-at-top
  _positive_ints(config, ("train.num_steps", "train.log_every", "train.checkpoint_every",
                          "train.keep_checkpoints", "train.preemption_sync_every"))
  warmup, steps = _get(config, "optimizer.warmup_steps"), _get(config, "train.num_steps")
  if isinstance(warmup, int) and isinstance(steps, int):
    _require(warmup <= steps, f"config.optimizer.warmup_steps={warmup} exceeds "
             f"config.train.num_steps={steps}: lower the warm-up or train longer.")
  for flag in ("skip_nonfinite", "export_teacher"):
    value = _get(config, f"train.{flag}", False)
    _require(isinstance(value, bool), f"config.train.{flag}={value!r} must be True or False.")
  on_corrupt = _get(config, "data.on_corrupt_record", "fail")
  _require(on_corrupt in sources.CORRUPT_RECORD_MODES, "config.data.on_corrupt_record="
           f"{on_corrupt!r} must be one of {sources.CORRUPT_RECORD_MODES}.")
  from jvrl.train import optimizers  # pylint: disable=g-import-not-at-top
  try:
    optimizers.check_optimizer_config(_get(config, "optimizer", {}))
  except ValueError as error:
    raise ConfigError(str(error)) from None
  _require(_get(config, "optimizer.plateau_metric", "train_loss") != "validation_loss"
           or _get(config, "data.held_out"),
           "config.optimizer.plateau_metric='validation_loss' needs a held-out validation "
           "split, which only fine-tuning has (config.eval.finetune.validation_videos > 0 "
           "sets it there by itself).")


def _check_evaluation(config, mode: str) -> None:
  """`config.eval`'s frozen-evaluation settings, when the mode runs the shared evaluation."""
  from jvrl import experiments  # pylint: disable=g-import-not-at-top
  from jvrl.evaluation import evaluate  # pylint: disable=g-import-not-at-top
  from jvrl.evaluation import untrimmed  # pylint: disable=g-import-not-at-top
  if mode == "train":
    return
  try:
    untrimmed.check_localization_config(config)
    if experiments.data_expectations(config).classification_eval:
      evaluate.check_eval_config(config)
  except ValueError as error:
    raise ConfigError(str(error)) from None


def _check_files(config, mode: str) -> None:
  from jvrl.data import sources  # pylint: disable=g-import-not-at-top
  if _get(config, "data.source", "synthetic") != "records":
    return
  splits = (["train"] if mode != "eval" else []) + (
      ["eval_train", "eval_test"] if mode != "train" else [])
  for split in splits:
    try:
      sources.list_split_files(config.data, split)
    except ValueError as error:
      raise ConfigError(str(error)) from None


def _check_mixture(config, mode: str) -> None:
  """`config.data.mixture`'s members (`sources.mixture_members`) and, when training,
  their record files."""
  from jvrl.data import sources  # pylint: disable=g-import-not-at-top
  try:
    members = sources.mixture_members(config.data)
  except ValueError as error:
    raise ConfigError(str(error)) from None
  if members and _get(config, "data.train_split", "train") != "train":
    return  # Fine-tuning's derived run trains on eval_train, which never mixes.
  for name, _, member in members:
    source = member.get("source", "synthetic")
    _require(source == "records" or not member.get("train_files"),
             f"config.data.mixture.{name} reads source={source!r}, which would ignore its "
             "train_files: set its source='records', or drop train_files.")
    if mode != "eval" and source == "records":
      try:
        sources.list_split_files(member, "train")
      except ValueError as error:
        raise ConfigError(sources.member_error(name, error)) from None


def _check_initial_encoder(config, mode: str) -> None:
  """The exported encoder a training run starts from, if the config names one."""
  from jvrl import experiments  # pylint: disable=g-import-not-at-top
  if mode == "eval":
    return
  init_from = _get(config, "init_from", "")
  _require(isinstance(init_from, str), f"config.init_from={init_from!r} must be the directory "
           "of an exported encoder, or '' to start from a random initialisation.")
  try:
    experiments.check_initial_encoder(config)
  except (ValueError, FileNotFoundError) as error:
    raise ConfigError(str(error)) from None


def validate_config(config: ml_collections.ConfigDict, mode: str = "train_and_eval", *,
                    derived_runs: bool = True) -> None:
  """Checks `config` for `mode` ('train', 'eval' or 'train_and_eval').

  With `derived_runs`, the training runs the objective's experiment derives
  from `config` (`jvrl.experiments.derived_configs`, e.g. TSP's initial
  encoder, TAC and TSP runs) are checked as well.

  Raises:
    ConfigError: the first problem found, as one line naming the field.
  """
  _require(mode in _MODES, f"mode={mode!r} must be one of {_MODES}.")
  _check_objective_and_model(config)
  _check_data_source(config)
  _check_shapes(config)
  _check_training(config)
  _check_evaluation(config, mode)
  _check_finetune(config, mode)
  _check_devices(config, mode)
  _check_files(config, mode)
  _check_mixture(config, mode)
  _check_initial_encoder(config, mode)
  _check_finetuning_run(config, mode)
  if derived_runs:
    _check_derived_runs(config, mode)


def _check_derived_runs(config, mode: str) -> None:
  """The training runs an experiment derives from this config (e.g. TSP's initial
  encoder, TAC and TSP runs), each as a training run."""
  from jvrl import experiments  # pylint: disable=g-import-not-at-top
  if mode == "eval":
    return
  for name, derived in experiments.derived_configs(config).items():
    try:
      validate_config(derived, mode="train", derived_runs=False)
    except ConfigError as error:
      raise ConfigError(f"the experiment's {name!r} run is invalid: {error}") from None


def _check_finetuning_run(config, mode: str) -> None:
  """The supervised run that fine-tuning trains (its config is derived from this one)."""
  from jvrl.evaluation import finetune  # pylint: disable=g-import-not-at-top
  if mode == "train" or not finetune.finetune_enabled(config):
    return
  try:
    validate_config(finetune.finetune_config(config), mode="train")
  except ConfigError as error:
    raise ConfigError(f"the fine-tuning run derived from config.eval.finetune is invalid: "
                      f"{error}") from None
