"""Full fine-tuning of a pretrained encoder, tested with multi-clip logit averaging.

The protocol PRP follows (REFERENCE §3): the whole network (encoder + a new
linear classifier) is trained with labels on the eval-train split, one random
crop of one clip per video per step; each eval-test video is then classified
from `num_clips` evenly spaced clips (x `num_crops` crops) whose LOGITS are
averaged. It runs the shared trainer on a derived supervised config
(`finetune_config`), so fine-tuning gets checkpoints, resume, progress lines
and TensorBoard like any training run, under WORKDIR/finetune/<init>.

`config.eval.finetune` (absent or steps=0: no fine-tuning):
  steps, batch_size, num_classes: the training run; batch_size is global.
  resize_short_side, flip_prob: the training augmentation (resize the short
    side, one random `config.data.crop_size` crop, optional flip).
  num_clips, num_crops: test views per video (PRP: 10 clips, 1 centre crop).
  optimizer: optimiser fields overriding `config.optimizer` (e.g. the lr).
  random_init_baseline: also fine-tune a randomly initialised encoder the
    same way (`random_init_finetune_top1`: training from scratch).
  validation_videos: > 0 holds that many eval_train videos out of the
    fine-tuning (PRP: 800 of UCF101's, 400 of HMDB51's; ft_classfy.py `main`,
    `random_split`), chosen by name (`jvrl.data.held_out`; never from
    eval_test) once per evaluation and shared by both encoders
    (WORKDIR/finetune/validation_videos.json). 0 (default): no held-out split.
  validation_every: validate every that many steps (e.g. one epoch) and after
    the last; required with validation_videos.
  validation_clips: evenly spaced clips per validation video (1 centre crop
    each; default 1, the centre clip), logits averaged.

With a held-out split the run validates between train steps (`trainer.train`'s
`Validation` hook: one train step, the evaluation slotted between steps),
keeps the state of the best validation top-1 (the later one on ties, as PRP)
and tests THAT state; reduce-on-plateau, when on, watches the validation loss
(`optimizer.plateau_metric='validation_loss'`, set here). Results add
`finetune_best_step` (the step whose state was tested) and
`finetune_validation_top1`.
"""
import copy
import os
import time
from typing import Any, Mapping

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jvrl.data import data_checks
from jvrl.data import held_out
from jvrl.data import pipeline
from jvrl.evaluation import features as features_lib
from jvrl.objectives import build_objective
from jvrl.train import sharding
from jvrl.train.metrics_writer import log_info

FINETUNE_SUBDIR = "finetune"
VALIDATION_IDS_FILE = "validation_videos.json"  # under WORKDIR/finetune
HELD_OUT_SPLIT = "eval_train"


def finetune_enabled(config: ml_collections.ConfigDict) -> bool:
  """Whether `config.eval.finetune` asks for fine-tuning (steps > 0)."""
  finetune = config.eval.get("finetune")
  return finetune is not None and finetune.get("steps", 0) > 0


def validation_videos(config: ml_collections.ConfigDict) -> int:
  """How many eval_train videos fine-tuning holds out (0: none)."""
  return int(config.eval.finetune.get("validation_videos", 0) or 0)


def finetune_config(config: ml_collections.ConfigDict,
                    workdir: str = "") -> ml_collections.ConfigDict:
  """The supervised training config that fine-tuning runs, derived from `config`.

  Same data source, clip length, crop size, model, mesh and seed (not
  `config.init_from`: the run starts from the encoder being evaluated); trains
  `config.eval.finetune.steps` steps on the eval-train split (less the
  held-out videos listed in WORKDIR/finetune/validation_videos.json, when
  `validation_videos` > 0); the test views are `finetune.num_clips` x
  `finetune.num_crops` per video.
  """
  finetune = config.eval.finetune
  derived = ml_collections.ConfigDict(copy.deepcopy(config.to_dict()))
  derived.objective = "supervised"
  derived.supervised = dict(
      num_classes=finetune.num_classes, augmentation="crop",
      resize_short_side=finetune.resize_short_side, flip_prob=finetune.flip_prob)
  derived.data.train_split = "eval_train"
  derived.train.batch_size = finetune.batch_size
  derived.train.num_steps = finetune.steps
  derived.train.checkpoint_every = finetune.steps
  derived.train.log_every = max(1, min(derived.train.log_every, finetune.steps))
  optimizer = derived.optimizer.to_dict()
  optimizer.update(finetune.get("optimizer", {}))
  derived.optimizer = optimizer
  derived.eval.num_clips = finetune.num_clips
  derived.eval.num_crops = finetune.num_crops
  for field in ("clip_length", "frame_stride"):  # tested on the clips it was trained on
    if field in derived.eval:
      derived.eval[field] = None
  if "init_from" in derived:  # fine-tuning starts from the evaluated encoder, never from it
    derived.init_from = ""
  if "export_teacher" in derived.train:  # supervised fine-tuning has no teacher (SVT's has)
    derived.train.export_teacher = False
  if validation_videos(config):
    derived.data.held_out = dict(
        split=HELD_OUT_SPLIT, use="exclude",
        ids_file=os.path.join(workdir, FINETUNE_SUBDIR, VALIDATION_IDS_FILE))
    if derived.optimizer.get("plateau_factor", 0.0) > 0:  # PRP: ReduceLROnPlateau(val_loss)
      derived.optimizer.plateau_metric = "validation_loss"
  return derived


def validation_config(derived: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The evaluation config of the held-out videos: only them, `validation_clips`
  evenly spaced clips x 1 centre crop each."""
  config = ml_collections.ConfigDict(copy.deepcopy(derived.to_dict()))
  config.data.held_out.use = "only"
  config.eval.num_clips = int(derived.eval.finetune.get("validation_clips", 1))
  config.eval.num_crops = 1
  return config


def ensure_validation_split(config: ml_collections.ConfigDict, workdir: str) -> list[str]:
  """The held-out eval_train videos' names: read from WORKDIR/finetune/validation_videos.json,
  or chosen (`held_out.select_held_out`, every eval_train video's name read) and written
  there once, so both encoders' runs and any rerun share them."""
  path = os.path.join(workdir, FINETUNE_SUBDIR, VALIDATION_IDS_FILE)
  count = validation_videos(config)
  if os.path.exists(path):
    ids = held_out.read_ids(path)
    if len(ids) != count:
      raise ValueError(f"{path} holds {len(ids)} held-out videos but "
                       f"config.eval.finetune.validation_videos={count}: delete the file "
                       "(and the fine-tuning runs that used it) or use a new --workdir.")
    return ids
  summary = data_checks.read_split(config.data, HELD_OUT_SPLIT)
  ids = held_out.select_held_out(summary.video_ids, count)
  if jax.process_index() == 0:
    held_out.write_ids(path, ids)
  log_info("Held out %d of the %d eval_train videos for fine-tuning's validation (%s).",
           count, summary.num_videos, path)
  return ids


def _softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
  logits = logits.astype(np.float64)
  top = logits.max(axis=-1, keepdims=True)
  log_z = top[:, 0] + np.log(np.exp(logits - top).sum(axis=-1))
  return float(np.mean(log_z - logits[np.arange(len(labels)), labels]))


def make_validation(derived: ml_collections.ConfigDict, mesh: Mesh):
  """`trainer.Validation` scoring the held-out videos: {'loss' (softmax cross-entropy of
  the view-averaged logits, as PRP's `validation`), 'top1'}."""
  from jvrl.train import trainer  # pylint: disable=g-import-not-at-top
  config = validation_config(derived)
  classify = make_classify_views_fn(build_objective(derived).model, mesh)

  def evaluate(variables):
    dataset = pipeline.make_eval_dataset(config, HELD_OUT_SPLIT, config.eval.batch_size)
    logits, labels = features_lib.extract_features(
        classify, variables, dataset.as_numpy_iterator(), mesh)
    return {"loss": _softmax_cross_entropy(logits, labels),
            "top1": float(np.mean(np.argmax(logits, axis=-1) == labels))}

  return trainer.Validation(every=int(derived.eval.finetune.validation_every),
                            evaluate=evaluate)


def make_classify_views_fn(model, mesh: Mesh):
  """Returns jitted `classify(variables, video[B, V, T, H, W, 3]) -> logits [B, K]`,
  the logits of a video's V views averaged."""
  def classify_clips(variables, clips):
    return model.apply(variables, {"clip": clips}, train=False)["logits"]
  return features_lib.make_view_average_fn(classify_clips, mesh)


def multi_clip_top1(config: ml_collections.ConfigDict, model, variables: Mapping[str, Any],
                    mesh: Mesh, split: str = "eval_test") -> tuple[float, int]:
  """(top-1 accuracy, number of videos) of `model` on `split`, logits averaged over
  the views of `config.eval` (every video counted, none dropped by batching)."""
  classify = make_classify_views_fn(model, mesh)
  dataset = pipeline.make_eval_dataset(config, split, config.eval.batch_size)
  logits, labels = features_lib.extract_features(
      classify, variables, dataset.as_numpy_iterator(), mesh)
  return float(np.mean(np.argmax(logits, axis=-1) == labels)), len(labels)


def run_finetuning(config: ml_collections.ConfigDict, workdir: str,
                   encoder_variables: Mapping[str, Any], *, init_name: str,
                   prefix: str = "") -> dict[str, float]:
  """Fine-tunes from `encoder_variables`, then tests with logit averaging.

  The run lives in WORKDIR/finetune/`init_name` (e.g. 'step_300' or
  'random_init'): rerunning resumes it or, when finished, only re-tests it.
  Returns {prefix + 'finetune_top1': accuracy}.
  """
  from jvrl.train import trainer  # pylint: disable=g-import-not-at-top
  derived = finetune_config(config, workdir)
  run_dir = os.path.join(workdir, FINETUNE_SUBDIR, init_name)
  start = time.perf_counter()
  who = "random-init encoder" if prefix else "pretrained encoder"
  mesh = sharding.make_mesh(derived.mesh.to_dict())
  validation = None
  if validation_videos(config):
    ensure_validation_split(config, workdir)
    validation = make_validation(derived, mesh)
  log_info("Fine-tuning the %s for %d steps on eval_train%s (%s).", who,
           derived.train.num_steps,
           f" less {validation_videos(config)} held-out videos" if validation else "", run_dir)
  state, _ = trainer.train(derived, run_dir, initial_encoder=encoder_variables,
                           validation=validation)
  results = {}
  if validation is not None:  # PRP tests the state of the best validation accuracy
    state, best = trainer.restore_best_state(derived, run_dir)
    log_info("Testing the state after step %d (best validation top-1 %.4f, loss %.4f).",
             best["step"], best["top1"], best["loss"])
    results = {prefix + "finetune_best_step": float(best["step"]),
               prefix + "finetune_validation_top1": float(best["top1"])}
  model = build_objective(derived).model
  variables = trainer.model_variables(state)
  top1, count = multi_clip_top1(derived, model, jax.device_get(variables), mesh)
  log_info("Fine-tuned %s: top-1 %.4f on %d eval_test videos (%d views each, logits "
           "averaged); %.1f s.", who, top1, count,
           derived.eval.num_clips * derived.eval.num_crops, time.perf_counter() - start)
  return {prefix + "finetune_top1": top1, **results}

