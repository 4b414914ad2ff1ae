"""Supervised classification of one augmented clip per video: a baseline objective.

Not self-supervised: it uses the labels that the self-supervised objectives
ignore. It answers "what does this encoder reach on these videos with labels,
in the same budget?" (an upper reference for the pretraining objectives) and
is the objective that fine-tuning builds on (`jvrl.evaluation.finetune`). One
clip per video is sampled uniformly and augmented as
`config.supervised.augmentation` says: 'cvrl' (default) with the CVRL view-1
settings of `config.augment`; 'crop' (fine-tuning, PRP's protocol) resizes
the short side to `config.supervised.resize_short_side`, takes one random
`config.data.crop_size` window and flips with `config.supervised.flip_prob`.
The encoder's pooled features go through a linear classifier trained with
softmax cross-entropy. Videos without a label (label < 0) or with a label >=
`config.supervised.num_classes` stop training with a one-line
`pipeline.InvalidInputError` (checked in the input pipeline).
"""
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jvrl import models
from jvrl.data import augment
from jvrl.data import decode
from jvrl.data import pipeline
from jvrl.data import sampling
from jvrl.data.tf_setup import tf
from jvrl.models import heads
from jvrl.models import inputs
from jvrl.objectives import base


class ClassifierModel(nn.Module):
  """Encoder + global average pool + linear classifier."""
  encoder: nn.Module
  num_classes: int

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], train: bool) -> dict:
    """batch['clip']: uint8 [B, T, H, W, 3] -> {'logits': float32 [B, num_classes]}."""
    feature_map = self.encoder(inputs.to_unit_float(batch["clip"]), train=train)
    logits = nn.Dense(self.num_classes, name="classifier")(
        heads.global_average_pool(feature_map).astype(jnp.float32))
    return {"logits": logits}


AUGMENTATIONS = ("cvrl", "crop")


def _augmentation_fn(config: ml_collections.ConfigDict):
  """(float clip [T, H, W, 3] in [0, 1], seed) -> float [T, S, S, 3], as configured."""
  crop_size = config.data.crop_size
  mode = config.supervised.get("augmentation", "cvrl")
  if mode == "cvrl":
    aug = config.augment
    return lambda clip, seed: augment.cvrl_augment_clip(
        clip, seed, crop_size=crop_size,
        blur_prob=aug.blur_prob[0], solarize_prob=aug.solarize_prob[0],
        color_strength=aug.color_strength, color_prob=aug.color_prob,
        grayscale_prob=aug.grayscale_prob, area_range=tuple(aug.area_range),
        aspect_ratio_range=tuple(aug.aspect_ratio_range), flip_prob=aug.flip_prob)
  if mode == "crop":
    resize_to = config.supervised.resize_short_side
    flip_prob = config.supervised.get("flip_prob", 0.0)
    if resize_to < crop_size:
      raise ValueError(f"config.supervised.resize_short_side={resize_to} must be >= "
                       f"config.data.crop_size={crop_size}.")
    return lambda clip, seed: augment.resize_crop_and_flip(clip, seed, resize_to, crop_size,
                                                           flip_prob)
  raise ValueError(f"Unknown config.supervised.augmentation={mode!r}; known: {AUGMENTATIONS}.")


def make_supervised_preprocess(config: ml_collections.ConfigDict) -> base.TrainPreprocessFn:
  """Returns the tf.data function making one (augmented clip, label) example."""
  clip_length = config.data.clip_length
  stride = config.data.frame_stride
  num_classes = config.supervised.num_classes
  augment_clip = _augmentation_fn(config)

  def preprocess(example: Mapping[str, Any], seed: tf.Tensor) -> dict:
    start_seed, view_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    num_frames = example["num_frames"]
    start = sampling.sample_uniform_clip_start(num_frames, clip_length, stride, start_seed)
    indices = sampling.clip_frame_indices(start, clip_length, stride, num_frames)
    clip = tf.cast(decode.decode_frames(example["frames"], indices), tf.float32) / 255.0
    clip = augment_clip(clip, view_seed)
    label = tf.cast(example["label"], tf.int32)
    labelled = tf.debugging.Assert(label >= 0, [
        f"{pipeline.INVALID_INPUT_MESSAGE} the supervised objective needs labelled videos "
        "(clip/label/index); found a video without one: use labelled records."], summarize=1)
    in_range = tf.debugging.Assert(label < num_classes, [
        f"{pipeline.INVALID_INPUT_MESSAGE} a video has a label >= "
        f"config.supervised.num_classes={num_classes} (for fine-tuning: "
        "config.eval.finetune.num_classes): raise it to the number of classes."], summarize=1)
    with tf.control_dependencies([labelled, in_range]):
      label = tf.identity(label)
    return {"clip": tf.cast(tf.round(clip * 255.0), tf.uint8), "label": tf.cast(label, tf.int32)}

  return preprocess


def classification_loss(outputs: Mapping[str, jax.Array],
                        batch: Mapping[str, jax.Array]) -> tuple[jax.Array, dict]:
  """Mean softmax cross-entropy and top-1 accuracy over the (global) batch."""
  logits, labels = outputs["logits"], batch["label"]
  loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
  accuracy = jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))
  return loss, {"accuracy": accuracy}


def check_config(config: ml_collections.ConfigDict) -> None:
  """`config.supervised`: present, with the number of classes (>= 2) and a known
  augmentation."""
  section = base.require_section(config, "supervised")
  classes = section.get("num_classes")
  if not isinstance(classes, int) or classes < 2:
    raise ValueError(f"config.supervised.num_classes={classes!r} must be the number of "
                     "classes (>= 2).")
  mode = section.get("augmentation", "cvrl")
  if mode not in AUGMENTATIONS:
    raise ValueError(f"Unknown config.supervised.augmentation={mode!r}; known: {AUGMENTATIONS}.")


def build_objective(config: ml_collections.ConfigDict) -> base.Objective:
  """Builds the classifier from `config.model_name`, `config.model`, `config.supervised.num_classes`."""
  encoder = models.build_model(config.model_name, **config.model.to_dict())
  num_classes = config.supervised.num_classes
  if num_classes < 2:
    raise ValueError(f"config.supervised.num_classes must be >= 2, got {num_classes}.")
  return base.Objective(
      name="supervised",
      model=ClassifierModel(encoder=encoder, num_classes=num_classes),
      loss_fn=classification_loss,
      preprocess_train=make_supervised_preprocess(config),
      clips_per_example=1,
  )
