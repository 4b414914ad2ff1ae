"""Evaluation of a frozen video encoder, shared by every objective.

Features of the eval-train and eval-test splits (multi-clip x multi-crop views
averaged) feed a linear probe, a weighted kNN classifier and nearest-neighbour
retrieval (test queries the train split). The linear probe follows
`config.eval.linear_probe.protocol`: 'fast' fits it on those features
(`jvrl.evaluation.linear_probe`), 'cvrl' trains it on augmented clips streamed
through the frozen encoder and tests it by averaging the views' probabilities
(`jvrl.evaluation.linear_probe_cvrl`, CVRL's protocol). The same is done for a randomly
initialised encoder, so the results show what pretraining bought. With
`config.eval.finetune.steps > 0` both are also fine-tuned end to end and
tested with multi-clip logit averaging (`jvrl.evaluation.finetune`). Objectives
that train more than an encoder get an evaluation of their whole model, chosen
here by objective name (`jvrl.evaluation.objective_evaluations`, e.g. VATT's
zero-shot retrieval). Results go
to WORKDIR/eval/results.json, TensorBoard (WORKDIR/tensorboard/eval) and a
table on the console; then the features, the probe's test predictions and the
retrieval's neighbours go to WORKDIR/eval/features.npz (`saved_outputs`), from
which `jvrl.report` draws the run's report.
"""
import dataclasses
import json
import os
import time
from typing import Any, Mapping

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from absl import logging

from jvrl import models
from jvrl.data import data_checks
from jvrl.data import device_batches
from jvrl.data import pipeline
from jvrl.evaluation import features as features_lib
from jvrl.evaluation import finetune
from jvrl.evaluation import knn
from jvrl.evaluation import linear_probe
from jvrl.evaluation import linear_probe_cvrl
from jvrl.evaluation import objective_evaluations
from jvrl.evaluation import retrieval
from jvrl.evaluation import saved_outputs
from jvrl.train import sharding
from jvrl.train.metrics_writer import MetricsWriter, log_info

RANDOM_INIT_PREFIX = "random_init_"


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def check_eval_config(config: ml_collections.ConfigDict) -> None:
  """The start-up check of `config.eval`'s frozen-evaluation settings.

  Raises:
    ValueError: one line naming the field (kNN k and temperature, retrieval ks,
      the linear probe's protocol and its settings, the evaluation clips'
      length and stride, feature pooling, the opt-ins).
  """
  eval_config = config.eval

  def get(path, default=None):
    node = eval_config
    for part in path.split("."):
      node = node.get(part) if hasattr(node, "get") else None
    return default if node is None else node

  k = get("knn.k")
  if isinstance(k, bool) or not isinstance(k, int) or k < 1:
    raise ValueError(f"config.eval.knn.k={k!r} must be an integer >= 1.")
  temperature = get("knn.temperature")
  if not _is_number(temperature) or temperature <= 0:
    raise ValueError(f"config.eval.knn.temperature={temperature!r} must be a number > 0 "
                     "(DINO / InstDisc: 0.07).")
  ks = get("retrieval_ks", ())
  if isinstance(ks, (int, str)) or not ks or any(
      isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in ks):
    raise ValueError(f"config.eval.retrieval_ks={ks!r} must be a non-empty tuple of integers "
                     ">= 1, e.g. (1, 5, 10).")
  linear_probe_cvrl.check_config(config)
  if linear_probe_cvrl.protocol(config) == "fast":
    steps = get("linear_probe.steps")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
      raise ValueError(f"config.eval.linear_probe.steps={steps!r} must be an integer >= 1.")
    rate = get("linear_probe.learning_rate")
    if not _is_number(rate) or rate <= 0:
      raise ValueError(f"config.eval.linear_probe.learning_rate={rate!r} must be a number > 0.")
    decay = get("linear_probe.weight_decay")
    if decay is not None and (not _is_number(decay) or decay < 0):
      raise ValueError(f"config.eval.linear_probe.weight_decay={decay!r} must be None (chosen "
                       "on held-out eval_train videos) or a number >= 0.")
  for field in ("clip_length", "frame_stride"):
    value = get(field)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
      raise ValueError(f"config.eval.{field}={value!r} must be None (config.data's) or an "
                       "integer >= 1.")
  pooling = get("feature_pooling", "avg")
  if pooling not in features_lib.POOLINGS:
    raise ValueError(f"config.eval.feature_pooling={pooling!r} must be one of "
                     f"{features_lib.POOLINGS}.")
  for flag in ("random_init_baseline", "allow_split_overlap"):
    value = get(flag, False)
    if not isinstance(value, bool):
      raise ValueError(f"config.eval.{flag}={value!r} must be True or False.")


def meaningful_ks(ks: tuple[int, ...], gallery_size: int) -> tuple[tuple[int, ...],
                                                                  tuple[int, ...]]:
  """(ks below `gallery_size`, the others): recall@k with k >= the gallery size is 1.0
  by construction (every gallery item is retrieved), so it is not reported."""
  return (tuple(k for k in ks if k < gallery_size), tuple(k for k in ks if k >= gallery_size))


# Nearest train videos kept per test video for the report's retrieval strips.
NUM_SAVED_NEIGHBOURS = 10


@dataclasses.dataclass(frozen=True)
class FeatureScores:
  """`metrics_from_features`' metrics and what produced them.

  Attributes:
    metrics: {'linear_probe_top1', 'knn_top1', 'retrieval_recall@k', ...}.
    probe_predictions: int32 [N_test] the linear probe's predicted classes.
    neighbours: int32 [N_test, K] nearest train rows of each test row (cosine,
      nearest first), K = min(NUM_SAVED_NEIGHBOURS, N_train).
  """
  metrics: dict[str, float]
  probe_predictions: np.ndarray
  neighbours: np.ndarray


def score_features(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
    eval_config: ml_collections.ConfigDict, seed: int = 0, *, warn: bool = True,
    probe_predictions: np.ndarray | None = None,
) -> FeatureScores:
  """Linear probe top-1, kNN top-1 and retrieval recall@k, with the probe's
  predictions and the retrieval's neighbours.

  The labels are checked first (`data_checks.check_eval_labels`: unlabelled
  videos or no test class in the train split raise `DataCheckError`); recall@k
  is reported only for k below the gallery (train) size. With `warn`, test
  classes absent from the train split, dropped ks and a kNN k that covers the
  whole gallery are logged as warnings with their counts. `probe_predictions`
  (int [N_test]): the test predictions of a probe trained elsewhere (the 'cvrl'
  protocol); None fits the 'fast' probe on `train_x`.
  """
  label_warnings = data_checks.check_eval_labels(train_y, test_y)
  gallery = len(train_y)
  ks, dropped = meaningful_ks(tuple(eval_config.retrieval_ks), gallery)
  if warn:
    for warning in label_warnings:
      logging.warning("Evaluation: %s", warning)
    if dropped:
      logging.warning(
          "Evaluation: %s not reported: the eval_train gallery holds only %d videos, so "
          "recall@k for k >= %d is 1.0 by construction (config.eval.retrieval_ks).",
          ", ".join(f"retrieval_recall@{k}" for k in dropped), gallery, gallery)
    if eval_config.knn.k >= gallery:
      logging.warning(
          "Evaluation: config.eval.knn.k=%d covers all %d eval_train videos: every train "
          "video votes, so knn_top1 is a similarity-weighted vote of the whole split.",
          eval_config.knn.k, gallery)
  num_classes = int(max(train_y.max(), test_y.max())) + 1
  probe_config = eval_config.linear_probe
  test_x = retrieval.check_features(test_x, "test_x")
  test_y = retrieval.check_labels(test_y, "test_y", test_x.shape[0], num_classes)
  if probe_predictions is None:
    probe = linear_probe.train_linear_probe(
        train_x, train_y, num_classes, steps=probe_config.steps,
        learning_rate=probe_config.learning_rate, weight_decay=probe_config.weight_decay,
        seed=seed)
    predictions = linear_probe.linear_probe_predict(probe, test_x)
  else:
    predictions = np.asarray(probe_predictions)
    if predictions.shape != test_y.shape:
      raise ValueError(f"probe_predictions has shape {predictions.shape}, the test labels "
                       f"{test_y.shape}.")
  results = {
      "linear_probe_top1": float(np.mean(predictions == test_y)),
      "knn_top1": knn.knn_top1(
          train_x, train_y, test_x, test_y, num_classes,
          k=eval_config.knn.k, temperature=eval_config.knn.temperature),
  }
  # The neighbours for the report come from the same ranking as the recalls.
  recalls, neighbours = retrieval.retrieval_recall_and_neighbours(
      test_x, test_y, train_x, train_y, ks=ks + (NUM_SAVED_NEIGHBOURS,))
  results.update({f"retrieval_recall@{k}": recalls[f"recall@{k}"] for k in ks})
  return FeatureScores(metrics={name: float(value) for name, value in results.items()},
                       probe_predictions=predictions,
                       neighbours=neighbours[:, :NUM_SAVED_NEIGHBOURS])


def metrics_from_features(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
    eval_config: ml_collections.ConfigDict, seed: int = 0, *, warn: bool = True,
) -> dict[str, float]:
  """Linear probe top-1, kNN top-1 and retrieval recall@k on given features
  (`score_features`' metrics)."""
  return score_features(train_x, train_y, test_x, test_y, eval_config, seed, warn=warn).metrics


@dataclasses.dataclass(frozen=True)
class SplitFeatures:
  """One split's frozen features and what names its videos (reading order)."""
  features: np.ndarray
  labels: np.ndarray
  filenames: np.ndarray
  label_texts: np.ndarray


def extract_split_features(config: ml_collections.ConfigDict, encode, variables: Mapping,
                           mesh, split: str, modality: str = "rgb") -> SplitFeatures:
  """Features, labels, filenames and label texts of every video of `split` (from its
  optical flow with `modality='flow'`)."""
  dataset = pipeline.make_eval_dataset(config, split, config.eval.batch_size,
                                       modality=modality)
  features, fields = features_lib.extract_features_and_fields(
      encode, variables, dataset.as_numpy_iterator(), mesh,
      fields=("label", "filename", "label_text"))
  return SplitFeatures(features=features, labels=fields["label"].astype(np.int64),
                       filenames=fields["filename"], label_texts=fields["label_text"])


def evaluate_encoder(
    config: ml_collections.ConfigDict, encoder: nn.Module, variables: Mapping,
    mesh, *, prefix: str = "", return_outputs: bool = False, modality: str = "rgb",
) -> Any:
  """Extracts eval-train/eval-test features with `encoder` and scores them.

  `modality='flow'`: the encoder reads the videos' optical flow (a flow
  stream's encoder, e.g. CoCLR's). Returns the metrics (keys prefixed with `prefix`) or, with `return_outputs`,
  (metrics, {'eval_train': SplitFeatures, 'eval_test': SplitFeatures},
  FeatureScores) for the report (`saved_outputs`).
  """
  batch_size = config.eval.batch_size
  shards = device_batches.num_batch_shards(mesh)
  if batch_size % shards:
    raise ValueError(
        f"config.eval.batch_size={batch_size} must be a multiple of the {shards} devices "
        f"the batch is split over (mesh axes {device_batches.batch_axes(mesh)}).")
  encode = features_lib.make_encode_views_fn(encoder, mesh, config.eval.feature_pooling)
  splits = {}
  for split in ("eval_train", "eval_test"):
    start = time.perf_counter()
    splits[split] = extract_split_features(config, encode, variables, mesh, split, modality)
    log_info("%sfeatures of %s: %d videos x %d dims in %.1f s.", prefix or "pretrained ",
             split, *splits[split].features.shape, time.perf_counter() - start)
  train, test = splits["eval_train"], splits["eval_test"]
  probe_predictions = None
  if linear_probe_cvrl.protocol(config) == "cvrl":
    probe_predictions = cvrl_probe_predictions(config, encoder, variables, mesh, train, test,
                                               who="random-init" if prefix else "pretrained")
  scores = score_features(train.features, train.labels, test.features, test.labels,
                          config.eval, config.seed,
                          warn=not prefix,  # the random-init pass would repeat them
                          probe_predictions=probe_predictions)
  metrics = {prefix + name: value for name, value in scores.metrics.items()}
  return (metrics, splits, scores) if return_outputs else metrics


def cvrl_probe_predictions(config: ml_collections.ConfigDict, encoder: nn.Module,
                           variables: Mapping, mesh, train: SplitFeatures, test: SplitFeatures,
                           *, who: str = "pretrained") -> np.ndarray:
  """The 'cvrl' protocol's test predictions (int [N_test], `test`'s order): its linear
  layer trained on eval_train's augmented clips, then every test video classified by
  its views' averaged probabilities (`linear_probe_cvrl`)."""
  data_checks.check_eval_labels(train.labels, test.labels)  # before hours of training
  num_classes = int(max(train.labels.max(), test.labels.max())) + 1
  start = time.perf_counter()
  probe = linear_probe_cvrl.train_probe(
      config, encoder, variables, mesh, num_classes=num_classes,
      num_videos=len(train.labels), feature_dim=train.features.shape[1], who=who)
  probabilities, labels = linear_probe_cvrl.view_averaged_probabilities(
      config, encoder, variables, probe, mesh)
  if not np.array_equal(labels, test.labels):
    raise RuntimeError("The linear probe's pass over eval_test read the videos in another "
                       "order than the feature extraction.")
  log_info("Linear probe ('cvrl' protocol) of the %s encoder: trained and tested in %.1f s.",
           who, time.perf_counter() - start)
  return np.argmax(probabilities, axis=-1).astype(np.int32)


def feature_outputs(splits: Mapping[str, SplitFeatures],
                    scores_by_encoder: Mapping[str, tuple[Mapping[str, SplitFeatures],
                                                          FeatureScores]],
                    ) -> saved_outputs.FeatureOutputs:
  """What `saved_outputs.save_feature_outputs` writes, from `evaluate_encoder`'s outputs
  (`splits`: any encoder's, for the labels and names shared by all)."""
  train, test = splits["eval_train"], splits["eval_test"]
  labels = np.concatenate([train.labels, test.labels])
  texts = np.concatenate([train.label_texts, test.label_texts])
  return saved_outputs.FeatureOutputs(
      train_labels=train.labels, test_labels=test.labels,
      train_filenames=train.filenames, test_filenames=test.filenames,
      class_names=saved_outputs.class_names_from_texts(labels, texts),
      encoders={name: saved_outputs.EncoderOutputs(
          train_features=encoder_splits["eval_train"].features,
          test_features=encoder_splits["eval_test"].features,
          probe_predictions=scores.probe_predictions, neighbours=scores.neighbours)
                for name, (encoder_splits, scores) in scores_by_encoder.items()})


def random_init_variables(config: ml_collections.ConfigDict, encoder: nn.Module,
                          channels: int = 3) -> dict:
  """Freshly initialised encoder variables (seed distinct from training's) for input of
  `channels` channels (2 for optical flow)."""
  shape = (1, pipeline.eval_clip_shape(config)[0], config.eval.crop_size,
           config.eval.crop_size, channels)
  init = jax.jit(lambda rng: encoder.init(rng, np.zeros(shape, np.float32), train=False))
  with jax.threefry_partitionable(False):  # much faster to compile on CPU; see trainer.
    return init(jax.random.key(config.seed + 12345))


def format_results_table(results: Mapping[str, float]) -> str:
  """A small console table: metric | pretrained | random init | difference."""
  names = [n for n in results if not n.startswith(RANDOM_INIT_PREFIX) and n != "step"]
  width = max([24] + [len(n) + 1 for n in names])
  lines = [f"{'metric':<{width}}{'pretrained':>12}{'random init':>13}{'gain':>11}"]
  for name in names:
    value = results[name]
    baseline = results.get(RANDOM_INIT_PREFIX + name)
    base_text = f"{baseline:>13.4f}" if baseline is not None else f"{'-':>13}"
    gain_text = f"{value - baseline:>+11.4f}" if baseline is not None else f"{'-':>11}"
    lines.append(f"{name:<{width}}{value:>12.4f}{base_text}{gain_text}")
  return "\n".join(lines)


def run_evaluation(config: ml_collections.ConfigDict, workdir: str,
                   variables: Mapping | None = None, step: int | None = None) -> dict:
  """Evaluates the trained encoder (and a random-init one); writes the results.

  Args:
    config: the experiment config.
    workdir: the run directory; results go to WORKDIR/eval/results.json.
    variables: the encoder's variables; when None, restored from the newest
      checkpoint in `workdir`.
    step: the training step the variables come from (recorded in results).
  """
  from jvrl.train import trainer  # pylint: disable=g-import-not-at-top
  mesh = sharding.make_mesh(config.mesh.to_dict())
  if variables is None:
    variables, step = trainer.restore_encoder_variables(config, workdir)
    log_info("Evaluating the encoder from the checkpoint of step %d.", step)
  encoder = models.build_model(config.model_name, **config.model.to_dict())
  start = time.perf_counter()
  results, splits, scores = evaluate_encoder(config, encoder, variables, mesh,
                                             return_outputs=True)
  for_report = {"pretrained": (splits, scores)}
  random_variables = (random_init_variables(config, encoder)
                      if config.eval.random_init_baseline else None)
  if random_variables is not None:
    random_results, random_splits, random_scores = evaluate_encoder(
        config, encoder, random_variables, mesh, prefix=RANDOM_INIT_PREFIX,
        return_outputs=True)
    results.update(random_results)
    for_report["random_init"] = (random_splits, random_scores)
  if finetune.finetune_enabled(config):  # full fine-tuning, multi-clip logit averaging
    results.update(finetune.run_finetuning(
        config, workdir, variables,
        init_name=f"step_{step}" if step is not None else "given_variables"))
    if random_variables is not None and config.eval.finetune.get("random_init_baseline", True):
      results.update(finetune.run_finetuning(
          config, workdir, random_variables, init_name="random_init",
          prefix=RANDOM_INIT_PREFIX))
  whole_model_evaluation = objective_evaluations.whole_model_evaluation(config)
  if whole_model_evaluation is not None:  # e.g. VATT's zero-shot retrieval
    results.update(whole_model_evaluation(config, workdir, mesh))
  if step is not None:
    results["step"] = int(step)
  log_info("Evaluation took %.1f s.", time.perf_counter() - start)
  save_results(workdir, results, format_results_table(results), step)
  if jax.process_index() == 0:  # after results.json: what the report draws
    saved_outputs.save_feature_outputs(workdir, feature_outputs(splits, for_report))
  return results


def save_results(workdir: str, results: Mapping[str, float], table: str,
                 step: int | None = None) -> None:
  """Writes WORKDIR/eval/results.json and TensorBoard scalars, prints `table` (process 0)."""
  if jax.process_index() != 0:
    return
  eval_dir = os.path.join(workdir, "eval")
  os.makedirs(eval_dir, exist_ok=True)
  path = os.path.join(eval_dir, "results.json")
  with open(path + ".tmp", "w") as f:
    json.dump(dict(results), f, indent=2, sort_keys=True)
  os.replace(path + ".tmp", path)
  writer = MetricsWriter(os.path.join(workdir, "tensorboard", "eval"))
  writer.write_scalars(step or 0, {k: v for k, v in results.items() if k != "step"})
  writer.close()
  print("\nResults (" + path + "):\n" + table, flush=True)
