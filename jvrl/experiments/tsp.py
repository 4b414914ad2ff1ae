"""TSP's whole comparison in one command (REFERENCE §6; `configs/tsp_synthetic.py`).

`python -m jvrl.main --config=configs/tsp_synthetic.py --workdir=DIR` runs, each
stage resuming where a previous command stopped:

1. the initial encoder, the paper's "Kinetics-pretrained" starting point:
   `config.tsp.initial_encoder` (any exported jvrl encoder of the same
   architecture, e.g. DIR2/export/encoder or torchvision's Kinetics R(2+1)D-18
   converted by `jvrl.tools.convert_torchvision`; checked at start-up by
   `checkpointing.check_export_fits`), or, when empty, one trained here
   with labels on the built-in TRIMMED synthetic videos
   (`config.tsp.initial`, a supervised run in DIR/initial);
2. global video features (GVFs): every training video's clip features from
   the initial encoder (clips every `config.tsp.gvf_clip_stride` frames),
   max-pooled over time (`config.tsp.gvf_pooling`), written once to
   DIR/gvf/train_<pooling>.h5 and reused (or `config.tsp.gvf_file`, e.g.
   TSP's released `-max_gvf.h5`);
3. TAC (action head only, no GVF; the paper's baseline) in DIR/tac, when
   `config.tsp.compare_tac`, and TSP (action + temporal-region heads) in DIR,
   both from the initial encoder, on the same data and budget;
4. evaluation (`--mode=eval` alone re-runs it): the same localization
   evaluation (`jvrl.evaluation.untrimmed`) of each encoder E in
   {tsp, tac, initial, random_init}; DIR/eval/results.json holds
   `E_fgbg_auc`, `E_fgbg_balanced_accuracy`, `E_fg_action_top1`,
   `E_localization_map@0.3` ... `@0.7` and `E_localization_average_map`,
   printed as one table; the first test videos' per-clip outputs go to
   DIR/eval/localization.npz and the report (DIR/eval/report.html) draws
   their timelines.
"""
import copy
import os
import time
from typing import Any, Mapping

import jax
import ml_collections

from jvrl import errors
from jvrl import models
from jvrl import report
from jvrl.data import data_checks
from jvrl.data import feature_files
from jvrl.data import sources
from jvrl.evaluation import clip_features
from jvrl.evaluation import evaluate
from jvrl.evaluation import saved_outputs
from jvrl.evaluation import untrimmed
from jvrl.objectives.tsp import gvf as gvf_lib
from jvrl.train import checkpointing
from jvrl.train import sharding
from jvrl.train import trainer
from jvrl.train.metrics_writer import log_info

# TSP trains on segments of untrimmed videos and evaluates localization, not
# clip labels: no batch-vs-videos or clip-label checks at start-up.
DATA_EXPECTATIONS = data_checks.Expectations(classification_eval=False, trains_on_videos=False)
INITIAL_SUBDIR = "initial"
TAC_SUBDIR = "tac"
GVF_SUBDIR = "gvf"
ENCODERS = ("tsp", "tac", "initial", "random_init")
# Where this experiment takes its starting encoder from (it does not read
# config.init_from, which `jvrl.experiments.run_train_and_evaluate` handles).
INITIAL_ENCODER_FIELD = "config.tsp.initial_encoder"


def _copy(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(copy.deepcopy(config.to_dict()))


def initial_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The supervised run that trains the initial encoder on the built-in trimmed videos."""
  initial = config.tsp.initial
  derived = _copy(config)
  derived.objective = "supervised"
  derived.supervised = dict(num_classes=initial.num_classes, augmentation="crop",
                            resize_short_side=config.tsp.augment.resize_short_side,
                            flip_prob=config.tsp.augment.flip_prob)
  derived.data.source = "synthetic"
  for split in ("train", "eval_train", "eval_test"):  # the user's records are not read here
    if f"{split}_files" in derived.data:
      derived.data[f"{split}_files"] = ""
  derived.data.synthetic = initial.synthetic.to_dict()
  derived.data.train_split = "train"
  derived.train.batch_size = initial.batch_size
  derived.train.num_steps = initial.steps
  derived.train.checkpoint_every = initial.steps
  derived.train.log_every = min(derived.train.log_every, initial.steps)
  derived.optimizer = initial.optimizer.to_dict()
  return derived


def variant_config(config: ml_collections.ConfigDict, variant: str,
                   gvf_file: str = "") -> ml_collections.ConfigDict:
  """The TSP ('tsp', with `gvf_file`) or TAC ('tac') training run of `config`."""
  derived = _copy(config)
  derived.tsp.variant = variant
  derived.tsp.gvf_file = gvf_file if variant == "tsp" else ""
  return derived


def derived_configs(config: ml_collections.ConfigDict) -> dict[str, ml_collections.ConfigDict]:
  """Every training run of the experiment (validated at start-up by jvrl.main)."""
  runs = {"tsp": variant_config(config, "tsp", config.tsp.gvf_file or "<computed>")}
  if config.tsp.compare_tac:
    runs["tac"] = variant_config(config, "tac")
  if not config.tsp.initial_encoder:
    runs["initial"] = initial_config(config)
  return runs


def initial_encoder_variables(config: ml_collections.ConfigDict, workdir: str, *,
                              train: bool) -> dict:
  """The initial encoder's variables: the given export, or the one trained in DIR/initial
  (trained now when `train`, else read from its export)."""
  if config.tsp.initial_encoder:
    checkpointing.check_export_fits(config.tsp.initial_encoder, config.model_name,
                                    config.model.to_dict(), field=INITIAL_ENCODER_FIELD)
    _, variables = checkpointing.load_encoder(config.tsp.initial_encoder)
    log_info("Initial encoder: %s.", config.tsp.initial_encoder)
    return variables
  run_dir = os.path.join(workdir, INITIAL_SUBDIR)
  if train:
    derived = initial_config(config)
    log_info("Initial encoder: supervised training on %s in %s (set "
             "config.tsp.initial_encoder to start from your own).",
             sources.prepare_data_source(derived.data, ("train",)), run_dir)
    _, variables = trainer.train(derived, run_dir)
    return variables
  _, variables = checkpointing.load_encoder(os.path.join(run_dir, trainer.EXPORT_SUBDIR))
  return variables


def gvf_grid(config: ml_collections.ConfigDict) -> clip_features.ClipGrid:
  """The clips whose initial-encoder features are pooled into a video's GVF."""
  return clip_features.ClipGrid(
      clip_length=config.data.clip_length, frame_stride=config.data.frame_stride,
      clip_stride=config.tsp.gvf_clip_stride, resize_short_side=config.eval.resize_short_side,
      crop_size=config.eval.crop_size)


def ensure_gvf_file(config: ml_collections.ConfigDict, workdir: str,
                    initial_variables: Mapping[str, Any], mesh) -> str:
  """The GVF file of the training videos: `config.tsp.gvf_file`, or computed once
  (resumably) from the initial encoder into DIR/gvf/train_<pooling>.h5."""
  if config.tsp.gvf_file:
    return config.tsp.gvf_file
  pooling = config.tsp.gvf_pooling
  split = config.data.get("train_split", "train")
  path = os.path.join(workdir, GVF_SUBDIR, f"{split}_{pooling}.h5")
  encoder = models.build_model(config.model_name, **config.model.to_dict())
  start = time.perf_counter()
  with feature_files.FeatureWriter(path, "h5") as writer:
    done = frozenset(writer.completed())
    examples = clip_features.split_examples(config, split, skip_keys=done)
    count = 0
    for video in clip_features.extract_clip_features(
        encoder, initial_variables, examples, gvf_grid(config), mesh, config.eval.batch_size):
      writer.write(video.key, gvf_lib.pool_clip_features(video.features, pooling),
                   {"num_clips": len(video.features), "filename": video.filename})
      count += 1
  log_info("Global video features (%s over the initial encoder's clip features) of %d "
           "%s videos (%d already done) in %s (%.1f s).", pooling, count, split, len(done),
           path, time.perf_counter() - start)
  return path


def train_encoders(config: ml_collections.ConfigDict, workdir: str, mesh) -> None:
  """Stages 1-3: the initial encoder, the GVFs, TAC and TSP (each resumes)."""
  initial = initial_encoder_variables(config, workdir, train=True)
  gvf_file = ensure_gvf_file(config, workdir, initial, mesh)
  if config.tsp.compare_tac:
    log_info("Training TAC (action head only) from the initial encoder in %s.",
             os.path.join(workdir, TAC_SUBDIR))
    trainer.train(variant_config(config, "tac"), os.path.join(workdir, TAC_SUBDIR),
                  initial_encoder=initial)
  log_info("Training TSP (action + temporal-region heads, GVFs from %s) in %s.", gvf_file,
           workdir)
  trainer.train(variant_config(config, "tsp", gvf_file), workdir, initial_encoder=initial)


def _exported(workdir: str, what: str) -> dict:
  directory = os.path.join(workdir, trainer.EXPORT_SUBDIR)
  if not os.path.isfile(os.path.join(directory, checkpointing.ENCODER_SPEC_FILE)):
    raise errors.UserError(f"No trained {what} encoder in {directory}: run with "
                           "--mode=train (or train_and_eval) first.")
  return checkpointing.load_encoder(directory)[1]


def format_comparison_table(results: Mapping[str, float], encoders: tuple[str, ...]) -> str:
  """metric | one column per encoder."""
  metrics = [name[len("tsp_"):] for name in results if name.startswith("tsp_")]
  width = max([26] + [len(m) + 1 for m in metrics])
  lines = [f"{'metric':<{width}}" + "".join(f"{e:>13}" for e in encoders)]
  for metric in metrics:
    cells = [results.get(f"{e}_{metric}") for e in encoders]
    lines.append(f"{metric:<{width}}" + "".join(
        f"{c:>13.4f}" if c is not None else f"{'-':>13}" for c in cells))
  return "\n".join(lines)


def evaluate_encoders(config: ml_collections.ConfigDict, workdir: str, mesh) -> dict:
  """Stage 4: the localization evaluation of every encoder of the comparison."""
  encoder = models.build_model(config.model_name, **config.model.to_dict())
  candidates = [("tsp", lambda: _exported(workdir, "TSP"))]
  if config.tsp.compare_tac:
    candidates.append(("tac", lambda: _exported(os.path.join(workdir, TAC_SUBDIR), "TAC")))
  candidates.append(("initial", lambda: initial_encoder_variables(config, workdir, train=False)))
  candidates.append(("random_init", lambda: evaluate.random_init_variables(config, encoder)))
  start = time.perf_counter()
  results, outputs = {}, {}
  for name, variables in candidates:
    metrics, localized = untrimmed.evaluate_encoder_localization(
        config, encoder, variables(), mesh, prefix=f"{name}_", return_predictions=True)
    results.update(metrics)
    outputs[name] = localized.videos
  log_info("Localization evaluation of %d encoders took %.1f s.", len(candidates),
           time.perf_counter() - start)
  encoders = tuple(name for name, _ in candidates)
  evaluate.save_results(workdir, results, format_comparison_table(results, encoders))
  if jax.process_index() == 0:  # after results.json: the timelines, then the report
    saved_outputs.save_localization_outputs(workdir, outputs)
  report.build_report_or_warn(workdir, config)
  return results


def run(config: ml_collections.ConfigDict, workdir: str, mode: str) -> dict | None:
  """The experiment in `mode` (see the module docstring)."""
  mesh = sharding.make_mesh(config.mesh.to_dict())
  if mode in ("train", "train_and_eval"):
    train_encoders(config, workdir, mesh)
  if mode in ("eval", "train_and_eval"):
    return evaluate_encoders(config, workdir, mesh)
  return None
