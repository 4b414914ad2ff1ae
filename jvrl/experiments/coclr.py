"""CoCLR's two stages and its evaluation in one command (REFERENCE §4;
`configs/coclr_synthetic.py`).

`python -m jvrl.main --config=configs/coclr_synthetic.py --workdir=DIR` runs, each
run resuming where an earlier command stopped:

1. stage 1, InfoNCE (DIR/infonce): the RGB and the flow stream, each with
   MoCo's InfoNCE (`config.coclr.stage='infonce'`, `config.train.num_steps`);
2. stage 2, co-training: `config.coclr.cotrain_cycles` cycles of an RGB run
   then a flow run (DIR/cotrain_<c>_rgb, DIR/cotrain_<c>_flow;
   `config.coclr.cotrain_steps` steps each), each starting from the previous
   run's four submodules (both encoders and heads; a fresh optimiser, key
   encoder and queue, as the reference's separate runs), training its stream
   with the other's top-k neighbours as extra positives while the other is
   frozen (learning-rate multiplier 0);
   the final encoders are exported to DIR/export/encoder (RGB) and
   DIR/export/flow_encoder;
3. evaluation (`--mode=eval` alone reruns it): the shared frozen evaluation
   (linear probe, kNN, retrieval) of the RGB stream on the videos' frames, of
   the flow stream on their optical flow, and of the two streams together:
   the linear probe averages the two streams' class probabilities (CoCLR's
   two-stream result), kNN and retrieval use both streams' L2-normalised
   features side by side (cosine similarity = the mean of the two streams');
   the same for randomly initialised streams and, with
   `config.coclr.evaluate_infonce`, for the stage-1 streams. DIR/eval/
   results.json holds `<encoders>_<stream>_<metric>` (encoders: coclr,
   infonce, random_init; stream: rgb, flow, two_stream), printed as a table.
"""
import copy
import os
import time
from typing import Any, Mapping

import jax
import ml_collections
import numpy as np

from jvrl import errors
from jvrl import models
from jvrl import report
from jvrl.evaluation import evaluate
from jvrl.evaluation import knn
from jvrl.evaluation import linear_probe
from jvrl.evaluation import retrieval
from jvrl.evaluation import saved_outputs
from jvrl.objectives import coclr as coclr_lib
from jvrl.objectives.coclr import model as model_lib
from jvrl.train import checkpointing
from jvrl.train import sharding
from jvrl.train import trainer
from jvrl.train.metrics_writer import log_info

INFONCE_SUBDIR = "infonce"
FLOW_EXPORT_SUBDIR = os.path.join("export", "flow_encoder")
STREAMS = ("rgb", "flow", "two_stream")
# The stream each co-training run trains, in the reference's order.
COTRAIN_ORDER = ("rgb", "flow")


def _copy(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(copy.deepcopy(config.to_dict()))


def infonce_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Stage 1: both streams with InfoNCE for `config.train.num_steps` steps."""
  derived = _copy(config)
  derived.coclr.stage = "infonce"
  return derived


def cotrain_config(config: ml_collections.ConfigDict, stream: str) -> ml_collections.ConfigDict:
  """A co-training run of `stream`, the other stream frozen."""
  derived = _copy(config)
  derived.coclr.stage = "cotrain"
  derived.coclr.train_stream = stream
  steps = config.coclr.cotrain_steps
  derived.train.num_steps = steps
  derived.train.checkpoint_every = min(derived.train.checkpoint_every, steps)
  derived.train.log_every = min(derived.train.log_every, steps)
  derived.optimizer.warmup_steps = min(derived.optimizer.warmup_steps, steps)
  frozen = model_lib.STREAM_SUBMODULES[COTRAIN_ORDER[1 - COTRAIN_ORDER.index(stream)]]
  derived.optimizer.lr_multipliers = tuple(
      dict(config.optimizer).get("lr_multipliers", ()) or ()) + ((
          "^(" + "|".join(frozen) + ")/", 0.0),)
  return derived


def cotrain_runs(config: ml_collections.ConfigDict) -> list[tuple[str, ml_collections.ConfigDict]]:
  """(subdirectory, config) of every co-training run, in order."""
  return [(f"cotrain_{cycle}_{stream}", cotrain_config(config, stream))
          for cycle in range(1, config.coclr.cotrain_cycles + 1) for stream in COTRAIN_ORDER]


def derived_configs(config: ml_collections.ConfigDict) -> dict[str, ml_collections.ConfigDict]:
  """Every training run of the experiment (validated at start-up by jvrl.main)."""
  return {INFONCE_SUBDIR: infonce_config(config), **dict(cotrain_runs(config))}


def check_config(config: ml_collections.ConfigDict) -> None:
  cycles, steps = config.coclr.get("cotrain_cycles"), config.coclr.get("cotrain_steps")
  if isinstance(cycles, bool) or not isinstance(cycles, int) or cycles < 0:
    raise ValueError(f"config.coclr.cotrain_cycles={cycles!r} must be an integer >= 0.")
  if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
    raise ValueError(f"config.coclr.cotrain_steps={steps!r} must be a positive integer.")


def _submodules(state) -> dict:
  return {name: trainer.encoder_variables(state, name) for name in model_lib.SUBMODULES}


def _export_streams(config, state, directory: str) -> None:
  """The RGB and flow encoders of `state` as exports in DIRECTORY/export/."""
  for name, subdir, kwargs in (
      ("encoder", trainer.EXPORT_SUBDIR, config.model.to_dict()),
      ("flow_encoder", FLOW_EXPORT_SUBDIR, coclr_lib.flow_model_kwargs(config))):
    checkpointing.export_encoder(
        os.path.join(directory, subdir), model_name=config.model_name, model_kwargs=kwargs,
        variables=jax.device_get(trainer.encoder_variables(state, name)))


def train_streams(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Stages 1 and 2 (each run resumes); exports the final streams to DIR/export."""
  stage_dir = os.path.join(workdir, INFONCE_SUBDIR)
  log_info("CoCLR stage 1: InfoNCE of both streams in %s.", stage_dir)
  state, _ = trainer.train(infonce_config(config), stage_dir)
  _export_streams(config, state, stage_dir)
  for subdir, derived in cotrain_runs(config):
    previous = state
    log_info("CoCLR stage 2: co-training the %s stream in %s.", derived.coclr.train_stream,
             os.path.join(workdir, subdir))
    state, _ = trainer.train(derived, os.path.join(workdir, subdir),
                             initial_submodules=lambda p=previous: _submodules(p))
  _export_streams(config, state, workdir)
  log_info("Exported the final RGB and flow encoders to %s and %s.",
           os.path.join(workdir, trainer.EXPORT_SUBDIR), os.path.join(workdir,
                                                                      FLOW_EXPORT_SUBDIR))


def _exported(directory: str, subdir: str) -> dict:
  path = os.path.join(directory, subdir)
  if not os.path.isfile(os.path.join(path, checkpointing.ENCODER_SPEC_FILE)):
    raise errors.UserError(f"No trained encoder in {path}: run with --mode=train (or "
                           "train_and_eval) first.")
  return checkpointing.load_encoder(path)[1]


def _unit(features: np.ndarray) -> np.ndarray:
  return features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)


def two_stream_metrics(rgb: Mapping[str, Any], flow: Mapping[str, Any],
                       eval_config: ml_collections.ConfigDict, seed: int) -> dict[str, float]:
  """The two-stream metrics from each stream's `evaluate_encoder` splits.

  Linear probe: one probe per stream (as each stream's own), class
  probabilities averaged (CoCLR's `merge_2stream_prob.py`). kNN and
  retrieval: both streams' L2-normalised features concatenated, so cosine
  similarity is the mean of the two streams' cosine similarities.
  """
  train_y, test_y = rgb["eval_train"].labels, rgb["eval_test"].labels
  num_classes = int(max(train_y.max(), test_y.max())) + 1
  probabilities = 0.0
  for splits in (rgb, flow):
    probe = linear_probe.train_linear_probe(
        splits["eval_train"].features, train_y, num_classes,
        steps=eval_config.linear_probe.steps, learning_rate=eval_config.linear_probe.learning_rate,
        weight_decay=eval_config.linear_probe.weight_decay, seed=seed)
    probabilities = probabilities + linear_probe.linear_probe_probabilities(
        probe, splits["eval_test"].features)
  train_x = np.concatenate([_unit(rgb["eval_train"].features),
                            _unit(flow["eval_train"].features)], axis=1)
  test_x = np.concatenate([_unit(rgb["eval_test"].features),
                           _unit(flow["eval_test"].features)], axis=1)
  ks, _ = evaluate.meaningful_ks(tuple(eval_config.retrieval_ks), len(train_y))
  recalls = retrieval.retrieval_recall_at_k(test_x, test_y, train_x, train_y, ks=ks)
  return {"linear_probe_top1": float(np.mean(np.argmax(probabilities, 1) == test_y)),
          "knn_top1": float(knn.knn_top1(train_x, train_y, test_x, test_y, num_classes,
                                         k=eval_config.knn.k,
                                         temperature=eval_config.knn.temperature)),
          **{f"retrieval_recall@{k}": float(recalls[f"recall@{k}"]) for k in ks}}


def format_streams_table(results: Mapping[str, float], encoders: tuple[str, ...]) -> str:
  """metric | one column per (encoders, stream)."""
  columns = [f"{e}_{s}" for e in encoders for s in STREAMS]
  prefix = columns[0] + "_"
  metrics = [name[len(prefix):] for name in results if name.startswith(prefix)]
  width = max([24] + [len(m) + 1 for m in metrics])
  lines = [f"{'metric':<{width}}" + "".join(f"{c:>22}" for c in columns)]
  for metric in metrics:
    cells = [results.get(f"{c}_{metric}") for c in columns]
    lines.append(f"{metric:<{width}}" + "".join(
        f"{v:>22.4f}" if v is not None else f"{'-':>22}" for v in cells))
  return "\n".join(lines)


def evaluate_streams(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Stage 3: every stream of every compared model, and the two streams together."""
  mesh = sharding.make_mesh(config.mesh.to_dict())
  rgb_encoder = models.build_model(config.model_name, **config.model.to_dict())
  flow_encoder = models.build_model(config.model_name, **coclr_lib.flow_model_kwargs(config))
  candidates = [("coclr", lambda: (_exported(workdir, trainer.EXPORT_SUBDIR),
                                   _exported(workdir, FLOW_EXPORT_SUBDIR)))]
  if config.coclr.evaluate_infonce:
    stage_dir = os.path.join(workdir, INFONCE_SUBDIR)
    candidates.append(("infonce", lambda: (_exported(stage_dir, trainer.EXPORT_SUBDIR),
                                           _exported(stage_dir, FLOW_EXPORT_SUBDIR))))
  if config.eval.random_init_baseline:
    candidates.append(("random_init", lambda: (
        evaluate.random_init_variables(config, rgb_encoder),
        evaluate.random_init_variables(config, flow_encoder, channels=2))))
  start = time.perf_counter()
  results, for_report = {}, {}
  for name, variables in candidates:
    rgb_variables, flow_variables = variables()
    streams = {}
    for stream, encoder, stream_variables in (("rgb", rgb_encoder, rgb_variables),
                                              ("flow", flow_encoder, flow_variables)):
      metrics, splits, scores = evaluate.evaluate_encoder(
          config, encoder, stream_variables, mesh, prefix=f"{name}_{stream}_",
          return_outputs=True, modality=stream)
      results.update(metrics)
      streams[stream] = splits
      if stream == "rgb":
        for_report["pretrained" if name == "coclr" else name] = (splits, scores)
    results.update({f"{name}_two_stream_{k}": v for k, v in two_stream_metrics(
        streams["rgb"], streams["flow"], config.eval, config.seed).items()})
  log_info("Evaluation of %d models (RGB, flow, two-stream) took %.1f s.", len(candidates),
           time.perf_counter() - start)
  evaluate.save_results(workdir, results, format_streams_table(
      results, tuple(name for name, _ in candidates)))
  if jax.process_index() == 0:  # the RGB streams' features for the report
    splits = for_report["pretrained"][0]
    saved_outputs.save_feature_outputs(workdir, evaluate.feature_outputs(
        splits, {k: v for k, v in for_report.items() if k in ("pretrained", "random_init")}))
  report.build_report_or_warn(workdir, config)
  return results


def run(config: ml_collections.ConfigDict, workdir: str, mode: str) -> dict | None:
  """The experiment in `mode` (see the module docstring)."""
  check_config(config)
  if mode in ("train", "train_and_eval"):
    train_streams(config, workdir)
  if mode in ("eval", "train_and_eval"):
    return evaluate_streams(config, workdir)
  return None
