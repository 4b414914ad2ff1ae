"""TeG: temporal granularity, a short clip inside a long clip (REFERENCE §4).

Qian et al., "Exploring Temporal Granularity in Self-Supervised Video
Representation Learning" (arXiv 2112.04480; no official code). Each example
is a long clip (`config.teg.long_clip_length` frames, cropped to
`config.teg.long_crop_size` pixels) and a short clip (`config.data.clip_length`
frames at `config.data.crop_size`, the evaluation's clip) at the same frame
stride lying inside it, each with its own CVRL view augmentation. Both go
through the encoder (one forward pass per clip length); from the pre-pool
feature maps [B, T', H', W', C]:

* fine loss (`losses.aligned_timestep_loss`): per-timestep embeddings
  (spatial mean -> `fine_projection` MLP) of the short clip match the
  time-aligned timesteps of the long clip, against every other timestep of
  the global batch. The short clip starts at a whole number of feature-map
  timesteps into the long one (`timestep_frames` = frames per timestep, read
  off the encoder), so the alignment is exact;
* coarse loss: NT-Xent of the two clips' pooled embeddings (`projection`).

Loss = fine_weight * fine + coarse_weight * coarse; `config.cvrl` gives the
temperature and the projection sizes (both MLPs). Batch: 'long' uint8
[B, Tl, S, S, 3], 'short' uint8 [B, Ts, S, S, 3], 'short_offset' int32 [B]
(the long timestep the short clip starts at).

Deviations (no code to check): both losses are InfoNCE/NT-Xent; the short
clip has the long clip's frame rate (TeG also varies it); the encoder keeps
its temporal downsampling (the main job's R3D has 8 frames per timestep, so
a 16-frame long clip gives 2 timesteps and the 8-frame short clip 1); the
long clip may be cropped smaller than the short one (a step of a 16-frame
24x24 long clip and an 8-frame 32x32 short clip costs about CVRL's two
8-frame 32x32 views).
"""
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jvrl import models
from jvrl.data import decode
from jvrl.data import sampling
from jvrl.data.tf_setup import tf
from jvrl.models import inputs
from jvrl.objectives import base
from jvrl.objectives import cvrl
from jvrl.objectives.teg import losses

MIXED_TARGET_FIELDS = ()  # TeG's losses read no mixing targets


class TeGModel(nn.Module):
  """One encoder on the long and the short clip; coarse and per-timestep embeddings."""
  encoder: nn.Module
  projection: nn.Module
  fine_projection: nn.Module

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], train: bool) -> dict:
    """-> {'short_embedding', 'long_embedding' [B, D], 'short_steps' [B, Ts', D],
    'long_steps' [B, Tl', D]}."""
    steps = {}
    for name in ("short", "long"):  # one forward pass per clip length
      feature_map = self.encoder(inputs.to_unit_float(batch[name]), train=train)
      steps[name] = jnp.mean(feature_map, axis=(2, 3))  # [B, T', C]
    batch_size, short_len, channels = steps["short"].shape
    long_len = steps["long"].shape[1]
    pooled = jnp.concatenate([steps["short"].mean(axis=1), steps["long"].mean(axis=1)])
    short_embedding, long_embedding = jnp.split(self.projection(pooled, train=train), 2)
    rows = jnp.concatenate([steps["short"].reshape(-1, channels),
                            steps["long"].reshape(-1, channels)])
    fine = self.fine_projection(rows, train=train)
    return {"short_embedding": short_embedding, "long_embedding": long_embedding,
            "short_steps": fine[:batch_size * short_len].reshape(batch_size, short_len, -1),
            "long_steps": fine[batch_size * short_len:].reshape(batch_size, long_len, -1)}


def timestep_frames(config: ml_collections.ConfigDict) -> tuple[int, int, int]:
  """(frames per feature-map timestep, long and short clips' timesteps), read off the
  encoder's output shapes (`jax.eval_shape`, nothing computed).

  Raises:
    ValueError: the clips' lengths are not whole numbers of timesteps, or the
      long clip has fewer than 2 (the fine loss would have no moments to tell apart).
  """
  encoder = models.build_model(config.model_name, **config.model.to_dict())

  def steps(length: int, size: int) -> int:
    clip = jax.ShapeDtypeStruct((1, length, size, size, 3), jnp.float32)
    out = jax.eval_shape(lambda x: encoder.init_with_output(
        jax.random.key(0), x, train=False)[0], clip)
    return int(out.shape[1])

  long_len, short_len = config.teg.long_clip_length, config.data.clip_length
  long_steps = steps(long_len, long_crop_size(config))
  short_steps = steps(short_len, config.data.crop_size)
  frames = long_len // long_steps
  if long_steps < 2 or frames * long_steps != long_len or frames * short_steps != short_len:
    raise ValueError(
        f"config.teg.long_clip_length={long_len}: {config.model_name}'s feature map has "
        f"{long_steps} timestep(s) for it and {short_steps} for config.data.clip_length="
        f"{short_len}; TeG needs >= 2 timesteps for the long clip and both lengths whole "
        f"numbers of timesteps (e.g. long_clip_length = 2 x clip_length).")
  return frames, long_steps, short_steps


def long_crop_size(config: ml_collections.ConfigDict) -> int:
  """The long clip's crop side: `config.teg.long_crop_size`, 0 -> `config.data.crop_size`."""
  return int(config.teg.get("long_crop_size", 0) or config.data.crop_size)


def check_config(config: ml_collections.ConfigDict) -> None:
  """`config.teg` (clip lengths and sizes, weights) and `config.cvrl` (temperature, MLP sizes)."""
  cvrl.check_config(config)
  section = base.require_section(config, "teg")
  long_len = section.get("long_clip_length")
  if not isinstance(long_len, int) or long_len <= config.data.clip_length:
    raise ValueError(f"config.teg.long_clip_length={long_len!r} must be an integer above "
                     f"config.data.clip_length={config.data.clip_length} (the short clip).")
  crop = section.get("long_crop_size", 0)
  if not isinstance(crop, int) or crop < 0:
    raise ValueError(f"config.teg.long_crop_size={crop!r} must be an integer >= 0 (0: "
                     "config.data.crop_size).")
  for field in ("fine_weight", "coarse_weight"):
    value = section.get(field)
    if not isinstance(value, (int, float)) or value < 0:
      raise ValueError(f"config.teg.{field}={value!r} must be a number >= 0.")


def make_teg_preprocess(config: ml_collections.ConfigDict, frames_per_step: int
                        ) -> base.TrainPreprocessFn:
  """The tf.data function making one TeG example (see the module docstring)."""
  long_len, short_len = config.teg.long_clip_length, config.data.clip_length
  stride = config.data.frame_stride
  offsets = (long_len - short_len) // frames_per_step + 1  # possible short-clip positions
  augment_view = cvrl.make_view_augmenter(config)
  augment_long_view = cvrl.make_view_augmenter(config, long_crop_size(config))

  def preprocess(example: Mapping[str, Any], seed: tf.Tensor) -> dict:
    start_seed, offset_seed, long_seed, short_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4))
    num_frames = example["num_frames"]
    start = sampling.sample_uniform_clip_start(num_frames, long_len, stride, start_seed)
    frames = decode.decode_frames(
        example["frames"], sampling.clip_frame_indices(start, long_len, stride, num_frames))
    offset = tf.random.stateless_uniform([], offset_seed, minval=0, maxval=offsets,
                                         dtype=tf.int32)
    first = offset * frames_per_step
    # A slice at a random offset has an unknown length to tf.data; the batch spec (and
    # the train state built from it) needs the short clip's static length.
    short = tf.ensure_shape(frames[first:first + short_len], [short_len, *frames.shape[1:]])
    return {"long": augment_long_view(frames, long_seed, 0),
            "short": augment_view(short, short_seed, 1),
            "short_offset": offset}

  return preprocess


def build_objective(config: ml_collections.ConfigDict) -> base.Objective:
  """Builds TeG from `config.model_name` / `config.model`, `config.cvrl` and `config.teg`."""
  check_config(config)
  frames_per_step, _, _ = timestep_frames(config)
  temperature = config.cvrl.temperature
  fine_weight, coarse_weight = float(config.teg.fine_weight), float(config.teg.coarse_weight)

  def loss_fn(outputs, batch):
    fine, fine_metrics = losses.aligned_timestep_loss(
        outputs["short_steps"], outputs["long_steps"], batch["short_offset"], temperature)
    coarse, metrics = losses.coarse_loss(outputs["short_embedding"], outputs["long_embedding"],
                                         temperature)
    metrics = dict(metrics, **fine_metrics, fine_loss=fine, coarse_loss=coarse)
    return fine_weight * fine + coarse_weight * coarse, metrics

  return base.Objective(
      name="teg",
      model=TeGModel(encoder=models.build_model(config.model_name, **config.model.to_dict()),
                     projection=cvrl.make_projection(config),
                     fine_projection=cvrl.make_projection(config)),
      loss_fn=loss_fn,
      preprocess_train=make_teg_preprocess(config, frames_per_step),
      clips_per_example=2,
  )
