"""TSP: temporally-sensitive pretraining of a clip encoder (REFERENCE §6), and TAC.

Supervised pretraining on UNTRIMMED videos with temporal annotations, so that
the encoder's features separate actions from background for temporal
localization (Alwassel et al., TSP's official code HumamAlwassel/TSP).

* Units (`segments.py`): each video becomes its foreground (annotated
  instances) and background (the gaps) segments, those shorter than a clip
  dropped, each `config.tsp.clips_per_segment` times (TSP: 5).
* Example: a clip lying wholly inside its unit's segment (uniform start),
  resized / randomly cropped / flipped (`config.tsp.augment`; TSP: short side
  128, crop 112, flip 0.5, no colour augmentation), with 'action_label' (the
  class, -1 for background) and 'region_label' (1 / 0), and for TSP the
  video's global video feature 'gvf' (`gvf.py`).
* Model and loss (`model.py`): action head on the pooled feature; for TSP
  also the temporal-region head on [feature || GVF]; masked cross-entropies.
* `config.tsp.variant`: 'tsp' (both heads; needs `config.tsp.gvf_file`) or
  'tac' (action head only, no GVF: the paper's baseline, trained on the same
  data by the same code).

The whole experiment (initial encoder -> GVFs -> TAC and TSP -> localization
evaluation of each) is `jvrl.experiments.tsp`, which `jvrl.main` runs for
objective 'tsp'; this module is the training objective it uses.
"""
from typing import Any, Mapping

import ml_collections

from jvrl import models
from jvrl.data import augment
from jvrl.data import decode
from jvrl.data.tf_setup import tf
from jvrl.objectives import base
from jvrl.objectives.tsp import gvf as gvf_lib
from jvrl.objectives.tsp import model as model_lib
from jvrl.objectives.tsp import segments as segments_lib

VARIANTS = ("tsp", "tac")


def _section(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  return base.require_section(config, "tsp")


def check_config(config: ml_collections.ConfigDict) -> None:
  """`config.tsp`: variant, classes, weights, units and augmentation sizes."""
  tsp = _section(config)
  if tsp.get("variant") not in VARIANTS:
    raise ValueError(f"config.tsp.variant={tsp.get('variant')!r} must be one of {VARIANTS}.")
  classes = tsp.get("num_classes")
  if not isinstance(classes, int) or classes < 2:
    raise ValueError(f"config.tsp.num_classes={classes!r} must be the number of action "
                     "classes (>= 2).")
  for field in ("action_weight", "region_weight"):
    value = tsp.get(field)
    if not isinstance(value, (int, float)) or value < 0:
      raise ValueError(f"config.tsp.{field}={value!r} must be a number >= 0.")
  per_segment = tsp.get("clips_per_segment")
  if not isinstance(per_segment, int) or per_segment < 1:
    raise ValueError(f"config.tsp.clips_per_segment={per_segment!r} must be a positive integer.")
  if tsp.get("gvf_pooling", "max") not in gvf_lib.POOLINGS:
    raise ValueError(f"config.tsp.gvf_pooling={tsp.get('gvf_pooling')!r} must be one of "
                     f"{gvf_lib.POOLINGS}.")
  aug = tsp.augment
  if aug.resize_short_side < config.data.crop_size:
    raise ValueError(f"config.tsp.augment.resize_short_side={aug.resize_short_side} is below "
                     f"config.data.crop_size={config.data.crop_size}.")
  if not 0.0 <= aug.flip_prob <= 1.0:
    raise ValueError(f"config.tsp.augment.flip_prob={aug.flip_prob} must be in [0, 1].")


def make_expand_example(config: ml_collections.ConfigDict):
  """The objective's `expand_example`: one video -> its segment units."""
  span = segments_lib.clip_span(config.data.clip_length, config.data.frame_stride)
  clips_per_segment = config.tsp.clips_per_segment
  fallback_fps = float(config.data.get("video_fps", 0.0) or 0.0)

  def expand(example: Mapping[str, Any]) -> tf.data.Dataset:
    return segments_lib.segment_units(example, min_length=span,
                                      clips_per_segment=clips_per_segment,
                                      fallback_fps=fallback_fps)

  return expand


def make_tsp_preprocess(config: ml_collections.ConfigDict,
                        gvf_table: gvf_lib.GVFTable | None) -> base.TrainPreprocessFn:
  """The tf.data function making one example of a unit: clip, labels (and GVF)."""
  clip_length, stride = config.data.clip_length, config.data.frame_stride
  span = segments_lib.clip_span(clip_length, stride)
  aug, crop_size = config.tsp.augment, config.data.crop_size

  def preprocess(unit: Mapping[str, Any], seed: tf.Tensor) -> dict:
    start_seed, view_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    start = segments_lib.sample_clip_start(unit, span, start_seed)
    indices = start + tf.range(clip_length, dtype=tf.int32) * stride
    clip = decode.decode_frames(unit["frames"], indices)
    clip = augment.resize_crop_and_flip(clip, view_seed, aug.resize_short_side, crop_size,
                                        aug.flip_prob)
    out = {"clip": tf.cast(tf.round(tf.clip_by_value(clip, 0.0, 255.0)), tf.uint8),
           "action_label": unit["action_label"], "region_label": unit["region_label"]}
    if gvf_table is not None:
      out["gvf"] = gvf_table.lookup(unit["filename"])
    return out

  return preprocess


def build_objective(config: ml_collections.ConfigDict) -> base.Objective:
  """TSP or TAC (`config.tsp.variant`) on `config.model_name` / `config.model`."""
  check_config(config)
  tsp = config.tsp
  is_tsp = tsp.variant == "tsp"
  gvf_table = None
  if is_tsp:
    if not tsp.get("gvf_file"):
      raise ValueError(
          "config.tsp.gvf_file is empty: TSP's region head needs each training video's global "
          "video feature. `python -m jvrl.main` computes them from the initial encoder; or "
          "point config.tsp.gvf_file at a GVF file (H5 or npy directory).")
    gvf_table = gvf_lib.GVFTable(tsp.gvf_file)
  encoder = models.build_model(config.model_name, **config.model.to_dict())
  weights = dict(action_weight=float(tsp.action_weight),
                 region_weight=float(tsp.region_weight) if is_tsp else 0.0)

  def loss_fn(outputs, batch):
    return model_lib.tsp_loss(outputs, batch, **weights)

  return base.Objective(
      name=tsp.variant,
      model=model_lib.TSPModel(encoder=encoder, num_classes=tsp.num_classes,
                               region_head=is_tsp),
      loss_fn=loss_fn,
      preprocess_train=make_tsp_preprocess(config, gvf_table),
      clips_per_example=1,
      expand_example=make_expand_example(config),
  )
