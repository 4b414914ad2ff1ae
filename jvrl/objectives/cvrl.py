"""CVRL: contrastive learning of two temporally distant clips of one video.

REFERENCE §1. Two clips are sampled with CVRL's linearly decreasing gap
distribution, each gets its own temporally consistent spatial augmentation,
both go through the encoder and the projection MLP in ONE batched forward pass
(so batch-norm statistics cover both views, as in the reference code), and the
NT-Xent loss contrasts every pair against the whole global batch.

SimCLR on video is a config of this objective (REFERENCE §4, the image
baseline of the CVRL paper): `config.cvrl.positive_gap='none'` takes both
views from ONE clip (two augmentations, no temporal gap; default 'cvrl');
`config.cvrl.view_frames=1` makes every view a single frame (frame-level
SimCLR: the 3-D encoder on T=1, which needs `config.model.input_transform=
'rgb'`; 0, the default, = `config.data.clip_length`). Evaluation always uses
`config.data.clip_length`-frame clips.

The loss reads mixing targets of both views (`MIXED_TARGET_FIELDS`) when a
batch-mixing device augmentation (STC-mix) recorded them.
"""
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jvrl import models
from jvrl.data import augment
from jvrl.data import decode
from jvrl.data import sampling
from jvrl.data.tf_setup import tf
from jvrl.losses import contrastive
from jvrl.models import heads
from jvrl.models import inputs
from jvrl.objectives import base
from jvrl.objectives import device_augmentations

# Batch fields whose mixing targets (`device_augmentations.mixing_key`) the loss reads.
MIXED_TARGET_FIELDS = ("view1", "view2")
# config.cvrl.positive_gap: how far apart the two positive clips are.
POSITIVE_GAPS = ("cvrl", "none")


def pooled_view_features(encoder: nn.Module, batch: Mapping[str, jax.Array],
                         train: bool) -> tuple[jax.Array, jax.Array]:
  """batch['view1'], batch['view2'] [B, T, H, W, 3] through `encoder` in ONE batched
  forward pass (batch norm spans both views), globally pooled: two [B, C] arrays."""
  views = jnp.concatenate([batch["view1"], batch["view2"]], axis=0)
  feature_map = encoder(inputs.to_unit_float(views), train=train)
  features_1, features_2 = jnp.split(heads.global_average_pool(feature_map), 2, axis=0)
  return features_1, features_2


def project_views(projection: nn.Module, features_1: jax.Array, features_2: jax.Array,
                  train: bool) -> dict:
  """{'embeddings_1', 'embeddings_2'}: both views' features through ONE projection call."""
  embeddings = projection(jnp.concatenate([features_1, features_2], axis=0), train=train)
  embeddings_1, embeddings_2 = jnp.split(embeddings, 2, axis=0)
  return {"embeddings_1": embeddings_1, "embeddings_2": embeddings_2}


class CVRLModel(nn.Module):
  """Encoder + global average pool + projection MLP applied to both views."""
  encoder: nn.Module
  projection: nn.Module

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], train: bool) -> dict:
    """batch['view1'], batch['view2']: uint8 [B, T, H, W, 3] -> embeddings."""
    features_1, features_2 = pooled_view_features(self.encoder, batch, train)
    return project_views(self.projection, features_1, features_2, train)


def make_view_augmenter(config: ml_collections.ConfigDict, crop_size: int | None = None):
  """`augment_view(clip, seed, view) -> uint8 clip`: CVRL's augmentation of one view.

  `clip`: [T, H, W, 3] frames in 0..255 (any dtype); `view` 0 or 1 picks the
  per-view blur / solarize probabilities of `config.augment`. The view is
  `crop_size` pixels square (None: `config.data.crop_size`).
  """
  aug = config.augment
  crop_size = crop_size or config.data.crop_size

  def augment_view(clip: tf.Tensor, seed: tf.Tensor, view: int) -> tf.Tensor:
    view_clip = augment.cvrl_augment_clip(
        tf.cast(clip, tf.float32) / 255.0, seed,
        crop_size=crop_size,
        blur_prob=aug.blur_prob[view], solarize_prob=aug.solarize_prob[view],
        color_strength=aug.color_strength, color_prob=aug.color_prob,
        grayscale_prob=aug.grayscale_prob, area_range=tuple(aug.area_range),
        aspect_ratio_range=tuple(aug.aspect_ratio_range), flip_prob=aug.flip_prob)
    return tf.cast(tf.round(view_clip * 255.0), tf.uint8)

  return augment_view


def view_frames(config: ml_collections.ConfigDict) -> int:
  """Frames per training view: `config.cvrl.view_frames`, 0 -> `config.data.clip_length`."""
  return int(config.cvrl.get("view_frames", 0) or config.data.clip_length)


def make_cvrl_preprocess(config: ml_collections.ConfigDict) -> base.TrainPreprocessFn:
  """Returns the tf.data function that turns one video into CVRL's two views."""
  clip_length = view_frames(config)
  stride = config.data.frame_stride
  same_clip = config.cvrl.get("positive_gap", "cvrl") == "none"
  augment_view = make_view_augmenter(config)

  def preprocess(example: Mapping[str, Any], seed: tf.Tensor) -> dict:
    start_seed, view1_seed, view2_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    num_frames = example["num_frames"]
    if same_clip:  # SimCLR: two augmentations of one clip
      start = sampling.sample_uniform_clip_start(num_frames, clip_length, stride, start_seed)
      starts = tf.stack([start, start])
    else:
      starts = sampling.sample_cvrl_clip_starts(num_frames, clip_length, stride, start_seed)
    indices = tf.concat([
        sampling.clip_frame_indices(starts[0], clip_length, stride, num_frames),
        sampling.clip_frame_indices(starts[1], clip_length, stride, num_frames),
    ], axis=0)
    # Decode only the 2*T sampled frames, in one op for both clips.
    frames = decode.decode_frames(example["frames"], indices)
    return {
        "view1": augment_view(frames[:clip_length], view1_seed, 0),
        "view2": augment_view(frames[clip_length:], view2_seed, 1),
    }

  return preprocess


def check_config(config: ml_collections.ConfigDict) -> None:
  """`config.cvrl`: present, a positive temperature and positive head sizes."""
  section = base.require_section(config, "cvrl")
  temperature = section.get("temperature")
  if not isinstance(temperature, (int, float)) or not temperature > 0:
    raise ValueError(f"config.cvrl.temperature={temperature!r} must be a number > 0 "
                     "(CVRL: 0.1).")
  for field in ("projection_hidden_dim", "projection_dim"):
    value = section.get(field)
    if not isinstance(value, int) or value < 1:
      raise ValueError(f"config.cvrl.{field}={value!r} must be a positive integer.")
  layers = section.get("projection_hidden_layers")
  if not isinstance(layers, int) or layers < 0:
    raise ValueError(f"config.cvrl.projection_hidden_layers={layers!r} must be an integer >= 0.")
  gap = section.get("positive_gap", "cvrl")
  if gap not in POSITIVE_GAPS:
    raise ValueError(f"config.cvrl.positive_gap={gap!r} must be one of {POSITIVE_GAPS} "
                     "('none': SimCLR, two augmentations of one clip).")
  frames = section.get("view_frames", 0)
  if not isinstance(frames, int) or frames < 0:
    raise ValueError(f"config.cvrl.view_frames={frames!r} must be an integer >= 0 "
                     "(0: config.data.clip_length; 1: frame-level SimCLR).")
  if frames == 1 and config.get("model", {}).get("input_transform", "rgb") != "rgb":
    raise ValueError("config.cvrl.view_frames=1 trains on single frames, which have no residual "
                     "frames: set config.model.input_transform='rgb'.")


def contrastive_loss(outputs: Mapping[str, jax.Array], batch: Mapping[str, jax.Array],
                     temperature: float) -> tuple[jax.Array, dict]:
  """NT-Xent of outputs['embeddings_1'] / ['embeddings_2'], with the views' mixing
  targets when the batch holds them."""
  return contrastive.nt_xent_loss(
      outputs["embeddings_1"], outputs["embeddings_2"], temperature,
      mixing_1=batch.get(device_augmentations.mixing_key("view1")),
      mixing_2=batch.get(device_augmentations.mixing_key("view2")))


def make_projection(config: ml_collections.ConfigDict) -> heads.ProjectionMLP:
  """The projection MLP of `config.cvrl`."""
  return heads.ProjectionMLP(
      hidden_dim=config.cvrl.projection_hidden_dim,
      num_hidden_layers=config.cvrl.projection_hidden_layers,
      output_dim=config.cvrl.projection_dim)


def build_objective(config: ml_collections.ConfigDict) -> base.Objective:
  """Builds CVRL from `config.model_name`, `config.model` and `config.cvrl`."""
  encoder = models.build_model(config.model_name, **config.model.to_dict())
  projection = make_projection(config)
  temperature = config.cvrl.temperature

  def loss_fn(outputs, batch):
    return contrastive_loss(outputs, batch, temperature)

  return base.Objective(
      name="cvrl",
      model=CVRLModel(encoder=encoder, projection=projection),
      loss_fn=loss_fn,
      preprocess_train=make_cvrl_preprocess(config),
      clips_per_example=2,
  )
