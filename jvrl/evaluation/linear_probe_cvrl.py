"""CVRL's linear evaluation: a linear layer trained on augmented clips of the frozen encoder.

`config.eval.linear_probe.protocol` chooses how `linear_probe_top1` is measured:
'fast' (default; `jvrl.evaluation.linear_probe`: logistic regression on the
stored multi-view-averaged features, Adam, standardised features, weight
decay chosen on held-out videos: seconds on a CPU) or 'cvrl', the protocol of
CVRL's reference (tensorflow/models official/projects/video_ssl), here:

* Training: every step reads fresh clips of eval_train videos through tf.data
  (`jvrl.data.pipeline.make_train_dataset` on the eval_train split: an endless
  shuffled stream, so every epoch draws new clips and augmentations): one clip
  per video of `pipeline.eval_clip_shape` (CVRL: 32 frames at stride 2) from
  a uniform start, a crop box from `augment.sample_distorted_crop_box` (area
  0.3-1, aspect 0.5-2) resized to `crop_size` (224), a horizontal flip with
  probability 0.5 (dataloaders/video_ssl_input.py `_process_image` with
  is_training=True, is_ssl=False). The frozen encoder (batch norm on its
  running statistics: tasks/linear_eval.py sets the backbone non-trainable)
  gives the pooled feature, L2-normalised (configs/video_ssl.py
  `video_ssl_linear_eval_kinetics400`: normalize_feature=True,
  hidden_layer_num=0), and one Dense layer (Glorot-uniform kernel, zero bias:
  Keras' defaults) is trained with softmax cross-entropy by SGD, momentum
  0.9, no Nesterov, lr 32 at batch 1024 (not rescaled with the batch), 5
  warm-up epochs onto a cosine over all steps, ~100 epochs, weight decay 0
  (configs/experiments/cvrl_linear_eval_k600.yaml on
  official/vision/configs/video_classification.py `add_trainer`). Epochs count
  the eval_train videos as the evaluation reads them.
* Test: the evaluation's multi-view test clips (`config.eval`: CVRL 10 clips
  x 3 crops of 256 after resizing the short side to 256); each view's feature
  is L2-normalised and classified, and the views' softmax PROBABILITIES are
  averaged (official/vision/tasks/video_classification.py `inference_step`),
  not their features or logits.

Deviations kept: a video shorter than one clip starts at frame 0 and loops
(the reference draws any start in it); the Dense layer has one output per
class (the reference's K400 config asks for 600); an interrupted probe
training starts again (no checkpoint).
"""
import copy
import dataclasses
import math
import time
from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh

from jvrl.data import augment
from jvrl.data import decode
from jvrl.data import device_batches
from jvrl.data import pipeline
from jvrl.data import sampling
from jvrl.data.tf_setup import tf
from jvrl.evaluation import features as features_lib
from jvrl.evaluation import linear_probe
from jvrl.models import inputs
from jvrl.train import optimizers
from jvrl.train import preemption
from jvrl.train import sharding
from jvrl.train.metrics_writer import log_info

PROTOCOLS = ("fast", "cvrl")
# Norms below this count as this when L2-normalising (tf.nn.l2_normalize's epsilon
# is 1e-12 on the squared norm).
_MIN_SQUARED_NORM = 1e-12


def protocol(config: ml_collections.ConfigDict) -> str:
  """`config.eval.linear_probe.protocol` ('fast' when absent)."""
  probe = config.eval.get("linear_probe") or {}
  return probe.get("protocol", "fast") or "fast"


@dataclasses.dataclass(frozen=True)
class Settings:
  """`config.eval.linear_probe.cvrl`: the 'cvrl' protocol's training.

  Attributes:
    epochs: passes over eval_train (CVRL: 100); may be fractional.
    warmup_epochs: linear warm-up from 0 (CVRL: 5), onto a cosine over all steps.
    batch_size: clips per step, global (CVRL: 1024).
    learning_rate: SGD's peak learning rate (CVRL: 32).
    lr_batch_scaling: > 0: the peak is learning_rate * batch_size / this; 0: as
      given (CVRL).
    momentum: SGD momentum (CVRL: 0.9, no Nesterov).
    weight_decay: L2 on the kernel, in the gradient (CVRL: 0).
    crop_size: side of the training crops (CVRL: 224; the test crops are
      `config.eval.crop_size`, 256).
    area_range, aspect_ratio_range: the crop box's (CVRL: (0.3, 1), (0.5, 2)).
    flip_prob: horizontal flip probability (CVRL: 0.5).
    log_every: steps between progress lines.
  """
  epochs: float = 100.0
  warmup_epochs: float = 5.0
  batch_size: int = 1024
  learning_rate: float = 32.0
  lr_batch_scaling: float = 0.0
  momentum: float = 0.9
  weight_decay: float = 0.0
  crop_size: int = 224
  area_range: tuple[float, float] = (0.3, 1.0)
  aspect_ratio_range: tuple[float, float] = (0.5, 2.0)
  flip_prob: float = 0.5
  log_every: int = 100


def _is_number(value: Any) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def settings_from_config(config: ml_collections.ConfigDict) -> Settings:
  """The checked `config.eval.linear_probe.cvrl` (absent fields: `Settings`' defaults).

  Raises:
    ValueError: one line naming the field and what it must be.
  """
  section = (config.eval.get("linear_probe") or {}).get("cvrl")
  section = dict(section.items()) if section is not None else {}
  known = {field.name for field in dataclasses.fields(Settings)}
  unknown = sorted(set(section) - known)
  if unknown:
    raise ValueError(f"Unknown config.eval.linear_probe.cvrl field(s) {unknown}; known: "
                     f"{sorted(known)}.")
  settings = Settings(**{k: (tuple(v) if isinstance(v, (list, tuple)) else v)
                         for k, v in section.items()})
  name = "config.eval.linear_probe.cvrl."
  for field in ("batch_size", "crop_size", "log_every"):
    value = getattr(settings, field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
      raise ValueError(f"{name}{field}={value!r} must be an integer >= 1.")
  for field in ("epochs", "learning_rate"):
    value = getattr(settings, field)
    if not _is_number(value) or value <= 0:
      raise ValueError(f"{name}{field}={value!r} must be a number > 0.")
  for field in ("warmup_epochs", "lr_batch_scaling", "weight_decay"):
    value = getattr(settings, field)
    if not _is_number(value) or value < 0:
      raise ValueError(f"{name}{field}={value!r} must be a number >= 0.")
  if settings.warmup_epochs > settings.epochs:
    raise ValueError(f"{name}warmup_epochs={settings.warmup_epochs} exceeds "
                     f"{name}epochs={settings.epochs}.")
  if not _is_number(settings.momentum) or not 0 <= settings.momentum < 1:
    raise ValueError(f"{name}momentum={settings.momentum!r} must be in [0, 1).")
  if not _is_number(settings.flip_prob) or not 0 <= settings.flip_prob <= 1:
    raise ValueError(f"{name}flip_prob={settings.flip_prob!r} must be in [0, 1].")
  for field, high in (("area_range", 1.0), ("aspect_ratio_range", math.inf)):
    value = getattr(settings, field)
    if (not isinstance(value, tuple) or len(value) != 2 or not all(_is_number(v) for v in value)
        or not 0 < value[0] <= value[1] <= high):
      raise ValueError(f"{name}{field}={value!r} must be a (min, max) pair with "
                       f"0 < min <= max <= {high}.")
  return settings


def check_config(config: ml_collections.ConfigDict) -> None:
  """The start-up check of the linear-probe protocol and, for 'cvrl', its settings."""
  chosen = protocol(config)
  if chosen not in PROTOCOLS:
    raise ValueError(f"config.eval.linear_probe.protocol={chosen!r} must be one of "
                     f"{PROTOCOLS} ('fast': logistic regression on stored features; "
                     "'cvrl': CVRL's linear evaluation on augmented clips).")
  if chosen == "cvrl":
    settings_from_config(config)
    pooling = config.eval.get("feature_pooling", "avg")
    if pooling != "avg":
      raise ValueError(f"config.eval.linear_probe.protocol='cvrl' reads the global average "
                       f"pooled feature (CVRL's), but config.eval.feature_pooling={pooling!r}: "
                       "use 'avg'.")


def make_train_clip_fn(config: ml_collections.ConfigDict,
                       settings: Settings) -> pipeline.TrainPreprocessFn:
  """The tf.data function making one training example: {'clip': uint8 [T, S, S, 3],
  'label': int32}, T from `pipeline.eval_clip_shape`, S = settings.crop_size."""
  clip_length, stride = pipeline.eval_clip_shape(config)
  size = settings.crop_size

  def preprocess(example: Mapping[str, Any], seed: tf.Tensor) -> dict:
    start_seed, crop_seed, flip_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3))
    num_frames = example["num_frames"]
    start = sampling.sample_uniform_clip_start(num_frames, clip_length, stride, start_seed)
    indices = sampling.clip_frame_indices(start, clip_length, stride, num_frames)
    height, width = tf.unstack(decode.frame_size(example["frames"]))
    box = augment.sample_distorted_crop_box(crop_seed, height, width, settings.area_range,
                                            settings.aspect_ratio_range)
    cropped = decode.decode_frames_and_crop(example["frames"], indices, box)
    clip = tf.image.resize(tf.cast(cropped, tf.float32) / 255.0, [size, size])
    clip = augment.random_flip_left_right(tf.clip_by_value(clip, 0.0, 1.0), flip_seed,
                                          settings.flip_prob)
    return {"clip": tf.cast(tf.round(clip * 255.0), tf.uint8),
            "label": tf.cast(example["label"], tf.int32)}

  return preprocess


def _l2_normalize(features: jax.Array) -> jax.Array:
  """Rows scaled to unit norm, as tf.nn.l2_normalize (float32 [..., D])."""
  squared = jnp.sum(jnp.square(features), axis=-1, keepdims=True)
  return features * jax.lax.rsqrt(jnp.maximum(squared, _MIN_SQUARED_NORM))


def clip_logits(params: Mapping[str, jax.Array], features: jax.Array) -> jax.Array:
  """[..., D] pooled features -> [..., C] logits of the L2-normalised features."""
  return jnp.dot(_l2_normalize(features), params["kernel"],
                 precision=jax.lax.Precision.HIGHEST) + params["bias"]


def _encode_fn(encoder: nn.Module):
  """`encode(variables, clips uint8 [N, T, H, W, 3]) -> float32 [N, D]`: the frozen
  encoder's global average pooled feature."""
  def encode(variables, clips):
    feature_map = encoder.apply(variables, inputs.to_unit_float(clips), train=False)
    return jax.lax.stop_gradient(
        features_lib.pool_feature_map(feature_map.astype(jnp.float32), "avg"))
  return encode


def init_params(feature_dim: int, num_classes: int, seed: int) -> dict[str, jax.Array]:
  """{'kernel': [D, C] Glorot-uniform, 'bias': zeros [C]} (Keras Dense's defaults)."""
  kernel = jax.nn.initializers.glorot_uniform()(
      jax.random.key(seed), (feature_dim, num_classes), jnp.float32)
  return {"kernel": kernel, "bias": jnp.zeros((num_classes,), jnp.float32)}


def probe_optimizer(settings: Settings, total_steps: int,
                    warmup_steps: int) -> optax.GradientTransformation:
  """SGD with momentum (no Nesterov), warm-up onto a cosine over all `total_steps`."""
  return optimizers.make_optimizer(dict(
      name="sgd", learning_rate=settings.learning_rate,
      lr_batch_scaling=settings.lr_batch_scaling, warmup_steps=warmup_steps,
      schedule="cosine", decay_from_step_zero=True, momentum=settings.momentum,
      nesterov=False, weight_decay=settings.weight_decay), total_steps, settings.batch_size)


def schedule_steps(settings: Settings, num_videos: int) -> tuple[int, int]:
  """(total steps, warm-up steps): epochs of `num_videos` at the batch size, rounded
  as CVRL's experiment files (at least one step)."""
  total = max(1, round(settings.epochs * num_videos / settings.batch_size))
  warmup = min(total, round(settings.warmup_epochs * num_videos / settings.batch_size))
  return total, warmup


def make_train_step(encoder: nn.Module, optimizer: optax.GradientTransformation, mesh: Mesh):
  """Jitted `step(params, opt_state, variables, batch) -> (params, opt_state, metrics)`:
  one SGD step of the linear layer on a global batch {'clip', 'label'} (the encoder
  frozen; `variables` its variables)."""
  encode = _encode_fn(encoder)

  def step(params, opt_state, variables, batch):
    features = encode(variables, batch["clip"])

    def loss_fn(p):
      logits = clip_logits(p, features)
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch["label"]).mean()
      return loss, logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    accuracy = jnp.mean(jnp.argmax(logits, axis=-1) == batch["label"])
    return optax.apply_updates(params, updates), opt_state, {"loss": loss,
                                                             "accuracy": accuracy}

  replicated = sharding.replicated(mesh)
  return jax.jit(step, in_shardings=(replicated, replicated, replicated,
                                     device_batches.batch_sharding(mesh)),
                 out_shardings=replicated, donate_argnums=(0, 1))


def train_probe(config: ml_collections.ConfigDict, encoder: nn.Module,
                variables: Mapping[str, Any], mesh: Mesh, *, num_classes: int,
                num_videos: int, feature_dim: int, who: str = "pretrained") -> (
                    linear_probe.LinearProbe):
  """Trains the 'cvrl' protocol's linear layer on eval_train (see the module docstring).

  Args:
    config: the experiment config (`config.eval.linear_probe.cvrl`, the eval
      clip shape, `config.data` for reading eval_train, `config.seed`).
    encoder, variables: the frozen encoder.
    mesh: the device mesh; the batch is split over its batch axes.
    num_classes: C, the layer's outputs.
    num_videos: the eval_train videos an epoch counts.
    feature_dim: D, the pooled feature's size.
    who: names the encoder in the progress lines.

  Returns:
    The layer as a `LinearProbe` (L2-normalised input, no standardisation).
  """
  if jax.process_count() != 1:
    raise NotImplementedError("The 'cvrl' linear probe runs on one host for now.")
  settings = settings_from_config(config)
  total_steps, warmup_steps = schedule_steps(settings, num_videos)
  optimizer = probe_optimizer(settings, total_steps, warmup_steps)
  step_fn = make_train_step(encoder, optimizer, mesh)
  data_config = ml_collections.ConfigDict(copy.deepcopy(config.to_dict()))
  data_config.data.train_split = "eval_train"
  dataset = pipeline.make_train_dataset(data_config, make_train_clip_fn(config, settings),
                                        settings.batch_size)
  replicated = sharding.replicated(mesh)
  params = jax.device_put(init_params(feature_dim, num_classes, config.seed), replicated)
  opt_state = jax.device_put(optimizer.init(params), replicated)
  variables = jax.device_put(variables, replicated)
  clip_length, stride = pipeline.eval_clip_shape(config)
  log_info("Linear probe ('cvrl' protocol) on the %s encoder: %d steps (%g epochs of %d "
           "eval_train videos, batch %d), %d-frame clips at stride %d, %dx%d crops.", who,
           total_steps, settings.epochs, num_videos, settings.batch_size, clip_length, stride,
           settings.crop_size, settings.crop_size)
  start = time.perf_counter()
  batches = device_batches.prefetch_to_mesh(dataset.as_numpy_iterator(), mesh)
  for step, batch in zip(range(1, total_steps + 1), batches):
    preemption.check_stop("the linear probe's training")
    params, opt_state, metrics = step_fn(params, opt_state, variables, batch)
    if step % settings.log_every == 0 or step == total_steps:
      log_info("Linear probe step %d/%d: loss %.4f, train clip accuracy %.3f (%.1f s).", step,
               total_steps, float(metrics["loss"]), float(metrics["accuracy"]),
               time.perf_counter() - start)
  params = jax.device_get(params)
  return linear_probe.LinearProbe(
      weights=np.asarray(params["kernel"]), bias=np.asarray(params["bias"]),
      feature_mean=np.zeros(feature_dim, np.float32),
      feature_std=np.ones(feature_dim, np.float32), normalize=True,
      weight_decay=float(settings.weight_decay))


def make_view_probabilities_fn(encoder: nn.Module, mesh: Mesh):
  """Returns jitted `fn({'encoder': variables, 'probe': {'kernel', 'bias'}},
  video[B, V, T, H, W, 3]) -> [B, C]`: each view classified on its own L2-normalised
  feature, the V views' softmax probabilities averaged (CVRL's test)."""
  encode = _encode_fn(encoder)

  def view_probabilities(variables, clips):
    return jax.nn.softmax(clip_logits(variables["probe"], encode(variables["encoder"], clips)))

  return features_lib.make_view_average_fn(view_probabilities, mesh)


def view_averaged_probabilities(config: ml_collections.ConfigDict, encoder: nn.Module,
                       variables: Mapping[str, Any], probe: linear_probe.LinearProbe,
                       mesh: Mesh, split: str = "eval_test") -> tuple[np.ndarray, np.ndarray]:
  """(probabilities float32 [N, C] averaged over each video's test views, labels [N])
  of every video of `split`, in the evaluation's reading order."""
  fn = make_view_probabilities_fn(encoder, mesh)
  dataset = pipeline.make_eval_dataset(config, split, config.eval.batch_size)
  packed = {"encoder": variables,
            "probe": {"kernel": jnp.asarray(probe.weights), "bias": jnp.asarray(probe.bias)}}
  return features_lib.extract_features(fn, packed, dataset.as_numpy_iterator(), mesh)
