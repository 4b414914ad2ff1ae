"""On-device batch augmentations chosen by the config, applied in order.

  config.device_augment = ('fame', 'stc_mix')          # names, applied in this order
  config.fame = dict(keys=('view1',), beta=0.5, ...)   # each one's own section
  config.stc_mix = dict(keys=('view1',), prob=0.5, ...)

One line per augmentation in `DEVICE_AUGMENTATION_MODULES` names its module,
which defines

  build_batch_augmentation(config) -> base.BatchAugmentFn   the augmentation;
  check_config(config) -> None       its section's start-up checks (one line);
  MIXES_EXAMPLES: bool               whether it records mixing targets (below).

`jvrl.objectives.build_objective` chains the list after the objective's own
`augment_batch` (if any) into the objective the trainer runs; the trainer
runs the chain in its on-device augmentation stage, on the sharded GLOBAL
batch, before the model. Each augmentation draws its own key (the step's
augmentation key folded with its position in the list). The batch fields an
augmentation changes are its section's `keys`; for a combined objective they
carry the member's prefix ('cvrl/view1'). Per-pixel augmentations (colour
jitter, blur, solarize) can move here the same way: a module and a line.

Mixing targets. An augmentation that mixes examples of the batch (STC-mix)
records what each mixed row holds: batch[mixing_key(field)] is float32
[B, B], row i = the fraction of row i's pixels that come from example j
(rows sum to 1; absent = the identity). A later mixing augmentation of the
same field composes with it (`record_mixing`), and a loss that supports mixed
targets reads it (`jvrl.losses.contrastive.nt_xent_loss`'s `mixing_1` /
`mixing_2`). An objective module lists the fields whose mixing its loss
reads in `MIXED_TARGET_FIELDS`; mixing any other field is refused at start-up
(its loss would silently keep the unmixed targets).
"""
import importlib
import types
from typing import Any, Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import ml_collections

from jvrl.objectives import base

DEVICE_AUGMENTATION_MODULES: Mapping[str, str] = types.MappingProxyType({
    "fame": "jvrl.objectives.fame",
    "stc_mix": "jvrl.objectives.stc_mix",
})
MIXING_SUFFIX = "_mixing"
# Separates a combined objective's member name from its batch field ('cvrl/view1');
# the same as `jvrl.objectives.combined.SEPARATOR`.
MEMBER_SEPARATOR = "/"


def mixing_key(field: str) -> str:
  """The batch field holding the mixing targets of clip field `field`."""
  return field + MIXING_SUFFIX


def names(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """`config.device_augment` as a tuple of names (() when absent or empty)."""
  value = config.get("device_augment", ()) if hasattr(config, "get") else ()
  if isinstance(value, str):
    value = (value,) if value else ()
  return tuple(value or ())


def augmentation_module(name: str) -> types.ModuleType:
  """The module implementing device augmentation `name` (imported on first use)."""
  if name not in DEVICE_AUGMENTATION_MODULES:
    raise ValueError(f"Unknown device augmentation {name!r} in config.device_augment; known: "
                     f"{sorted(DEVICE_AUGMENTATION_MODULES)}.")
  return importlib.import_module(DEVICE_AUGMENTATION_MODULES[name])


def section_keys(config: ml_collections.ConfigDict, name: str) -> tuple[str, ...]:
  """`config.<name>.keys`, the batch fields augmentation `name` changes, checked:
  a non-empty sequence of distinct field names."""
  keys = base.require_section(config, name).get("keys")
  if isinstance(keys, str) or not isinstance(keys, Sequence) or not keys or not all(
      isinstance(k, str) and k for k in keys) or len(set(keys)) != len(keys):
    raise ValueError(f"config.{name}.keys={keys!r} must name the batch fields to augment, "
                     "e.g. ('view1',) (for a combined objective: ('cvrl/view1',)).")
  return tuple(keys)


def check_config(config: ml_collections.ConfigDict,
                 objective_module: Callable[[str], types.ModuleType]) -> None:
  """`config.device_augment`: known, distinct names, each section valid; a mixing
  augmentation only on fields whose objective reads mixed targets.

  `objective_module`: name -> objective module (`jvrl.objectives.objective_module`).

  Raises:
    ValueError: one line naming the field.
  """
  listed = names(config)
  if len(set(listed)) != len(listed):
    raise ValueError(f"config.device_augment={listed!r} names an augmentation twice (each "
                     "one has a single config section).")
  for name in listed:
    module = augmentation_module(name)
    for key in section_keys(config, name):
      _check_key(config, name, key, bool(getattr(module, "MIXES_EXAMPLES", False)),
                 objective_module)
    module.check_config(config)


def _check_key(config, name: str, key: str, mixes: bool,
               objective_module: Callable[[str], types.ModuleType]) -> None:
  objective = config.get("objective")
  member, field = objective, key
  if objective == "combined":
    member, _, field = key.partition(MEMBER_SEPARATOR)
    if not field or member not in dict(config.get("combined", {}) or {}):
      raise ValueError(f"config.{name}.keys names {key!r}; with config.objective='combined' a "
                       "key is '<member>/<field>' of a member in config.combined, e.g. "
                       "'cvrl/view1'.")
  if not mixes:
    return
  supported = tuple(getattr(objective_module(member), "MIXED_TARGET_FIELDS", ()))
  if field not in supported:
    raise ValueError(f"config.{name} mixes examples of batch field {key!r}, but the loss of "
                     f"objective {member!r} reads mixed targets only for {list(supported)}: "
                     f"change config.{name}.keys or the objective.")


def record_mixing(batch: Mapping[str, jax.Array], field: str, mixing: jax.Array) -> dict:
  """`batch` with `mixing` ([B, B], this augmentation's rows over the examples it
  took pixels from) composed into the mixing targets of `field`."""
  out = dict(batch)
  previous = batch.get(mixing_key(field))
  out[mixing_key(field)] = mixing if previous is None else mixing @ previous
  return out


def build(config: ml_collections.ConfigDict) -> base.BatchAugmentFn | None:
  """The config's device augmentations as one `BatchAugmentFn` (None when the list is empty)."""
  augmentations = [augmentation_module(name).build_batch_augmentation(config)
                   for name in names(config)]
  return chain(augmentations)


def chain(augmentations: Sequence[base.BatchAugmentFn | None]) -> base.BatchAugmentFn | None:
  """Applies `augmentations` in order, the i-th with key fold_in(key, i); None if empty."""
  augmentations = [a for a in augmentations if a is not None]
  if not augmentations:
    return None
  if len(augmentations) == 1:
    return augmentations[0]

  def augment(batch: Mapping[str, jax.Array], key: jax.Array) -> dict:
    for index, augmentation in enumerate(augmentations):
      batch = augmentation(batch, jax.random.fold_in(key, index))
    return dict(batch)

  return augment


def check_clip_fields(batch: Mapping[str, Any], keys: Sequence[str], name: str) -> None:
  """Trace-time check that every key is a clip field [B, T, H, W, 3] of the batch."""
  for key in keys:
    if key not in batch:
      raise ValueError(f"config.{name}.keys names batch field {key!r}, but the objective's "
                       f"batch has {sorted(batch)}.")
    shape = jnp.shape(batch[key])
    if len(shape) != 5 or shape[-1] != 3:
      raise ValueError(f"config.{name}.keys names batch field {key!r} of shape {shape}; a "
                       "clip field [B, T, H, W, 3] is needed.")


def to_unit_interval(clip: jax.Array) -> jax.Array:
  """A clip as float32 in [0, 1] (uint8 clips are divided by 255)."""
  if jnp.issubdtype(clip.dtype, jnp.integer):
    return clip.astype(jnp.float32) / 255.0
  return clip.astype(jnp.float32)


def like_input(clip: jax.Array, like: jax.Array) -> jax.Array:
  """Float32 `clip` in [0, 1] back in the dtype and value convention of `like`."""
  if jnp.issubdtype(like.dtype, jnp.integer):
    return jnp.round(jnp.clip(clip, 0.0, 1.0) * 255.0).astype(like.dtype)
  return clip.astype(like.dtype)


# (clips float32 [B, T, H, W, 3] in [0, 1], this field's key) -> (augmented clips
# in [0, 1], mixing targets [B, B] or None when the augmentation does not mix).
ClipFieldAugmentFn = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array | None]]


def augment_clip_fields(batch: Mapping[str, jax.Array], keys: Sequence[str], name: str,
                        key: jax.Array, augment_clips: ClipFieldAugmentFn) -> dict:
  """`augment_clips` applied to each clip field `keys` of the global batch (the
  augmentation `name`'s config.<name>.keys), field i with key fold_in(key, i):
  clips are handed over in [0, 1] and returned in their field's dtype and value
  convention; mixing targets, when returned, are recorded (`record_mixing`)."""
  check_clip_fields(batch, keys, name)
  out = dict(batch)
  for index, field in enumerate(keys):
    clips, mixing = augment_clips(to_unit_interval(batch[field]), jax.random.fold_in(key, index))
    out[field] = like_input(clips, batch[field])
    if mixing is not None:
      out = record_mixing(out, field, mixing)
  return out
