"""Weighted k-nearest-neighbour classification on frozen features.

The InstDisc / DINO protocol: each test feature takes its k most
cosine-similar train features; neighbour j votes for its class with weight
exp(sim_j / temperature); the class with the largest summed weight wins.
Neighbour search is `jvrl.evaluation.retrieval.cosine_top_k` (chunked, never
the full N_test x N_train matrix).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np

from jvrl.evaluation import retrieval


@functools.partial(jax.jit, static_argnames=("num_classes", "chunk_size"))
def _weighted_vote(
    similarities: jax.Array, neighbour_labels: jax.Array, temperature: jax.Array, *,
    num_classes: int, chunk_size: int,
) -> jax.Array:
  """Argmax over classes of summed exp(sim / temperature) weights, per row.

  similarities [N, k] sorted descending, neighbour_labels int [N, k] ->
  int32 [N]. Weights are computed as exp((sim - max sim) / temperature): the
  common factor exp(-max sim / temperature) does not change the argmax and
  keeps small temperatures from overflowing float32. Equal class scores go to
  the lowest class index.
  """

  def vote(row: tuple[jax.Array, jax.Array]) -> jax.Array:
    sims, labels = row
    weights = jnp.exp((sims - sims[0]) / temperature)
    scores = jnp.zeros((num_classes,), jnp.float32).at[labels].add(weights)
    return jnp.argmax(scores).astype(jnp.int32)

  return jax.lax.map(vote, (similarities, neighbour_labels), batch_size=chunk_size)


def knn_predict(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    chunk_size: int = 1024,
) -> np.ndarray:
  """Predicts test classes by a similarity-weighted vote of k nearest train items.

  Args:
    train_features: float [N_train, D], any scale (L2-normalised inside).
    train_labels: int [N_train] in [0, num_classes).
    test_features: float [N_test, D].
    num_classes: number of classes C >= 1.
    k: neighbours per test item, >= 1; clamped to N_train when larger (all
      train items then vote).
    temperature: > 0; neighbour weight is exp(cosine similarity / temperature)
      (DINO / InstDisc: 0.07).
    chunk_size: rows per similarity block, see `retrieval.cosine_top_k`.

  Returns:
    int32 [N_test] predicted classes in [0, C). Neighbours with equal
    similarity are taken in train-index order; equal class scores go to the
    lowest class index.
  """
  train_features = retrieval.check_features(train_features, "train_features")
  test_features = retrieval.check_features(test_features, "test_features")
  num_classes = retrieval.check_positive_int(num_classes, "num_classes")
  train_labels = retrieval.check_labels(
      train_labels, "train_labels", train_features.shape[0], num_classes)
  if not np.isfinite(temperature) or temperature <= 0:
    raise ValueError(f"temperature must be finite and > 0, got {temperature}.")
  chunk_size = retrieval.check_positive_int(chunk_size, "chunk_size")
  similarities, indices = retrieval.cosine_top_k(test_features, train_features, k, chunk_size)
  predictions = _weighted_vote(
      jnp.asarray(similarities), jnp.asarray(train_labels[indices]),
      jnp.float32(temperature), num_classes=num_classes, chunk_size=chunk_size)
  return np.asarray(predictions)


def knn_top1(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    num_classes: int,
    k: int = 20,
    temperature: float = 0.07,
    chunk_size: int = 1024,
) -> float:
  """Top-1 accuracy in [0, 1] of `knn_predict` on (test_x [N_test, D], test_y [N_test]).

  Test labels are used only to score the predictions; they must be in
  [0, num_classes). Other arguments as in `knn_predict`.
  """
  test_x = retrieval.check_features(test_x, "test_x")
  num_classes = retrieval.check_positive_int(num_classes, "num_classes")
  test_y = retrieval.check_labels(test_y, "test_y", test_x.shape[0], num_classes)
  predictions = knn_predict(train_x, train_y, test_x, num_classes, k, temperature, chunk_size)
  return float(np.mean(predictions == test_y))
