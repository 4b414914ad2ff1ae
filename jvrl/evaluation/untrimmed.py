"""Temporal localization evaluation of a frozen encoder on untrimmed records.

The protocol of `jvrl.evaluation.localization`, fed by dense clip features
(`jvrl.evaluation.clip_features`) of the eval-train and eval-test splits:
per-clip foreground/background and action probes, and a small temporal
localization head trained on eval-train's feature sequences and scored on
eval-test with THUMOS14's and ActivityNet's detection mAP. Any objective's
encoder can be evaluated this way (`config.eval.localization`); TSP's run
evaluates its four encoders with it (`jvrl.experiments.tsp`).

`config.eval.localization` (a dict; absent or enabled=False: not run by the
shared evaluation):
  clip_stride: frames between consecutive clip starts (TSP: 16 ActivityNet,
    1 THUMOS14); clips are `config.data.clip_length` frames at
    `config.data.frame_stride`, centre crops of `config.eval.crop_size` after
    resizing the short side to `config.eval.resize_short_side`.
  num_classes: action classes of the records.
  probe_steps, head_steps: training steps of the probes and of the head.
  evaluation_seeds: how many times the probes and the head are trained (seeds
    config.seed, config.seed + 1, ...); every metric is the mean over them.
    The probes and the small head are cheap next to the feature extraction,
    and one training of the head moves mAP by about +-0.01-0.02 between seeds
    (measured on the synthetic TSP run), which averaging shrinks.
"""
import time
from typing import Any, Mapping

import ml_collections
import numpy as np

from jvrl.evaluation import clip_features
from jvrl.evaluation import localization
from jvrl.train.metrics_writer import log_info

LOCALIZATION_DEFAULTS = {"enabled": False, "clip_stride": 4, "num_classes": 0,
                         "probe_steps": 500, "head_steps": 300, "evaluation_seeds": 1}


def localization_settings(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """`config.eval.localization` over `LOCALIZATION_DEFAULTS`."""
  given = config.eval.get("localization", None)
  given = given.to_dict() if hasattr(given, "to_dict") else dict(given or {})
  unknown = sorted(set(given) - set(LOCALIZATION_DEFAULTS))
  if unknown:
    raise ValueError(f"Unknown config.eval.localization field(s) {unknown}; known: "
                     f"{sorted(LOCALIZATION_DEFAULTS)}.")
  return {**LOCALIZATION_DEFAULTS, **given}


def check_localization_config(config: ml_collections.ConfigDict) -> None:
  """The start-up check of `config.eval.localization` (one line naming the field)."""
  settings = localization_settings(config)
  if not isinstance(settings["enabled"], bool):
    raise ValueError(f"config.eval.localization.enabled={settings['enabled']!r} must be True "
                     "or False.")
  for field in ("clip_stride", "probe_steps", "head_steps", "evaluation_seeds"):
    value = settings[field]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f"config.eval.localization.{field}={value!r} must be a positive integer.")
  classes = settings["num_classes"]
  uses = settings["enabled"] or config.get("objective") == "tsp"
  if uses and (isinstance(classes, bool) or not isinstance(classes, int) or classes < 2):
    raise ValueError(f"config.eval.localization.num_classes={classes!r} must be the number of "
                     "action classes of the records (>= 2).")


def clip_grid(config: ml_collections.ConfigDict) -> clip_features.ClipGrid:
  """The clips the localization evaluation cuts from each video."""
  return clip_features.ClipGrid(
      clip_length=config.data.clip_length, frame_stride=config.data.frame_stride,
      clip_stride=int(localization_settings(config)["clip_stride"]),
      resize_short_side=config.eval.resize_short_side, crop_size=config.eval.crop_size)


def to_localization_video(video: clip_features.VideoClipFeatures,
                          fallback_fps: float = 0.0) -> localization.LocalizationVideo:
  """A video's clip features with times in seconds, as `localization` takes them."""
  fps = video.fps if video.fps > 0 else fallback_fps
  if not fps > 0:
    raise ValueError(f"Video {video.filename} has no frame rate (video/fps) to place its clips "
                     "in time; set config.data.video_fps.")
  starts = video.clip_starts.astype(np.float64) / fps
  keep = video.segment_end_us > video.segment_start_us
  segments = np.stack([video.segment_start_us[keep], video.segment_end_us[keep]],
                      axis=-1).astype(np.float64).reshape(-1, 2) / 1e6
  return localization.LocalizationVideo(
      video_id=video.key, features=video.features, clip_starts=starts,
      clip_ends=starts + video.clip_span / fps, segments=segments,
      segment_labels=video.segment_labels[keep].astype(np.int64),
      duration=video.num_frames / fps)


def split_localization_videos(config: ml_collections.ConfigDict, encoder,
                              variables: Mapping[str, Any], mesh,
                              split: str) -> list[localization.LocalizationVideo]:
  """Clip features of every video of `split`, ready for `localization`."""
  fallback_fps = float(config.data.get("video_fps", 0.0) or 0.0)
  videos = clip_features.extract_clip_features(
      encoder, variables, clip_features.split_examples(config, split), clip_grid(config), mesh,
      config.eval.batch_size)
  return [to_localization_video(video, fallback_fps) for video in videos]


def average_metrics(runs: list[Mapping[str, float]]) -> dict[str, float]:
  """The mean of each metric over `runs` (NaN when a run's is NaN: undefined stays so)."""
  return {name: float(np.mean([run[name] for run in runs])) for name in runs[0]}


def evaluate_encoder_localization(config: ml_collections.ConfigDict, encoder,
                                  variables: Mapping[str, Any], mesh, *, prefix: str = "",
                                  return_predictions: bool = False) -> Any:
  """Localization metrics of `encoder` (keys prefixed with `prefix`).

  With `return_predictions`, returns (metrics, `localization.LocalizationResult`)
  so that reports can draw per-video timelines.
  """
  settings = localization_settings(config)
  start = time.perf_counter()
  train = split_localization_videos(config, encoder, variables, mesh, "eval_train")
  test = split_localization_videos(config, encoder, variables, mesh, "eval_test")
  results = [localization.localize_and_evaluate(
      train, test, int(settings["num_classes"]), seed=config.seed + offset,
      probe_steps=int(settings["probe_steps"]), head_steps=int(settings["head_steps"]))
             for offset in range(int(settings["evaluation_seeds"]))]
  result = localization.LocalizationResult(  # the first seed's videos, for the report
      metrics=average_metrics([r.metrics for r in results]), videos=results[0].videos)
  metrics = {prefix + name: float(value) for name, value in result.metrics.items()}
  log_info("%slocalization evaluation: %d + %d videos, fg/bg AUC %.3f, mAP@0.5 %.3f (%.1f s).",
           prefix or "", len(train), len(test), result.metrics["fgbg_auc"],
           result.metrics["localization_map@0.5"], time.perf_counter() - start)
  return (metrics, result) if return_predictions else metrics
