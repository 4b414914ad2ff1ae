"""Nearest-neighbour retrieval in cosine space and recall@k (REFERENCE §3).

PRP's retrieval protocol: every test video (query) ranks the train videos
(gallery) by cosine similarity of their features; a query is a hit at k if ANY
of its k nearest gallery items has the query's class; recall@k is the fraction
of queries that hit.

`cosine_top_k` is the shared engine (also used by `jvrl.evaluation.knn`): it
never holds the full N_query x N_gallery similarity matrix, only blocks of
`chunk_size` queries x `chunk_size` gallery items (4 MiB at the default 1024),
merging each block into a running top-k. This file also holds the input
checks shared by the evaluation metrics (`check_features`, `check_labels`).

Ties: `jax.lax.top_k` puts the lower index first among equal values, and the
running top-k (earlier, lower-index gallery items) is merged in front of each
new block, so equal similarities are ranked by gallery index, lowest first,
whatever the chunk size.
"""
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def l2_normalize(x: np.ndarray, eps: float = 1e-8) -> np.ndarray:
  """Scales every row (last axis) of `x` to unit L2 norm.

  Args:
    x: array [..., D] of any real values (host/NumPy).
    eps: norms below `eps` are treated as `eps`, so all-zero rows stay zero
      (and have cosine similarity 0 with everything) instead of becoming NaN.

  Returns:
    Array of `x`'s shape; floating dtype kept, other dtypes become float32.
    Each row has norm 1 (or norm < 1 if its original norm was below `eps`).
  """
  if eps <= 0:
    raise ValueError(f"eps must be > 0, got {eps}.")
  x = np.asarray(x)
  out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float32)
  work = x.astype(np.promote_types(out_dtype, np.float32), copy=False)  # eps fits float32
  norms = np.linalg.norm(work, axis=-1, keepdims=True)
  return (work / np.maximum(norms, eps)).astype(out_dtype, copy=False)


def check_features(features: np.ndarray, name: str) -> np.ndarray:
  """Validates a feature matrix and returns it as float32 [N, D].

  Raises a ValueError naming `name` unless `features` is 2-D with N >= 1,
  D >= 1, real-valued and finite everywhere.
  """
  array = np.asarray(features)
  if array.ndim != 2:
    raise ValueError(f"{name} must be 2-D [N, D], got shape {array.shape}.")
  if array.shape[0] < 1 or array.shape[1] < 1:
    raise ValueError(f"{name} must have N >= 1 rows and D >= 1 columns, got shape {array.shape}.")
  if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
    raise ValueError(f"{name} must be real numbers, got dtype {array.dtype}.")
  array = array.astype(np.float32, copy=False)
  if not np.all(np.isfinite(array)):
    raise ValueError(f"{name} contains NaN or infinite values.")
  return array


def check_labels(
    labels: np.ndarray, name: str, num_examples: int, num_classes: int | None = None,
) -> np.ndarray:
  """Validates integer class labels and returns them as int32 [N].

  Raises a ValueError naming `name` unless `labels` is 1-D, of integer dtype,
  has `num_examples` entries and (when `num_classes` is given) every label is
  in [0, num_classes).
  """
  array = np.asarray(labels)
  if array.ndim != 1:
    raise ValueError(f"{name} must be 1-D [N], got shape {array.shape}.")
  if not np.issubdtype(array.dtype, np.integer):
    raise ValueError(f"{name} must have an integer dtype, got {array.dtype}.")
  if array.shape[0] != num_examples:
    raise ValueError(
        f"{name} has {array.shape[0]} entries but its features have {num_examples} rows.")
  if num_classes is not None and array.size and (array.min() < 0 or array.max() >= num_classes):
    raise ValueError(
        f"{name} must be in [0, {num_classes}), got values in [{array.min()}, {array.max()}].")
  return array.astype(np.int32)


def check_positive_int(value: int, name: str) -> int:
  """Returns `value` as int; ValueError naming `name` unless it is an integer >= 1."""
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
  return int(value)


@functools.partial(jax.jit, static_argnames=("k", "chunk_size"))
def _cosine_top_k_unit(
    queries: jax.Array, gallery: jax.Array, *, k: int, chunk_size: int,
) -> tuple[jax.Array, jax.Array]:
  """Top-k dot products of unit-norm `queries` [Q, D] against `gallery` [G, D].

  Queries are processed `chunk_size` at a time (lax.map); for each query chunk
  the gallery is scanned in blocks of `chunk_size` rows, merging every block
  into a running top-k. Requires 1 <= k <= G.
  """
  num_gallery, dim = gallery.shape
  num_blocks = -(-num_gallery // chunk_size)
  padded = jnp.pad(gallery, ((0, num_blocks * chunk_size - num_gallery), (0, 0)))
  gallery_blocks = padded.reshape(num_blocks, chunk_size, dim)
  block_starts = jnp.arange(num_blocks, dtype=jnp.int32) * chunk_size

  def top_k_of_one_query(query: jax.Array) -> tuple[jax.Array, jax.Array]:
    def merge_block(best, block_and_start):
      best_sims, best_ids = best
      block, start = block_and_start
      ids = start + jnp.arange(chunk_size, dtype=jnp.int32)
      sims = jnp.dot(block, query, precision=jax.lax.Precision.HIGHEST)
      sims = jnp.where(ids < num_gallery, sims, -jnp.inf)  # padding never wins
      # Running best first: among equal sims the lower gallery index wins.
      top_sims, positions = jax.lax.top_k(jnp.concatenate([best_sims, sims]), k)
      return (top_sims, jnp.concatenate([best_ids, ids])[positions]), None

    init = (jnp.full((k,), -jnp.inf, jnp.float32), jnp.full((k,), -1, jnp.int32))
    (sims, ids), _ = jax.lax.scan(merge_block, init, (gallery_blocks, block_starts))
    return sims, ids

  return jax.lax.map(top_k_of_one_query, queries, batch_size=chunk_size)


def cosine_top_k(
    query_features: np.ndarray, gallery_features: np.ndarray, k: int, chunk_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
  """Finds each query's k most cosine-similar gallery items.

  Args:
    query_features: float [Q, D], any scale (L2-normalised here).
    gallery_features: float [G, D].
    k: neighbours wanted, >= 1. If k > G it is clamped to G (every gallery
      item is returned, ranked).
    chunk_size: queries and gallery rows per similarity block; the largest
      similarity block held is chunk_size x chunk_size float32.

  Returns:
    (similarities float32 [Q, min(k, G)] in [-1, 1], sorted descending;
     indices int32 [Q, min(k, G)] into the gallery). Equal similarities are
    ordered by gallery index, lowest first. All-zero feature rows have
    similarity 0 with everything.
  """
  queries = check_features(query_features, "query_features")
  gallery = check_features(gallery_features, "gallery_features")
  if queries.shape[1] != gallery.shape[1]:
    raise ValueError(
        f"query_features and gallery_features must have the same feature size, got "
        f"{queries.shape[1]} and {gallery.shape[1]}.")
  k = min(check_positive_int(k, "k"), gallery.shape[0])
  chunk_size = check_positive_int(chunk_size, "chunk_size")
  sims, ids = _cosine_top_k_unit(
      jnp.asarray(l2_normalize(queries)), jnp.asarray(l2_normalize(gallery)),
      k=k, chunk_size=chunk_size)
  return np.asarray(sims), np.asarray(ids)


def retrieval_recall_at_k(
    query_features: np.ndarray,
    query_labels: np.ndarray,
    gallery_features: np.ndarray,
    gallery_labels: np.ndarray,
    ks: Sequence[int] = (1, 5, 10, 20, 50),
    chunk_size: int = 1024,
) -> dict[str, float]:
  """Retrieval recall@k by cosine similarity (PRP protocol, REFERENCE §3).

  A query hits at k if ANY of its k nearest gallery items (cosine similarity,
  ties broken by lower gallery index) has the query's label.

  Args:
    query_features: float [Q, D] (PRP: test-split features).
    query_labels: int [Q] (any integer values; compared for equality only).
    gallery_features: float [G, D] (PRP: train-split features).
    gallery_labels: int [G].
    ks: the k values, each >= 1. A k larger than the gallery is clamped to G
      (so recall@k is then the fraction of queries whose class is in the
      gallery at all); the result key still names the requested k.
    chunk_size: see `cosine_top_k`.

  Returns:
    {'recall@<k>': fraction of queries that hit, in [0, 1]} for each k in
    `ks`, in the order given.
  """
  recalls, _ = retrieval_recall_and_neighbours(
      query_features, query_labels, gallery_features, gallery_labels, ks, chunk_size)
  return recalls


def retrieval_recall_and_neighbours(
    query_features: np.ndarray,
    query_labels: np.ndarray,
    gallery_features: np.ndarray,
    gallery_labels: np.ndarray,
    ks: Sequence[int] = (1, 5, 10, 20, 50),
    chunk_size: int = 1024,
) -> tuple[dict[str, float], np.ndarray]:
  """`retrieval_recall_at_k` (same arguments), and the neighbours it ranked.

  Returns:
    (the recalls of `retrieval_recall_at_k`; int32 [Q, min(max(ks), G)] the
    gallery indices of each query's nearest items, nearest first).
  """
  query_features = check_features(query_features, "query_features")
  gallery_features = check_features(gallery_features, "gallery_features")
  query_labels = check_labels(query_labels, "query_labels", query_features.shape[0])
  gallery_labels = check_labels(gallery_labels, "gallery_labels", gallery_features.shape[0])
  ks = tuple(ks)
  if not ks:
    raise ValueError("ks must name at least one k.")
  ks = tuple(check_positive_int(k, "each of ks") for k in ks)
  num_gallery = gallery_features.shape[0]
  _, ids = cosine_top_k(query_features, gallery_features, max(ks), chunk_size)
  hits = gallery_labels[ids] == query_labels[:, None]  # [Q, min(max k, G)]
  hit_within = np.logical_or.accumulate(hits, axis=1)
  recalls = {f"recall@{k}": float(np.mean(hit_within[:, min(k, num_gallery) - 1])) for k in ks}
  return recalls, ids
