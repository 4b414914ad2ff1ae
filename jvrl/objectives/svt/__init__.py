"""SVT: self-supervised video transformer, DINO self-distillation across views of different
spatial size and frame rate (REFERENCE §4; Ranasinghe et al., CVPR 2022; official code
kahnchana/svt, on DINO's).

* Views (`views.py`): 2 global views spanning the sampled window at a low
  frame rate (`config.data.clip_length` frames at `config.data.crop_size`:
  the shape the evaluation reads too) and several local views: short
  sub-windows at a high frame rate, small crops; each with its own
  temporally consistent augmentation, sampled in tf.data.
* Model (`model.py`): the backbone (SVT: a video transformer; here VATT's
  video tower, whose position tables are interpolated for the local views'
  smaller token grids) and DINO's head with `config.svt.out_dim` outputs;
  views of one shape share one forward.
* Teacher: the trainer's EMA copy of backbone and head (`Objective.teacher`,
  momentum cosine `config.svt.teacher_momentum` 0.996 -> 1), run on the
  global views only; its outputs are centred (centre momentum 0.9) and
  sharpened (temperature 0.04) inside the model.
* Loss (`loss.py`): DINO's cross-entropy between every teacher view and every
  other student view, student temperature 0.1.
The encoder evaluated and exported is the student's backbone;
`config.train.export_teacher=True` (the SVT configs) also exports the
teacher's, which DINO and SVT evaluate.
"""
from typing import Any, Mapping

import ml_collections

from jvrl import models
from jvrl.data.tf_setup import tf
from jvrl.models.vatt import transformer
from jvrl.objectives import base
from jvrl.objectives.svt import loss as loss_lib
from jvrl.objectives.svt import model as model_lib
from jvrl.objectives.svt import views as views_lib


def _section(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  return base.require_section(config, "svt")


def view_spec(config: ml_collections.ConfigDict) -> views_lib.ViewSpec:
  """SVT's views from `config.svt` (global views: `config.data.clip_length` x
  `config.data.crop_size`)."""
  svt = _section(config)
  aug = svt.augment
  return views_lib.ViewSpec(
      window=svt.window_frames, num_global=svt.num_global_views,
      global_frames=config.data.clip_length, global_size=config.data.crop_size,
      global_area=tuple(svt.global_area), global_shift=svt.global_shift,
      num_local=svt.num_local_views, local_frames=svt.local_frames, local_size=svt.local_size,
      local_area=tuple(svt.local_area), local_span_divisor=svt.local_span_divisor,
      aspect_ratio_range=tuple(aug.aspect_ratio_range), flip_prob=aug.flip_prob,
      color_strength=aug.color_strength, color_prob=aug.color_prob,
      grayscale_prob=aug.grayscale_prob, global_blur_prob=tuple(aug.global_blur_prob),
      global_solarize_prob=tuple(aug.global_solarize_prob), local_blur_prob=aug.local_blur_prob)


def check_config(config: ml_collections.ConfigDict) -> None:
  """`config.svt`: views, head, temperatures and momenta."""
  svt = _section(config)
  for field in ("num_global_views", "window_frames", "local_frames", "local_size",
                "local_span_divisor", "out_dim", "head_hidden_dim", "head_bottleneck_dim"):
    value = svt.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f"config.svt.{field}={value!r} must be a positive integer.")
  locals_ = svt.get("num_local_views")
  if isinstance(locals_, bool) or not isinstance(locals_, int) or locals_ < 0:
    raise ValueError(f"config.svt.num_local_views={locals_!r} must be an integer >= 0.")
  if svt.num_global_views < 2 and locals_ == 0:
    raise ValueError("SVT needs at least two views: config.svt.num_global_views >= 2 or "
                     "config.svt.num_local_views >= 1.")
  for field in ("student_temperature", "teacher_temperature"):
    value = svt.get(field)
    if not isinstance(value, (int, float)) or not value > 0:
      raise ValueError(f"config.svt.{field}={value!r} must be a number > 0 (SVT: 0.1 "
                       "student, 0.04 teacher).")
  momentum = tuple(svt.get("teacher_momentum", ()))
  if len(momentum) != 2 or not all(0 <= m <= 1 for m in momentum):
    raise ValueError(f"config.svt.teacher_momentum={momentum!r} must be (start, end) in "
                     "[0, 1] (SVT: (0.996, 1.0)).")
  if not 0 <= svt.get("center_momentum", -1) < 1:
    raise ValueError(f"config.svt.center_momentum={svt.get('center_momentum')!r} must be in "
                     "[0, 1) (DINO: 0.9).")
  for field in ("global_area", "local_area"):
    low, high = tuple(svt.get(field))
    if not 0 < low <= high <= 1:
      raise ValueError(f"config.svt.{field}={(low, high)} must satisfy 0 < min <= max <= 1.")
  try:
    view_spec(config)
  except ValueError as error:
    raise ValueError(f"config.svt: {error}") from None


def make_svt_preprocess(config: ml_collections.ConfigDict) -> base.TrainPreprocessFn:
  """The tf.data function making one example: SVT's global and local views."""
  spec = view_spec(config)

  def preprocess(example: Mapping[str, Any], seed: tf.Tensor) -> dict:
    return views_lib.make_views(example, spec, seed)

  return preprocess


def build_objective(config: ml_collections.ConfigDict) -> base.Objective:
  """SVT on `config.model_name` / `config.model` (see the module docstring)."""
  check_config(config)
  svt = config.svt
  model = model_lib.SVTModel(
      encoder=models.build_model(config.model_name, **config.model.to_dict()),
      head=model_lib.DINOHead(out_dim=svt.out_dim, hidden_dim=svt.head_hidden_dim,
                              bottleneck_dim=svt.head_bottleneck_dim),
      num_global=svt.num_global_views, num_local=svt.num_local_views,
      teacher_temperature=float(svt.teacher_temperature),
      center_momentum=float(svt.center_momentum))
  student_temperature = float(svt.student_temperature)

  def loss_fn(outputs, batch):
    del batch
    teacher = outputs[base.TEACHER_OUTPUTS]
    loss, metrics = loss_lib.dino_loss(outputs["student_logits"], teacher["probabilities"],
                                       student_temperature)
    return loss, dict(metrics, teacher_entropy=teacher["entropy"])

  return base.Objective(
      name="svt",
      model=model,
      loss_fn=loss_fn,
      preprocess_train=make_svt_preprocess(config),
      clips_per_example=2 * svt.num_global_views + svt.num_local_views,
      rng_names=("dropout", transformer.DROP_TOKEN_RNG),  # a transformer backbone's
      teacher=base.Teacher(
          submodules=("encoder", "head"),
          momentum=base.cosine_momentum(*svt.teacher_momentum, config.train.num_steps),
          method="teacher_probabilities",
          state_collections=(model_lib.CENTER_COLLECTION,)),
  )
