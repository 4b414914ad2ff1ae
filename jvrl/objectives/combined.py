"""Several objectives trained jointly on ONE shared encoder, with weights.

  config.objective = 'combined'
  config.combined = dict(cvrl=1.0, prp=1.0)   # objective name -> loss weight

Each named objective is built from the same config as when it runs alone
(its own `config.<name>` section; one `config.model_name` / `config.model`
backbone for all). The combined objective keeps every member's heads and
preprocessing but shares one encoder:
  * batch: every member's preprocess runs on the same parsed video (with its
    own sub-seed); its outputs are stored under '<name>/<key>'. Each member
    decodes only the frames it samples, so nothing is decoded twice in full.
  * model: each member model gets the shared encoder (parameters under
    'encoder', as for a single objective; heads under '<name>/...') and its
    own slice of the batch; the encoder runs once per member (members sample
    different clips, shapes may differ).
  * loss: sum over members of weight * member loss; metrics are prefixed
    '<name>/' and each member's loss is reported as '<name>/loss'.
  * on-device batch augmentation: a member's own `augment_batch` runs on its
    slice of the global batch (its '<name>/' fields), with a key of its own.
    The config's list (`config.device_augment`) applies once, to the combined
    batch, with member-prefixed keys ('cvrl/view1').
A member that trains on units of its own (`expand_example`, TSP) is refused, and so
is a member with an EMA teacher or a memory queue (SVT, CoCLR): the combination
would have to carry them for it, and dropping them silently would train another
method.
"""
import dataclasses
from typing import Any, Mapping, Sequence

import flax.linen as nn
import jax
import ml_collections

from jvrl.data.tf_setup import tf
from jvrl.objectives import base

SEPARATOR = "/"


def split_batch(batch: Mapping[str, Any], name: str) -> dict:
  """The entries of `batch` stored under '<name>/', with the prefix removed."""
  prefix = name + SEPARATOR
  return {key[len(prefix):]: value for key, value in batch.items() if key.startswith(prefix)}


def _detached_copy(module: nn.Module, **updates: Any) -> nn.Module:
  """A copy of `module` with `updates`, its submodule attributes copied too, all unbound.

  Flax adopts module attributes into the first module that binds them; fresh
  copies make the member's heads children of the copy (named after the
  member), not of the original module held in `CombinedModel.members`.
  """
  fields = {}
  for field in dataclasses.fields(module):
    if field.name in ("parent", "name") or field.name in updates:
      continue
    value = getattr(module, field.name)
    fields[field.name] = _detached_copy(value) if isinstance(value, nn.Module) else value
  return module.clone(parent=None, **fields, **updates)


class CombinedModel(nn.Module):
  """One shared encoder and several member models that use it.

  Attributes:
    encoder: the shared backbone (parameters under 'encoder').
    members: (name, model) pairs; each model is a member objective's model
      whose `encoder` attribute is replaced by the shared one.
  """
  encoder: nn.Module
  members: Sequence[tuple[str, nn.Module]]

  def setup(self):
    # The encoder bound here and handed to every member is shared: its
    # parameters live once, under this module's 'encoder'; each member's own
    # heads live under its name.
    for name, model in self.members:
      setattr(self, name, _detached_copy(model, encoder=self.encoder))

  def __call__(self, batch: Mapping[str, jax.Array], train: bool) -> dict:
    """Returns {'<name>/<output>': ...} for every member."""
    outputs = {}
    for name, _ in self.members:
      member_outputs = getattr(self, name)(split_batch(batch, name), train=train)
      outputs.update({f"{name}{SEPARATOR}{key}": value for key, value in member_outputs.items()})
    return outputs


def _weights(config: ml_collections.ConfigDict) -> dict[str, float]:
  weights = dict(config.combined)
  if not weights:
    raise ValueError("config.combined must name at least one objective, e.g. "
                     "dict(cvrl=1.0, prp=1.0).")
  if "combined" in weights:
    raise ValueError("config.combined cannot contain 'combined' itself.")
  for name, weight in weights.items():
    if weight < 0:
      raise ValueError(f"config.combined.{name} must be a weight >= 0, got {weight}.")
  return {name: float(weight) for name, weight in weights.items()}


def check_config(config: ml_collections.ConfigDict) -> None:
  """`config.combined`: known member objectives with weights >= 0, each member's
  own config checks passing."""
  from jvrl import objectives  # pylint: disable=g-import-not-at-top
  base.require_section(config, "combined")
  weights = _weights(config)
  unknown = sorted(set(weights) - set(objectives.OBJECTIVE_NAMES))
  if unknown:
    raise ValueError(f"Unknown objective(s) {unknown} in config.combined; known: "
                     f"{sorted(set(objectives.OBJECTIVE_NAMES) - {'combined'})}.")
  for name in weights:
    objectives.check_objective_config(config, name)


def build_objective(config: ml_collections.ConfigDict) -> base.Objective:
  """Builds the weighted combination of `config.combined`'s objectives."""
  from jvrl import objectives  # pylint: disable=g-import-not-at-top
  check_config(config)
  members = {name: objectives.build_objective(config, name) for name in _weights(config)}
  weights = _weights(config)
  for name, member in members.items():
    if member.expand_example is not None:
      raise ValueError(f"Objective {name!r} cannot be combined: it trains on units of its own "
                       "(e.g. TSP's segments), not on whole videos.")
    if member.teacher is not None or member.queue is not None:
      raise ValueError(f"Objective {name!r} cannot be combined: it keeps an EMA teacher or a "
                       "memory queue in the train state, which a combination does not carry "
                       "for its members; train it with its own config.objective.")
    if member.encoder_name != "encoder" or not hasattr(member.model, "encoder"):
      raise ValueError(f"Objective {name!r} cannot be combined: its model must keep its "
                       "backbone in an attribute and submodule named 'encoder'.")
  shared_encoder = next(iter(members.values())).model.encoder

  def preprocess(example: Mapping[str, Any], seed: tf.Tensor) -> dict:
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, len(members)))
    out = {}
    for (name, member), member_seed in zip(members.items(), seeds):
      for key, value in member.preprocess_train(example, member_seed).items():
        out[f"{name}{SEPARATOR}{key}"] = value
    return out

  def loss_fn(outputs, batch):
    total, metrics = 0.0, {}
    for name, member in members.items():
      loss, member_metrics = member.loss_fn(split_batch(outputs, name), split_batch(batch, name))
      total = total + weights[name] * loss
      metrics[f"{name}{SEPARATOR}loss"] = loss
      metrics.update({f"{name}{SEPARATOR}{key}": value for key, value in member_metrics.items()})
    return total, metrics

  augmenting_members = {name: member for name, member in members.items()
                        if member.augment_batch is not None}

  def augment_batch(batch, rng):
    out = dict(batch)
    for index, (name, member) in enumerate(augmenting_members.items()):
      augmented = member.augment_batch(split_batch(batch, name), jax.random.fold_in(rng, index))
      out = {k: v for k, v in out.items() if not k.startswith(name + SEPARATOR)}
      out.update({f"{name}{SEPARATOR}{key}": value for key, value in augmented.items()})
    return out

  rng_names = tuple(dict.fromkeys(
      rng for member in members.values() for rng in member.rng_names))
  return base.Objective(
      name="combined",
      model=CombinedModel(encoder=shared_encoder,
                          members=tuple((name, member.model) for name, member in members.items())),
      loss_fn=loss_fn,
      preprocess_train=preprocess,
      clips_per_example=sum(member.clips_per_example for member in members.values()),
      rng_names=rng_names,
      augment_batch=augment_batch if augmenting_members else None,
  )
