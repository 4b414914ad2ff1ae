"""ConCur: contrastive video learning with a curriculum on the positives' distance.

REFERENCE §4 (Roy & Etemad, arXiv 2209.00760; no official code). CVRL's
objective (two views, temporally consistent augmentation, NT-Xent over the
global batch, `config.cvrl`'s temperature and projection) with two changes:

* the two clips' temporal distance is drawn under a curriculum
  (`curriculum.py`): the allowed maximum grows from near 0 to the whole video
  over training (`config.concur`: schedule, start fraction, the fraction of
  `config.train.num_steps` at which the whole video is allowed). The sampler
  reads the example's training step from the input pipeline
  (`pipeline.TRAIN_STEP_FIELD`), so exact resume holds;
* a distance head (`jvrl.models.pair_heads.PairClassifier` on the two clips'
  pooled features) classifies the distance into `distance_bins` equal bins of
  the video's gap range; loss = NT-Xent + distance_weight * CE.

Batch: 'view1', 'view2' uint8 [B, T, S, S, 3] (as CVRL), 'distance' int32 [B]
(the label), 'gap_fraction' float32 [B] (the curriculum's allowed fraction,
logged as 'gap_fraction'). Unconfirmed against the paper (no code): the
distance head's form (bins, not regression) and the gap distribution inside
the allowed range ('uniform' by default; 'cvrl' keeps CVRL's decreasing one).
"""
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from jvrl import models
from jvrl.data import decode
from jvrl.data import pipeline
from jvrl.data import sampling
from jvrl.data.tf_setup import tf
from jvrl.models import pair_heads
from jvrl.objectives import base
from jvrl.objectives import cvrl
from jvrl.objectives.concur import curriculum

MIXED_TARGET_FIELDS = cvrl.MIXED_TARGET_FIELDS


class ConCurModel(nn.Module):
  """CVRL's model plus a distance head on the two views' pooled features."""
  encoder: nn.Module
  projection: nn.Module
  distance_head: nn.Module

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], train: bool) -> dict:
    """-> {'embeddings_1', 'embeddings_2', 'distance_logits' [B, bins]}."""
    features_1, features_2 = cvrl.pooled_view_features(self.encoder, batch, train)
    outputs = cvrl.project_views(self.projection, features_1, features_2, train)
    outputs["distance_logits"] = self.distance_head(features_1, features_2)
    return outputs


def check_config(config: ml_collections.ConfigDict) -> None:
  """`config.concur` (curriculum and distance head) and `config.cvrl` (contrast)."""
  cvrl.check_config(config)
  section = base.require_section(config, "concur")
  if section.get("schedule") not in curriculum.SCHEDULES:
    raise ValueError(f"config.concur.schedule={section.get('schedule')!r} must be one of "
                     f"{curriculum.SCHEDULES}.")
  if section.get("gap_distribution") not in curriculum.GAP_DISTRIBUTIONS:
    raise ValueError(f"config.concur.gap_distribution={section.get('gap_distribution')!r} must "
                     f"be one of {curriculum.GAP_DISTRIBUTIONS}.")
  start = section.get("start_fraction")
  if not isinstance(start, (int, float)) or not 0.0 <= start <= 1.0:
    raise ValueError(f"config.concur.start_fraction={start!r} must lie in [0, 1].")
  end = section.get("end_step_fraction")
  if not isinstance(end, (int, float)) or not 0.0 < end <= 1.0:
    raise ValueError(f"config.concur.end_step_fraction={end!r} must lie in (0, 1] (the "
                     "fraction of config.train.num_steps after which the whole video is allowed).")
  for field, low in (("num_stages", 1), ("distance_bins", 2), ("head_hidden_dim", 0)):
    value = section.get(field)
    if not isinstance(value, int) or value < low:
      raise ValueError(f"config.concur.{field}={value!r} must be an integer >= {low}.")
  weight = section.get("distance_weight")
  if not isinstance(weight, (int, float)) or weight < 0:
    raise ValueError(f"config.concur.distance_weight={weight!r} must be a number >= 0.")


def make_concur_preprocess(config: ml_collections.ConfigDict) -> base.TrainPreprocessFn:
  """The tf.data function making one ConCur example (see the module docstring)."""
  clip_length, stride = config.data.clip_length, config.data.frame_stride
  section, num_steps = config.concur, config.train.num_steps
  augment_view = cvrl.make_view_augmenter(config)

  def preprocess(example: Mapping[str, Any], seed: tf.Tensor) -> dict:
    start_seed, view1_seed, view2_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    fraction = curriculum.gap_fraction(
        example[pipeline.TRAIN_STEP_FIELD], num_steps, schedule=section.schedule,
        start_fraction=section.start_fraction, end_step_fraction=section.end_step_fraction,
        num_stages=section.num_stages)
    num_frames = example["num_frames"]
    pair = curriculum.sample_clip_pair(
        num_frames, clip_length, stride, fraction, start_seed,
        distribution=section.gap_distribution, num_bins=section.distance_bins)
    indices = tf.concat([
        sampling.clip_frame_indices(pair["starts"][0], clip_length, stride, num_frames),
        sampling.clip_frame_indices(pair["starts"][1], clip_length, stride, num_frames),
    ], axis=0)
    frames = decode.decode_frames(example["frames"], indices)
    return {
        "view1": augment_view(frames[:clip_length], view1_seed, 0),
        "view2": augment_view(frames[clip_length:], view2_seed, 1),
        "distance": pair["distance_label"],
        "gap_fraction": fraction,
    }

  return preprocess


def build_objective(config: ml_collections.ConfigDict) -> base.Objective:
  """Builds ConCur from `config.model_name` / `config.model`, `config.cvrl` and `config.concur`."""
  check_config(config)
  section = config.concur
  temperature, weight = config.cvrl.temperature, float(section.distance_weight)

  def loss_fn(outputs, batch):
    loss, metrics = cvrl.contrastive_loss(outputs, batch, temperature)
    logits = outputs["distance_logits"]
    distance_loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
        logits.astype(jnp.float32), batch["distance"]))
    metrics = dict(metrics, contrastive_loss=loss, distance_loss=distance_loss,
                   distance_accuracy=jnp.mean(
                       (jnp.argmax(logits, axis=-1) == batch["distance"]).astype(jnp.float32)),
                   gap_fraction=jnp.mean(batch["gap_fraction"]))
    return loss + weight * distance_loss, metrics

  return base.Objective(
      name="concur",
      model=ConCurModel(
          encoder=models.build_model(config.model_name, **config.model.to_dict()),
          projection=cvrl.make_projection(config),
          distance_head=pair_heads.PairClassifier(num_classes=section.distance_bins,
                                                  hidden_dim=section.head_hidden_dim)),
      loss_fn=loss_fn,
      preprocess_train=make_concur_preprocess(config),
      clips_per_example=2,
  )
