"""Frozen-encoder features: multi-view test clips -> one vector per video.

Shared by every objective: the encoder is any backbone following the models'
contract (float video in [0, 1] -> feature map [B, T', H', W', C]). Views of a
video (evenly spaced clips x spatial crops) are encoded in one batched pass
and their pooled features averaged.
"""
from typing import Any, Callable, Iterable, Iterator, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jvrl.data import device_batches
from jvrl.models import inputs
from jvrl.train import preemption
from jvrl.train import sharding

POOLINGS = ("avg", "max_122")


def pool_feature_map(feature_map: jax.Array, pooling: str) -> jax.Array:
  """[B, T, H, W, C] -> [B, D].

  'avg': global average pool (CVRL's linear-eval feature, D = C).
  'max_122': max-pool (1, 2, 2) with stride (1, 2, 2), then flatten (the
  retrieval feature of PRP's protocol, REFERENCE §3; D = T*H/2*W/2*C).
  """
  if pooling == "avg":
    return jnp.mean(feature_map, axis=(1, 2, 3))
  if pooling == "max_122":
    pooled = nn.max_pool(feature_map, window_shape=(1, 2, 2), strides=(1, 2, 2))
    return pooled.reshape(pooled.shape[0], -1)
  raise ValueError(f"Unknown feature pooling {pooling!r}; known: {POOLINGS}.")


def make_view_average_fn(clip_fn: Callable[[Any, jax.Array], jax.Array], mesh: Mesh):
  """Returns jitted `fn(variables, video[B, V, T, H, W, 3]) -> [B, D]`.

  `clip_fn(variables, clips[N, T, H, W, 3] uint8) -> [N, D]` runs on all
  B * V views in one batched pass; the V outputs of each video are averaged
  (features for the frozen-encoder evaluation, logits for fine-tuning's
  multi-clip test).
  """
  def average_over_views(variables, video):
    batch, views = video.shape[:2]
    outputs = clip_fn(variables, video.reshape((batch * views,) + video.shape[2:]))
    return jnp.mean(outputs.astype(jnp.float32).reshape(batch, views, -1), axis=1)

  batch_sharding = device_batches.batch_sharding(mesh)
  return jax.jit(average_over_views, in_shardings=(sharding.replicated(mesh), batch_sharding),
                 out_shardings=batch_sharding)


def make_encode_views_fn(encoder: nn.Module, mesh: Mesh, pooling: str = "avg"):
  """Returns jitted `encode(variables, video[B, V, T, H, W, 3]) -> [B, D]`."""
  if pooling not in POOLINGS:
    raise ValueError(f"Unknown feature pooling {pooling!r}; known: {POOLINGS}.")

  def encode_clips(variables, clips):
    feature_map = encoder.apply(variables, inputs.to_unit_float(clips), train=False)
    return pool_feature_map(feature_map.astype(jnp.float32), pooling)

  return make_view_average_fn(encode_clips, mesh)


def iterate_batch_features(
    encode_fn, variables, batches: Iterable[Mapping[str, np.ndarray]], mesh: Mesh,
    extra_fields: tuple[str, ...] = ("label",),
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
  """Runs `encode_fn` over eval batches; yields (features [n, D], {field: [n]}) per batch.

  Padding rows (mask False) are dropped, so the rows are exactly the
  examples this process read; `extra_fields` of the batch come along,
  masked the same way. A stop signal (`jvrl.train.preemption`) ends the loop
  between batches with `preemption.StopRequested`. Single-process only for now (every batch is a full
  global batch built from this process's data).
  """
  if jax.process_count() != 1:
    raise NotImplementedError("Multi-host feature extraction is not supported yet.")
  variables = jax.device_put(variables, sharding.replicated(mesh))
  for batch in batches:
    preemption.check_stop("feature extraction")  # SIGTERM/SIGINT: stop between batches
    mask = np.asarray(batch["mask"], bool)
    video = device_batches.make_global_batch({"video": batch["video"]}, mesh)["video"]
    batch_features = np.asarray(jax.device_get(encode_fn(variables, video)))
    yield batch_features[mask], {name: np.asarray(batch[name])[mask] for name in extra_fields}


def extract_features_and_fields(
    encode_fn, variables, batches: Iterable[Mapping[str, np.ndarray]], mesh: Mesh,
    fields: tuple[str, ...] = ("label",),
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
  """Runs `encode_fn` over eval batches; returns (features float32 [N, D], {field: [N]}).

  Padding rows (mask False) are dropped, so N is exactly the number of videos
  this process read: no video is lost to batching (see `iterate_batch_features`).
  String fields (e.g. 'filename') come back as str arrays.
  """
  features, values = [], {name: [] for name in fields}
  for batch_features, batch_fields in iterate_batch_features(encode_fn, variables, batches,
                                                             mesh, extra_fields=fields):
    features.append(batch_features)
    for name in fields:
      values[name].append(batch_fields[name])
  if not features:
    raise ValueError("The evaluation split is empty: no videos to extract features from.")
  columns = {}
  for name, parts in values.items():
    column = np.concatenate(parts)
    if column.dtype == object:  # tf.string -> bytes
      column = np.asarray([v.decode("utf-8", "replace") for v in column], dtype=str)
    columns[name] = column
  return np.concatenate(features).astype(np.float32), columns


def extract_features(
    encode_fn, variables, batches: Iterable[Mapping[str, np.ndarray]], mesh: Mesh,
) -> tuple[np.ndarray, np.ndarray]:
  """Runs `encode_fn` over eval batches; returns (features [N, D], labels [N]).

  Padding rows (mask False) are dropped, so N is exactly the number of videos
  this process read: no video is lost to batching (see `iterate_batch_features`).
  """
  features, fields = extract_features_and_fields(encode_fn, variables, batches, mesh)
  return features, fields["label"].astype(np.int64)
