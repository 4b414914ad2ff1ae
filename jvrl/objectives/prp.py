"""PRP: video playback-rate perception (REFERENCE §3).

A clip is sampled at one of several playback rates (`jvrl.data.prp_sampling`);
the network says which rate it is (discriminative branch) and reconstructs
the same window at 2x slow motion (generative branch), the reconstruction
error weighted towards moving regions by a motion-attention map computed in
the jitted step (`jvrl.losses.prp`).

Batch (uint8 on the way to the devices, like every objective):
  'clip' uint8 [B, T, S, S, 3], the input (= target[:, 0::2]);
  'target' uint8 [B, 2T, S, S, 3], the 2x slow-motion target;
  'target_valid' float32 [B, 2T], 0 on target frames that do not exist
    (between two video frames at rate 1; filled with their neighbours' mean);
  'rate' int32 [B], the index of the playback rate in `config.prp.rates`;
  'motion_frames' uint8 [B, 4 * max(rates), S, S, 3], the frames of the
    window the motion-attention map is computed from (4 per chunk of T*b
    frames: `prp_sampling.motion_frame_offsets`; PRP's frames {0, 5, 10, 15}
    of each 16-frame chunk of the decoded window).
Input, target and motion frames are cut from ONE decode with ONE crop (and
flip), so they stay aligned pixel for pixel.

Spatial processing (`config.prp.crop`): 'center' (PRP: resize the short side
to `resize_short_side`, 128, then the centre `config.data.crop_size`, 112) or
'random' (one random resized crop box, `area_range` / `aspect_ratio_range`,
decoded and resized to the crop size). Optional horizontal flip. Pixels in
[0, 1] on the device, no normalisation (PRP).
"""
from typing import Any, Mapping

import flax.linen as nn
import jax
import ml_collections

from jvrl import models
from jvrl.data import augment
from jvrl.data import decode
from jvrl.data import prp_sampling
from jvrl.data.tf_setup import tf
from jvrl.losses import prp as prp_losses
from jvrl.models import inputs
from jvrl.models import prp_heads
from jvrl.objectives import base

CROP_MODES = ("center", "random")


class PRPModel(nn.Module):
  """Encoder + rate-classification head + slow-motion decoder, on one forward pass."""
  encoder: nn.Module
  rate_head: nn.Module
  decoder: nn.Module

  @nn.compact
  def __call__(self, batch: Mapping[str, jax.Array], train: bool) -> dict:
    """batch['clip'] uint8 [B, T, S, S, 3] -> {'rate_logits' [B, R], 'reconstruction'}.

    'reconstruction' is float32 [B, 16T', 16H', 16W', 3] for a backbone
    feature map [B, T', H', W', C] (= [B, 2T, S, S, 3] for the PRP backbones
    when T is a multiple of 8 and S of 16).
    """
    feature_map = self.encoder(inputs.to_unit_float(batch["clip"]), train=train)
    return {"rate_logits": self.rate_head(feature_map, train=train),
            "reconstruction": self.decoder(feature_map, train=train)}


def check_config(config: ml_collections.ConfigDict) -> None:
  """Errors a config would otherwise only show inside tf.data or the jitted step."""
  prp = base.require_section(config, "prp")
  prp_sampling.check_rates(tuple(prp.rates))
  if prp.crop not in CROP_MODES:
    raise ValueError(f"Unknown config.prp.crop={prp.crop!r}; known: {CROP_MODES}.")
  if prp.short_videos not in prp_sampling.SHORT_VIDEO_POLICIES:
    raise ValueError(f"Unknown config.prp.short_videos={prp.short_videos!r}; known: "
                     f"{prp_sampling.SHORT_VIDEO_POLICIES}.")
  if prp.mask_mode not in prp_losses.MASK_MODES:
    raise ValueError(f"Unknown config.prp.mask_mode={prp.mask_mode!r}; known: "
                     f"{prp_losses.MASK_MODES}.")
  clip_length = config.data.clip_length
  for rate in prp.rates:
    if (2 * clip_length) % rate:
      raise ValueError(f"2 * config.data.clip_length = {2 * clip_length} must be divisible by "
                       f"every rate in config.prp.rates, not by {rate}.")
  if clip_length * prp.base_stride < prp_sampling.MOTION_FRAMES_PER_CHUNK:
    raise ValueError(f"config.data.clip_length * config.prp.base_stride = "
                     f"{clip_length * prp.base_stride} must be >= "
                     f"{prp_sampling.MOTION_FRAMES_PER_CHUNK}: the motion map takes 4 frames "
                     "of each chunk of that many frames.")


def _decode_target_frames(config: ml_collections.ConfigDict, frames: tf.Tensor,
                          indices: tf.Tensor, crop_seed: tf.Tensor) -> tf.Tensor:
  """The frames at `indices`, decoded and cut to one window: float32 [N, S, S, 3] in 0..255."""
  prp = config.prp
  size = config.data.crop_size
  if prp.crop == "center":
    clip = decode.resize_short_side(decode.decode_frames(frames, indices),
                                    prp.resize_short_side)
    return augment.spatial_crops(clip, size, 1)[0]
  height, width = tf.unstack(decode.frame_size(frames))
  box = augment.sample_random_resized_crop_box(
      crop_seed, height, width, tuple(prp.area_range), tuple(prp.aspect_ratio_range))
  cropped = decode.decode_frames_and_crop(frames, indices, box)
  return tf.image.resize(tf.cast(cropped, tf.float32), [size, size], method="bilinear")


def make_prp_preprocess(config: ml_collections.ConfigDict) -> base.TrainPreprocessFn:
  """Returns the tf.data function making one PRP example (see the module docstring)."""
  check_config(config)
  clip_length = config.data.clip_length
  size = config.data.crop_size
  prp = config.prp
  rates = tuple(prp.rates)

  def preprocess(example: Mapping[str, Any], seed: tf.Tensor) -> dict:
    sample_seed, crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    sample = prp_sampling.sample_prp_clip(
        example["num_frames"], clip_length, rates, sample_seed,
        base_stride=prp.base_stride, short_videos=prp.short_videos)
    num_motion = prp_sampling.MOTION_FRAMES_PER_CHUNK * max(rates)
    frames = _decode_target_frames(
        config, example["frames"],
        tf.concat([sample["target_indices"], sample["motion_indices"]], axis=0), crop_seed)
    target = prp_sampling.fill_missing_frames(frames[:2 * clip_length], sample["target_valid"])
    frames = tf.concat([target, frames[2 * clip_length:]], axis=0)
    frames = augment.random_flip_left_right(
        tf.clip_by_value(frames / 255.0, 0.0, 1.0), flip_seed, prp.flip_prob)
    frames = tf.cast(tf.round(frames * 255.0), tf.uint8)
    frames = tf.ensure_shape(frames, [2 * clip_length + num_motion, size, size, 3])
    target = frames[:2 * clip_length]
    return {
        "clip": target[0::2],
        "target": target,
        "target_valid": sample["target_valid"],
        "rate": sample["rate_index"],
        "motion_frames": frames[2 * clip_length:],
    }

  return preprocess


def make_prp_loss_fn(config: ml_collections.ConfigDict) -> base.LossFn:
  """(outputs, batch) -> (loss, metrics) with the weights and mask of `config.prp`."""
  prp = config.prp
  rates = tuple(prp.rates)

  def loss_fn(outputs, batch):
    return prp_losses.prp_loss(
        outputs, inputs.to_unit_float(batch["target"]), batch["target_valid"],
        inputs.to_unit_float(batch["motion_frames"]), batch["rate"], rates,
        mask_mode=prp.mask_mode,
        mask_range=tuple(prp.mask_range), reconstruction_weight=prp.reconstruction_weight,
        rate_weight=prp.rate_weight)

  return loss_fn


def build_objective(config: ml_collections.ConfigDict) -> base.Objective:
  """Builds PRP from `config.model_name`, `config.model`, `config.data` and `config.prp`."""
  check_config(config)
  encoder = models.build_model(config.model_name, **config.model.to_dict())
  model = PRPModel(
      encoder=encoder,
      rate_head=prp_heads.RateClassificationHead(num_rates=len(config.prp.rates)),
      decoder=prp_heads.ReconstructionDecoder(conv_impl=config.prp.decoder_conv_impl))
  return base.Objective(
      name="prp",
      model=model,
      loss_fn=make_prp_loss_fn(config),
      preprocess_train=make_prp_preprocess(config),
      clips_per_example=1,
  )
