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
"""
import copy
import os
import time
from typing import Any, Mapping

import jax
import ml_collections
import numpy as np
from jax.sharding import Mesh

from jvrl.data import pipeline
from jvrl.evaluation import features as features_lib
from jvrl.objectives import build_objective
from jvrl.train import sharding
from jvrl.train.metrics_writer import log_info

FINETUNE_SUBDIR = "finetune"


def finetune_enabled(config: ml_collections.ConfigDict) -> bool:
  """Whether `config.eval.finetune` asks for fine-tuning (steps > 0)."""
  finetune = config.eval.get("finetune")
  return finetune is not None and finetune.get("steps", 0) > 0


def finetune_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The supervised training config that fine-tuning runs, derived from `config`.

  Same data source, clip length, crop size, model, mesh and seed (not
  `config.init_from`: the run starts from the encoder being evaluated); trains
  `config.eval.finetune.steps` steps on the eval-train split; the test views
  are `finetune.num_clips` x `finetune.num_crops` per video.
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
  return derived


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
  derived = finetune_config(config)
  run_dir = os.path.join(workdir, FINETUNE_SUBDIR, init_name)
  start = time.perf_counter()
  who = "random-init encoder" if prefix else "pretrained encoder"
  log_info("Fine-tuning the %s for %d steps on eval_train (%s).", who,
           derived.train.num_steps, run_dir)
  state, _ = trainer.train(derived, run_dir, initial_encoder=encoder_variables)
  model = build_objective(derived).model
  variables = trainer.model_variables(state)
  mesh = sharding.make_mesh(derived.mesh.to_dict())
  top1, count = multi_clip_top1(derived, model, jax.device_get(variables), mesh)
  log_info("Fine-tuned %s: top-1 %.4f on %d eval_test videos (%d views each, logits "
           "averaged); %.1f s.", who, top1, count,
           derived.eval.num_clips * derived.eval.num_crops, time.perf_counter() - start)
  return {prefix + "finetune_top1": top1}

