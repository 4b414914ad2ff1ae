"""STOR / CSTP: contrast plus spatio-temporal overlap-rate prediction (REFERENCE §4).

Zhang et al., "Contrastive Spatio-Temporal Pretext Learning" (arXiv
2112.08913, Katou2/CSTP). Two clips of one video are sampled with a known
temporal overlap and spatial (crop-box) overlap (`sampling.py`); besides the
contrast of the two clips, heads on the pair's pooled features classify the
temporal overlap rate and the spatial overlap rate (CSTP: 5 classes each,
(1.0, 0.8, 0.6, 0.4, 0.2)), and optionally each clip's playback rate (PRP's
rates; `config.stor.playback_rates=()` turns it off). Loss =
contrast_weight * NT-Xent + temporal_weight * CE + spatial_weight * CE
[+ playback_weight * (CE(clip 1) + CE(clip 2))].

Batch: 'view1', 'view2' uint8 [B, T, S, S, 3]; 'temporal_overlap',
'spatial_overlap' int32 [B] (class indices); 'playback_rate' int32 [B] when
playback rates are on (both clips share the rate, as in CSTP).

Deviations from CSTP's code: the contrast is CVRL's NT-Xent over the global
batch (`config.cvrl`), not BYOL (no EMA teacher in this objective); the
rotation head is left out; the two clips are really read at their own start
frames (CSTP's LMDB loaders read clip 2 at clip 1's start); the temporal
class is drawn before the position (uniform classes). The heads are CSTP's
(one Dense layer on [f1 || f2], and on each clip for the playback rate) unless
`config.stor.head_hidden_dim > 0`.
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
from jvrl.data import sampling as clip_sampling
from jvrl.data.tf_setup import tf
from jvrl.models import pair_heads
from jvrl.objectives import base
from jvrl.objectives import cvrl
from jvrl.objectives.stor import sampling

MIXED_TARGET_FIELDS = cvrl.MIXED_TARGET_FIELDS
# (metric name, batch label field, output logits, config weight field) of the pair heads.
PAIR_TASKS = (("temporal", "temporal_overlap", "temporal_logits", "temporal_weight"),
              ("spatial", "spatial_overlap", "spatial_logits", "spatial_weight"))


class STORModel(nn.Module):
  """CVRL's model plus overlap heads on the pair (and a playback-rate head per clip)."""
  encoder: nn.Module
  projection: nn.Module
  temporal_head: nn.Module
  spatial_head: nn.Module
  playback_head: nn.Module | None = None

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], train: bool) -> dict:
    """-> embeddings, 'temporal_logits', 'spatial_logits' [, 'playback_logits_1/2']."""
    features_1, features_2 = cvrl.pooled_view_features(self.encoder, batch, train)
    outputs = cvrl.project_views(self.projection, features_1, features_2, train)
    outputs["temporal_logits"] = self.temporal_head(features_1, features_2)
    outputs["spatial_logits"] = self.spatial_head(features_1, features_2)
    if self.playback_head is not None:
      logits = self.playback_head(jnp.concatenate([features_1, features_2], axis=0))
      outputs["playback_logits_1"], outputs["playback_logits_2"] = jnp.split(logits, 2, axis=0)
    return outputs


def check_config(config: ml_collections.ConfigDict) -> None:
  """`config.stor` (overlap classes, playback rates, weights, heads) and `config.cvrl`."""
  cvrl.check_config(config)
  section = base.require_section(config, "stor")
  for field in ("temporal_overlaps", "spatial_overlaps"):
    sampling.check_overlap_rates(section.get(field, ()), f"config.stor.{field}")
  rates = tuple(section.get("playback_rates", ()) or ())
  if rates and (len(rates) < 2 or rates[0] != 1 or any(
      not isinstance(r, int) or r < 1 for r in rates) or list(rates) != sorted(set(rates))):
    raise ValueError(f"config.stor.playback_rates={rates!r} must be () (off) or increasing "
                     "integers starting at 1, e.g. (1, 2) (PRP: (1, 2, 4, 8)).")
  for field in ("contrast_weight", "temporal_weight", "spatial_weight", "playback_weight"):
    value = section.get(field)
    if not isinstance(value, (int, float)) or value < 0:
      raise ValueError(f"config.stor.{field}={value!r} must be a number >= 0.")
  hidden = section.get("head_hidden_dim")
  if not isinstance(hidden, int) or hidden < 0:
    raise ValueError(f"config.stor.head_hidden_dim={hidden!r} must be an integer >= 0 (0: "
                     "CSTP's single Dense layer).")


def make_stor_preprocess(config: ml_collections.ConfigDict) -> base.TrainPreprocessFn:
  """The tf.data function making one STOR example (see the module docstring)."""
  clip_length, base_stride = config.data.clip_length, config.data.frame_stride
  crop_size, aug, section = config.data.crop_size, config.augment, config.stor
  temporal_rates = tuple(section.temporal_overlaps)
  spatial_rates = tuple(section.spatial_overlaps)
  playback_rates = tuple(section.get("playback_rates", ()) or ())

  def view(frames, indices, box, seed, index):
    clip = tf.cast(decode.decode_frames_and_crop(frames, indices, box), tf.float32) / 255.0
    clip = tf.image.resize(clip, [crop_size, crop_size], method="bilinear")
    clip = augment.cvrl_augment_cropped_clip(
        clip, seed, blur_prob=aug.blur_prob[index], solarize_prob=aug.solarize_prob[index],
        color_strength=aug.color_strength, color_prob=aug.color_prob,
        grayscale_prob=aug.grayscale_prob, flip_prob=aug.flip_prob)
    return tf.ensure_shape(tf.cast(tf.round(clip * 255.0), tf.uint8),
                           [clip_length, crop_size, crop_size, 3])

  def preprocess(example: Mapping[str, Any], seed: tf.Tensor) -> dict:
    rate_seed, time_seed, space_seed, view1_seed, view2_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 5))
    num_frames = example["num_frames"]
    out = {}
    stride = tf.constant(base_stride, tf.int32)
    if playback_rates:
      rate = sampling.sample_playback_rate(num_frames, clip_length, base_stride,
                                           playback_rates, rate_seed)
      stride = tf.gather(tf.constant([base_stride * r for r in playback_rates], tf.int32), rate)
      out["playback_rate"] = rate
    pair = sampling.sample_temporal_pair(num_frames, clip_length, stride, temporal_rates,
                                         time_seed)
    height, width = tf.unstack(decode.frame_size(example["frames"]))
    boxes = sampling.sample_overlapping_boxes(
        space_seed, height, width, spatial_rates, tuple(aug.area_range),
        tuple(aug.aspect_ratio_range))
    for index, view_seed in enumerate((view1_seed, view2_seed)):
      indices = clip_sampling.clip_frame_indices(pair["starts"][index], clip_length, stride,
                                                 num_frames)
      out[f"view{index + 1}"] = view(example["frames"], indices, boxes["boxes"][index],
                                     view_seed, index)
    out["temporal_overlap"] = pair["label"]
    out["spatial_overlap"] = boxes["label"]
    return out

  return preprocess


def _classification(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
  """(mean cross-entropy, accuracy) of integer `labels`."""
  logits = logits.astype(jnp.float32)
  loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
  return loss, jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))


def build_objective(config: ml_collections.ConfigDict) -> base.Objective:
  """Builds STOR from `config.model_name` / `config.model`, `config.cvrl` and `config.stor`."""
  check_config(config)
  section = config.stor
  temperature = config.cvrl.temperature
  weights = {field: float(section[field]) for field in (
      "contrast_weight", "temporal_weight", "spatial_weight", "playback_weight")}
  playback_rates = tuple(section.get("playback_rates", ()) or ())

  def loss_fn(outputs, batch):
    contrast, metrics = cvrl.contrastive_loss(outputs, batch, temperature)
    total = weights["contrast_weight"] * contrast
    metrics = dict(metrics, contrastive_loss=contrast)
    tasks = list(PAIR_TASKS)
    if playback_rates:
      tasks += [(f"playback_{i}", "playback_rate", f"playback_logits_{i}", "playback_weight")
                for i in (1, 2)]
    for name, label, logits, weight in tasks:
      loss, accuracy = _classification(outputs[logits], batch[label])
      metrics[f"{name}_loss"], metrics[f"{name}_accuracy"] = loss, accuracy
      total = total + weights[weight] * loss
    return total, metrics

  def head(classes):
    return pair_heads.PairClassifier(num_classes=classes, hidden_dim=section.head_hidden_dim)

  return base.Objective(
      name="stor",
      model=STORModel(
          encoder=models.build_model(config.model_name, **config.model.to_dict()),
          projection=cvrl.make_projection(config),
          temporal_head=head(len(section.temporal_overlaps)),
          spatial_head=head(len(section.spatial_overlaps)),
          playback_head=nn.Dense(len(playback_rates)) if playback_rates else None),
      loss_fn=loss_fn,
      preprocess_train=make_stor_preprocess(config),
      clips_per_example=2,
  )
