"""TSP's heads and losses (REFERENCE §6; TSP's `models/model.py`).

The encoder's globally average-pooled clip feature f feeds
* the action head: Linear(D -> C), trained on foreground clips only;
* the temporal-region head (TSP only, not TAC): Linear(D + G -> 2) on
  [f || GVF], the clip's video's fixed global video feature, predicting
  foreground (1) vs background (0).
Heads start from N(0, 0.01) weights and zero biases. The loss is
  action_weight * L_action + region_weight * L_region,
each a masked mean of softmax cross-entropy: L_action over the batch's
foreground clips, L_region over all clips. The means divide by
max(count, 1), so an all-background batch gives L_action = 0, never NaN.
"""
from typing import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from jvrl.models import heads
from jvrl.models import inputs

head_kernel_init = nn.initializers.normal(stddev=0.01)


class TSPModel(nn.Module):
  """Encoder + action head (+ temporal-region head on [feature || GVF] for TSP).

  Attributes:
    encoder: the backbone (its feature map is average-pooled).
    num_classes: action classes C.
    region_head: True for TSP, False for TAC (action head only).
  """
  encoder: nn.Module
  num_classes: int
  region_head: bool = True

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], train: bool) -> dict:
    """batch['clip'] uint8 [B, T, H, W, 3] (and 'gvf' float32 [B, G] for TSP) ->
    {'action_logits': [B, C], 'region_logits': [B, 2] (TSP)}, float32."""
    features = heads.global_average_pool(
        self.encoder(inputs.to_unit_float(batch["clip"]), train=train)).astype(jnp.float32)
    outputs = {"action_logits": nn.Dense(self.num_classes, kernel_init=head_kernel_init,
                                         name="action_head")(features)}
    if self.region_head:
      joint = jnp.concatenate([features, batch["gvf"].astype(jnp.float32)], axis=-1)
      outputs["region_logits"] = nn.Dense(2, kernel_init=head_kernel_init,
                                          name="region_head")(joint)
    return outputs


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
  """Mean of `values` where `mask`; 0 when nothing is selected (never NaN)."""
  mask = mask.astype(values.dtype)
  return jnp.sum(values * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def tsp_loss(outputs: Mapping[str, jax.Array], batch: Mapping[str, jax.Array], *,
             action_weight: float = 1.0, region_weight: float = 1.0
             ) -> tuple[jax.Array, dict]:
  """TSP's (or, without 'region_logits', TAC's) loss over the global batch.

  `batch['action_label']`: class, or -1 for background clips (ignored by the
  action loss); `batch['region_label']`: 1 foreground, 0 background.
  """
  labels = batch["action_label"]
  foreground = labels >= 0
  action_logits = outputs["action_logits"]
  action_ce = optax.softmax_cross_entropy_with_integer_labels(
      action_logits, jnp.where(foreground, labels, 0))
  action_loss = masked_mean(action_ce, foreground)
  correct = (jnp.argmax(action_logits, axis=-1) == labels).astype(jnp.float32)
  metrics = {"action_loss": action_loss, "action_accuracy": masked_mean(correct, foreground),
             "foreground_fraction": jnp.mean(foreground.astype(jnp.float32))}
  loss = action_weight * action_loss
  if "region_logits" in outputs:
    region_logits = outputs["region_logits"]
    region_loss = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
        region_logits, batch["region_label"]))
    metrics["region_loss"] = region_loss
    metrics["region_accuracy"] = jnp.mean(
        (jnp.argmax(region_logits, axis=-1) == batch["region_label"]).astype(jnp.float32))
    loss = loss + region_weight * region_loss
  return loss, metrics
