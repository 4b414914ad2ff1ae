"""CoCLR: co-training of an RGB and an optical-flow stream (REFERENCE §4; Han, Xie,
Zisserman, NeurIPS 2020; official code TengdaHan/CoCLR).

* Views (`make_coclr_preprocess`): two clips of a video (CVRL's gap sampler),
  each as RGB frames AND the optical flow of the same frames
  (`jvrl.data.flow_clips`), the flow cut, resized and flipped exactly like its
  RGB clip (u scaled with the resize and negated by a flip); the RGB clip then
  gets CVRL's colour augmentation. Plus the video's id (a hash of its file
  name) for the same-video mask.
* Model (`model.py`): an RGB encoder ('encoder', exported and evaluated as
  every objective's) and a flow encoder ('flow_encoder', built from
  `config.model` with `config.coclr.flow_model`'s overrides), each with a
  two-layer head. MoCo key encoders are the trainer's EMA teacher
  (`Objective.teacher`, momentum `config.coclr.key_momentum`), negatives come
  from the trainer's memory queue (`Objective.queue`, `config.coclr.queue_size`
  rows of keys per stream).
* `config.coclr.stage='infonce'` (stage 1): InfoNCE per stream, RGB and flow
  trained side by side in one model (independent losses and parameters;
  the reference trains them in two runs).
* `config.coclr.stage='cotrain'` (stage 2) with `config.coclr.train_stream`
  'rgb' or 'flow': that stream is trained with the multi-positive InfoNCE of
  `loss.py` (the other stream's top-k neighbours in the queue become
  positives); the other stream is frozen (learning-rate multiplier 0) and
  only mines. The reference alternates the streams, one run each, for a few
  cycles; `jvrl.experiments.coclr` chains those runs in one command and
  evaluates each stream and the two-stream combination.
"""
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections

from jvrl import models
from jvrl.data import augment
from jvrl.data import decode
from jvrl.data import flow_clips
from jvrl.data import sampling
from jvrl.data.tf_setup import tf
from jvrl.objectives import base
from jvrl.objectives.coclr import loss as loss_lib
from jvrl.objectives.coclr import model as model_lib

STAGES = ("infonce", "cotrain")
STREAMS = model_lib.STREAMS
# Video id of a record without a file name: never "the same video" as another.
UNKNOWN_VIDEO = -1


def _section(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  return base.require_section(config, "coclr")


def flow_model_kwargs(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """The flow encoder's `build_model` options: `config.model` with
  `config.coclr.flow_model`'s overrides (e.g. input_transform='rgb')."""
  return {**config.model.to_dict(), **dict(_section(config).get("flow_model", {}) or {})}


def check_config(config: ml_collections.ConfigDict) -> None:
  """`config.coclr`: stage and stream, temperature, queue, momentum, top-k, heads."""
  coclr = _section(config)
  if coclr.get("stage") not in STAGES:
    raise ValueError(f"config.coclr.stage={coclr.get('stage')!r} must be one of {STAGES}.")
  if coclr.stage == "cotrain" and coclr.get("train_stream") not in STREAMS:
    raise ValueError(f"config.coclr.train_stream={coclr.get('train_stream')!r} must be one "
                     f"of {STREAMS} in the co-training stage.")
  temperature = coclr.get("temperature")
  if not isinstance(temperature, (int, float)) or not temperature > 0:
    raise ValueError(f"config.coclr.temperature={temperature!r} must be a number > 0 "
                     "(CoCLR: 0.07).")
  momentum = coclr.get("key_momentum")
  if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
    raise ValueError(f"config.coclr.key_momentum={momentum!r} must be in [0, 1] (CoCLR: "
                     "0.999).")
  for field in ("queue_size", "projection_hidden_dim", "projection_dim"):
    value = coclr.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f"config.coclr.{field}={value!r} must be a positive integer.")
  batch = config.train.batch_size
  if coclr.queue_size % batch:
    raise ValueError(f"config.coclr.queue_size={coclr.queue_size} must be a multiple of "
                     f"config.train.batch_size={batch} (whole batches are queued, as MoCo).")
  topk = coclr.get("topk")
  if isinstance(topk, bool) or not isinstance(topk, int) or not 0 <= topk <= coclr.queue_size:
    raise ValueError(f"config.coclr.topk={topk!r} must be an integer in [0, queue_size] "
                     "(CoCLR: 5).")
  unknown = sorted(set(dict(coclr.get("flow_model", {}) or {})) -
                   set(models.model_options(config.model_name)))
  if unknown:
    raise ValueError(f"config.coclr.flow_model has option(s) {unknown} that model "
                     f"{config.model_name!r} does not take.")


def video_id(filename: tf.Tensor) -> tf.Tensor:
  """int32 id of a video from its file name (a hash), `UNKNOWN_VIDEO` without one."""
  hashed = tf.cast(tf.strings.to_hash_bucket_fast(filename, 2**31 - 1), tf.int32)
  return tf.where(tf.strings.length(filename) > 0, hashed, UNKNOWN_VIDEO)


def make_coclr_preprocess(config: ml_collections.ConfigDict) -> base.TrainPreprocessFn:
  """The tf.data function making one example: two views, each RGB + flow, and the id."""
  clip_length, stride = config.data.clip_length, config.data.frame_stride
  crop_size, aug = config.data.crop_size, config.augment
  geometry = dict(area_range=tuple(aug.area_range),
                  aspect_ratio_range=tuple(aug.aspect_ratio_range), flip_prob=aug.flip_prob)

  def view(example, indices, seed, index):
    frames = decode.decode_frames(example["frames"], indices)
    rgb = augment.cvrl_augment_clip(
        tf.cast(frames, tf.float32) / 255.0, seed, crop_size=crop_size,
        blur_prob=aug.blur_prob[index], solarize_prob=aug.solarize_prob[index],
        color_strength=aug.color_strength, color_prob=aug.color_prob,
        grayscale_prob=aug.grayscale_prob, **geometry)
    height, width = tf.unstack(tf.shape(frames)[1:3])
    box, flipped = augment.cvrl_geometry(seed, height, width, **geometry)
    flow = flow_clips.augment_flow_clip(
        flow_clips.decode_flow_frames(example["flow"], indices), box, flipped, crop_size)
    return tf.cast(tf.round(rgb * 255.0), tf.uint8), flow

  def preprocess(example: Mapping[str, Any], seed: tf.Tensor) -> dict:
    start_seed, seed_1, seed_2 = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    num_frames = example["num_frames"]
    starts = sampling.sample_cvrl_clip_starts(num_frames, clip_length, stride, start_seed)
    out = {"video_id": video_id(example["filename"])}
    for index, view_seed in enumerate((seed_1, seed_2)):
      indices = sampling.clip_frame_indices(starts[index], clip_length, stride, num_frames)
      out[f"view{index + 1}_rgb"], out[f"view{index + 1}_flow"] = view(
          example, indices, view_seed, index)
    return out

  return preprocess


def _infonce(coclr, dim: int):
  """Stage 1: each stream's InfoNCE against its own queue of keys."""
  def loss_fn(outputs, batch):
    del batch
    keys, queue = outputs[base.TEACHER_OUTPUTS], outputs[base.QUEUE_OUTPUTS]
    total, metrics = 0.0, {}
    for stream in STREAMS:
      loss, stream_metrics = loss_lib.infonce_loss(
          outputs[f"{stream}_query"], keys[f"{stream}_key"], queue[f"{stream}_keys"],
          coclr.temperature)
      total += loss
      metrics[f"{stream}_loss"] = loss
      metrics.update({f"{stream}_{k}": v for k, v in stream_metrics.items()})
    return total, metrics

  rows = {f"{s}_keys": jax.ShapeDtypeStruct((dim,), jnp.float32) for s in STREAMS}

  def compute_rows(outputs, batch):
    del batch
    return {f"{s}_keys": outputs[base.TEACHER_OUTPUTS][f"{s}_key"] for s in STREAMS}

  return loss_fn, rows, compute_rows


def _cotrain(coclr, dim: int):
  """Stage 2: the trained stream's multi-positive InfoNCE, positives mined by the other."""
  main, second = coclr.train_stream, STREAMS[1 - STREAMS.index(coclr.train_stream)]

  def loss_fn(outputs, batch):
    keys, queue = outputs[base.TEACHER_OUTPUTS], outputs[base.QUEUE_OUTPUTS]
    full = queue["filled"] >= queue["keys"].shape[0]
    loss, metrics = loss_lib.cotrain_loss(
        outputs[f"{main}_query"], keys[f"{main}_key"], queue["keys"], keys[f"{second}_key"],
        queue["second_keys"], batch["video_id"], queue["video_ids"], full,
        temperature=coclr.temperature, topk=coclr.topk)
    return loss, dict(metrics, queue_full=full.astype(jnp.float32))

  rows = {"keys": jax.ShapeDtypeStruct((dim,), jnp.float32),
          "second_keys": jax.ShapeDtypeStruct((dim,), jnp.float32),
          "video_ids": jax.ShapeDtypeStruct((), jnp.int32)}

  def compute_rows(outputs, batch):
    keys = outputs[base.TEACHER_OUTPUTS]
    return {"keys": keys[f"{main}_key"], "second_keys": keys[f"{second}_key"],
            "video_ids": batch["video_id"]}

  return loss_fn, rows, compute_rows


def build_objective(config: ml_collections.ConfigDict) -> base.Objective:
  """CoCLR's stage `config.coclr.stage` on `config.model_name` (both streams)."""
  check_config(config)
  coclr = config.coclr
  cotrain = coclr.stage == "cotrain"
  model = model_lib.CoCLRModel(
      encoder=models.build_model(config.model_name, **config.model.to_dict()),
      flow_encoder=models.build_model(config.model_name, **flow_model_kwargs(config)),
      projection_hidden_dim=coclr.projection_hidden_dim, projection_dim=coclr.projection_dim,
      trained=coclr.train_stream if cotrain else "both")
  loss_fn, rows, compute_rows = (_cotrain if cotrain else _infonce)(coclr, coclr.projection_dim)
  trained = (model_lib.STREAM_SUBMODULES[coclr.train_stream] if cotrain
             else model_lib.SUBMODULES)
  momentum = float(coclr.key_momentum)
  return base.Objective(
      name="coclr",
      model=model,
      loss_fn=loss_fn,
      preprocess_train=make_coclr_preprocess(config),
      clips_per_example=3 if cotrain else 4,
      teacher=base.Teacher(submodules=trained,
                           momentum=base.cosine_momentum(momentum, momentum,
                                                         config.train.num_steps),
                           method="keys"),
      queue=base.MemoryQueue(size=coclr.queue_size, rows=rows, compute_rows=compute_rows),
  )
