"""Evaluation of a whole video-audio-text model (VATT's whole-model evaluation).

On top of the shared evaluation of the video encoder (`evaluate.py`), this
restores the whole trained model from the newest checkpoint in WORKDIR and
reports, for it and (with `config.eval.random_init_baseline`) for a randomly
initialised model evaluated identically:

* zero-shot retrieval on the eval-test split, by cosine similarity in the
  common spaces: video->text and text->video in the video-text space (every
  caption of every test video is a gallery item / query; a video is matched
  by any of its captions), video->audio and audio->video in the video-audio
  space (test videos with audio), each as recall@1/5/10 and median rank
  (`zero_shot`), named `zero_shot_{v2t,t2v,v2a,a2v}_...`;
* the shared linear probe / kNN / retrieval (`evaluate.metrics_from_features`)
  on the audio tower's pooled features (`audio_...`) and on the text tower's
  pooled features averaged over each video's captions (`text_...`); the video
  tower's are the shared evaluation's own rows.

Text->video examples of both models (`zero_shot_examples`) go to
WORKDIR/eval/zero_shot_examples.json for the report.

Views are those of the shared evaluation (`config.eval.num_clips` evenly
spaced clips x `num_crops` crops), each with the audio window of its clip;
embeddings are averaged over a video's views. Captions: the first
`config.vatt.num_captions` of each video.
"""
import time
from typing import Any, Mapping

import jax
import ml_collections
import numpy as np

from jvrl.data import device_batches
from jvrl.data import pipeline
from jvrl.data import sampling
from jvrl.data import sources
from jvrl.data import vatt_sampling
from jvrl.data.tf_setup import tf
from jvrl.evaluation import evaluate
from jvrl.evaluation import retrieval
from jvrl.evaluation import saved_outputs
from jvrl.evaluation import zero_shot
from jvrl.train import sharding
from jvrl.train.metrics_writer import log_info

# Per-video arrays an extraction returns (besides 'label').
_FIELDS = ("video_va", "video_vt", "audio_pooled", "audio_va", "text_pooled", "text_vt",
           "audio_mask", "caption_mask")
# Per-video strings an extraction returns when the dataset has them.
_TEXT_FIELDS = ("captions", "filename")
# Text->video examples the report shows (captions of this many test videos, top-k each).
NUM_ZERO_SHOT_EXAMPLES = 6
ZERO_SHOT_EXAMPLE_K = 5


def make_multimodal_eval_dataset(config: ml_collections.ConfigDict, split: str,
                                 batch_size: int, tokenizer) -> tf.data.Dataset:
  """One pass over `split`: the shared eval views plus audio windows and captions.

  Each element: 'video' uint8 [B, V, T, S, S, 3], 'audio' float32 [B, V, A]
  (the window of each view's clip), 'audio_mask' [B], 'text_ids' /
  'text_mask' [B, K, L], 'caption_mask' [B, K], 'captions' tf.string [B, K]
  ('' padding), 'label' [B], 'filename' [B], 'mask' [B] (False on padding
  rows).
  """
  from jvrl.objectives import vatt as vatt_objective  # pylint: disable=g-import-not-at-top
  views = pipeline.make_eval_views_fn(config)
  clip_length, stride = config.data.clip_length, config.data.frame_stride
  num_clips, num_crops = config.eval.num_clips, config.eval.num_crops
  fps, sample_rate = vatt_objective.media_rates(config)
  num_samples = vatt_objective.audio_window_samples(config)
  num_captions = config.vatt.num_captions

  def with_audio_and_text(example):
    out = views(example)
    starts = sampling.evenly_spaced_clip_starts(example["num_frames"], clip_length, stride,
                                                num_clips)
    windows = [vatt_sampling.aligned_audio_window(example["waveform"], starts[i], num_samples,
                                                  fps, sample_rate)[0]
               for i in range(num_clips)]
    # Views are clip-major (clip i's crops are views i*num_crops ... ), see pipeline.
    out["audio"] = tf.repeat(tf.stack(windows), num_crops, axis=0)
    out["audio_mask"] = tf.size(example["waveform"]) > 0
    captions, caption_mask = vatt_sampling.select_captions(example["captions"], num_captions)
    out.update(vatt_objective.encode_captions(tokenizer, captions, caption_mask))
    out["captions"] = captions  # the text itself, for the report's examples
    out["mask"] = tf.constant(True)
    return out

  examples = sources.make_example_dataset(config.data, split, shuffle_files=False,
                                          seed=config.seed)
  dataset = examples.map(with_audio_and_text, num_parallel_calls=tf.data.AUTOTUNE,
                         deterministic=True)
  return pipeline.batch_and_pad(dataset, batch_size)


def make_encode_fn(model, mesh):
  """Jitted (variables, batch) -> per-video embeddings (views averaged)."""

  def encode(variables, batch):
    video = batch["video"]
    size, num_views = video.shape[:2]
    clips = video.reshape((size * num_views,) + video.shape[2:])
    video_out = model.apply(variables, clips, train=False, method="embed_video")
    audio_out = model.apply(variables, batch["audio"].reshape(size * num_views, -1),
                            train=False, method="embed_audio")
    text_out = model.apply(variables, batch["text_ids"], batch["text_mask"], train=False,
                           method="embed_text")
    mean_views = lambda x: x.reshape(size, num_views, -1).mean(axis=1)  # noqa: E731
    return {"video_va": mean_views(video_out["va"]), "video_vt": mean_views(video_out["vt"]),
            "audio_pooled": mean_views(audio_out["pooled"]),
            "audio_va": mean_views(audio_out["va"]),
            "text_pooled": text_out["pooled"], "text_vt": text_out["vt"]}

  batch_sharding = device_batches.batch_sharding(mesh)
  return jax.jit(encode, in_shardings=(sharding.replicated(mesh), batch_sharding),
                 out_shardings=batch_sharding)


def extract_multimodal_features(encode_fn, variables, dataset: tf.data.Dataset,
                                mesh) -> dict[str, np.ndarray]:
  """Runs `encode_fn` over a `make_multimodal_eval_dataset`; padding rows are dropped."""
  if jax.process_count() != 1:
    raise NotImplementedError("Multi-host multimodal evaluation is not supported yet.")
  variables = jax.device_put(variables, sharding.replicated(mesh))
  names = _FIELDS + ("label",) + tuple(name for name in _TEXT_FIELDS
                                       if name in dataset.element_spec)
  parts = {name: [] for name in names}
  device_fields = ("video", "audio", "text_ids", "text_mask")
  for batch in dataset.as_numpy_iterator():
    keep = np.asarray(batch["mask"], bool)
    on_device = device_batches.make_global_batch(
        {name: batch[name] for name in device_fields}, mesh)
    outputs = jax.device_get(encode_fn(variables, on_device))
    for name in names:
      source = outputs if name in outputs else batch
      parts[name].append(np.asarray(source[name])[keep])
  if not parts["label"]:
    raise ValueError("The evaluation split is empty.")
  features = {name: np.concatenate(values) for name, values in parts.items()}
  for name in _TEXT_FIELDS:
    if name in features:  # bytes -> str
      strings = features[name]
      features[name] = np.asarray([b.decode("utf-8", "replace") for b in strings.ravel()],
                                  dtype=str).reshape(strings.shape)
  return features


def multimodal_metrics(train: Mapping[str, np.ndarray], test: Mapping[str, np.ndarray],
                       eval_config: ml_collections.ConfigDict,
                       seed: int = 0) -> dict[str, float]:
  """Zero-shot retrieval on `test`; audio / text probes trained on `train`, tested on `test`."""
  metrics = {}
  captions = test["caption_mask"]
  if captions.any():
    owners = np.nonzero(captions)[0]
    metrics.update(zero_shot.video_text_retrieval(test["video_vt"], test["text_vt"][captions],
                                                  owners))
  with_audio = test["audio_mask"]
  if with_audio.sum() > 1:
    metrics.update(zero_shot.paired_retrieval(test["video_va"][with_audio],
                                              test["audio_va"][with_audio], ("v", "a")))
  results = {f"zero_shot_{name}": value for name, value in metrics.items()}

  labelled = (train["label"] >= 0).all() and (test["label"] >= 0).all()
  if not labelled:
    log_info("Unlabelled evaluation videos: no audio / text linear probe or kNN.")
    return results
  for modality, keep_train, keep_test in (
      ("audio", train["audio_mask"], test["audio_mask"]),
      ("text", train["caption_mask"].any(axis=1), test["caption_mask"].any(axis=1))):
    if keep_train.sum() < 2 or keep_test.sum() < 1:
      continue
    if modality == "audio":
      train_x, test_x = train["audio_pooled"], test["audio_pooled"]
    else:
      train_x, test_x = (_mean_over_captions(split["text_pooled"], split["caption_mask"])
                         for split in (train, test))
    probe = evaluate.metrics_from_features(
        train_x[keep_train], train["label"][keep_train], test_x[keep_test],
        test["label"][keep_test], eval_config, seed)
    results.update({f"{modality}_{name}": value for name, value in probe.items()})
  return results


def zero_shot_examples(test: Mapping[str, np.ndarray], num_queries: int = NUM_ZERO_SHOT_EXAMPLES,
                       k: int = ZERO_SHOT_EXAMPLE_K) -> list[dict[str, Any]]:
  """Text->video examples: the first caption of `num_queries` test videos spread
  evenly over the split, each with the `k` test videos it ranks first.

  Args:
    test: an `extract_multimodal_features` result (with 'captions').
    num_queries: how many captions to query with.
    k: videos kept per query.

  Returns:
    One dict per query: 'caption', 'video' (its own video's row), 'label',
    'filename', 'rank' (of its own video, ties counted against it), 'ranked'
    (rows, best first), 'ranked_labels', 'ranked_filenames', 'scores' (cosine
    similarities).
  """
  has_caption = np.nonzero(test["caption_mask"].any(axis=1))[0]
  if not has_caption.size or "captions" not in test:
    return []
  picks = np.linspace(0, has_caption.size - 1, min(num_queries, has_caption.size))
  videos = retrieval.l2_normalize(np.asarray(test["video_vt"], np.float32))
  filenames = test.get("filename", np.full(len(videos), "", dtype=str))
  examples = []
  for row in has_caption[np.unique(np.round(picks).astype(int))]:
    caption = int(np.argmax(test["caption_mask"][row]))
    query = retrieval.l2_normalize(np.asarray(test["text_vt"][row, caption], np.float32))
    similarity = videos @ query
    ranked = np.argsort(-similarity, kind="stable")[:k]
    others = np.delete(similarity, row)
    examples.append({
        "caption": str(test["captions"][row, caption]), "video": int(row),
        "label": int(test["label"][row]), "filename": str(filenames[row]),
        "rank": int(1 + np.sum(others >= similarity[row])),
        "ranked": [int(i) for i in ranked],
        "ranked_labels": [int(test["label"][i]) for i in ranked],
        "ranked_filenames": [str(filenames[i]) for i in ranked],
        "scores": [float(similarity[i]) for i in ranked]})
  return examples


def _mean_over_captions(pooled: np.ndarray, caption_mask: np.ndarray) -> np.ndarray:
  """[N, K, D] caption features -> [N, D], the mean over each video's valid captions."""
  weights = caption_mask.astype(np.float32)[..., None]
  return (pooled * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)


def restore_model_variables(config: ml_collections.ConfigDict,
                            workdir: str) -> tuple[dict, int]:
  """The whole model's variables ({'params', 'batch_stats', ...}) from the newest
  checkpoint in `workdir`, and its step (every submodule, not only the encoder)."""
  from jvrl.train import trainer  # pylint: disable=g-import-not-at-top
  state, step = trainer.restore_latest_state(config, workdir)
  return trainer.model_variables(state), step


def random_init_model_variables(config: ml_collections.ConfigDict, model,
                                dataset: tf.data.Dataset) -> dict:
  """Freshly initialised variables of the whole model (seed distinct from training's)."""
  element = {name: spec for name, spec in dataset.element_spec.items()}
  video = element["video"]
  example = {
      "video": np.zeros((1,) + tuple(video.shape[2:]), np.uint8),
      "audio": np.zeros((1, element["audio"].shape[-1]), np.float32),
      "text_ids": np.zeros((1,) + tuple(element["text_ids"].shape[1:]), np.int32),
      "text_mask": np.zeros((1,) + tuple(element["text_mask"].shape[1:]), bool),
  }
  init = jax.jit(lambda rng: model.init(rng, example, train=False))
  with jax.threefry_partitionable(False):  # much faster to compile on CPU; see trainer.
    return init(jax.random.key(config.seed + 12345))


def evaluate_whole_model(config: ml_collections.ConfigDict, workdir: str,
                         mesh) -> dict[str, float]:
  """VATT's whole-model evaluation (see the module docstring;
  `jvrl.evaluation.objective_evaluations` runs it for objective 'vatt')."""
  from jvrl.objectives import vatt as vatt_objective  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  tokenizer = vatt_objective.make_tokenizer(config)
  model = vatt_objective.make_model(config, tokenizer)
  batch_size = config.eval.batch_size
  datasets = {split: make_multimodal_eval_dataset(config, split, batch_size, tokenizer)
              for split in ("eval_train", "eval_test")}
  encode = make_encode_fn(model, mesh)
  variables, step = restore_model_variables(config, workdir)
  candidates: list[tuple[str, Any]] = [("", variables)]
  if config.eval.random_init_baseline:
    candidates.append((evaluate.RANDOM_INIT_PREFIX,
                       random_init_model_variables(config, model, datasets["eval_test"])))
  results, examples = {}, {}
  for prefix, model_variables in candidates:
    features = {split: extract_multimodal_features(encode, model_variables, dataset, mesh)
                for split, dataset in datasets.items()}
    metrics = multimodal_metrics(features["eval_train"], features["eval_test"], config.eval,
                                 config.seed)
    results.update({prefix + name: value for name, value in metrics.items()})
    examples[prefix.rstrip("_") or "pretrained"] = zero_shot_examples(features["eval_test"])
  if jax.process_index() == 0:  # for the report (`jvrl.report`)
    saved_outputs.save_zero_shot_examples(workdir, examples)
  log_info("Multimodal evaluation (model of step %d: zero-shot retrieval, audio and text "
           "probes) took %.1f s.", step, time.perf_counter() - start)
  return results
