"""Tests for jvrl.evaluation.knn: weighted kNN prediction and top-1 accuracy."""
import numpy as np
import pytest

from jvrl.evaluation import knn


def _slow_knn_predict(train_x, train_y, test_x, num_classes, k, temperature):
  """Explicit-loop reference (float64): top-k cosine, exp(sim/T) votes, argmax."""
  predictions = []
  for query in test_x.astype(np.float64):
    sims = [query @ item / (np.linalg.norm(query) * np.linalg.norm(item))
            for item in train_x.astype(np.float64)]
    ranked = sorted(range(len(train_x)), key=lambda i: (-sims[i], i))[:k]
    scores = np.zeros(num_classes)
    for i in ranked:
      scores[train_y[i]] += np.exp(sims[i] / temperature)
    predictions.append(int(np.argmax(scores)))
  return np.array(predictions)


def _random_problem(seed, num_train=40, num_test=25, dim=5, num_classes=4):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(num_train, dim)).astype(np.float32),
          rng.integers(0, num_classes, num_train),
          rng.normal(size=(num_test, dim)).astype(np.float32),
          rng.integers(0, num_classes, num_test))


@pytest.mark.parametrize("k, temperature", [(1, 0.07), (5, 0.07), (12, 0.5), (100, 1.0)])
def test_knn_predict_matches_slow_reference(k, temperature):
  train_x, train_y, test_x, _ = _random_problem(0)
  got = knn.knn_predict(train_x, train_y, test_x, num_classes=4, k=k, temperature=temperature)
  expected = _slow_knn_predict(train_x, train_y, test_x, 4, k, temperature)
  np.testing.assert_array_equal(got, expected)
  assert got.shape == (25,) and got.dtype == np.int32


def test_knn_weights_matter():
  # The nearest neighbour (class 0) outweighs two farther ones (class 1) at a low
  # temperature but not at a high one.
  train_x = np.array([[1.0, 0.0], [0.6, 0.8], [0.6, -0.8]], np.float32)
  train_y = np.array([0, 1, 1])
  test_x = np.array([[1.0, 0.0]], np.float32)
  assert knn.knn_predict(train_x, train_y, test_x, 2, k=3, temperature=0.07)[0] == 0
  assert knn.knn_predict(train_x, train_y, test_x, 2, k=3, temperature=10.0)[0] == 1


def test_knn_tiny_temperature_does_not_overflow_and_is_one_nn():
  train_x, train_y, test_x, _ = _random_problem(1)
  got = knn.knn_predict(train_x, train_y, test_x, 4, k=20, temperature=1e-4)
  one_nn = _slow_knn_predict(train_x, train_y, test_x, 4, 1, 1.0)
  np.testing.assert_array_equal(got, one_nn)


@pytest.mark.parametrize("chunk_size", [1, 4])
def test_knn_chunked_equals_unchunked(chunk_size):
  train_x, train_y, test_x, _ = _random_problem(2, num_train=37, num_test=21)
  unchunked = knn.knn_predict(train_x, train_y, test_x, 4, k=7, chunk_size=1024)
  chunked = knn.knn_predict(train_x, train_y, test_x, 4, k=7, chunk_size=chunk_size)
  np.testing.assert_array_equal(chunked, unchunked)


def test_knn_top1_separable_toy_problem_is_perfect():
  rng = np.random.default_rng(3)
  centres = np.eye(3, 6, dtype=np.float32) * 5.0
  train_y, test_y = rng.integers(0, 3, 60), rng.integers(0, 3, 30)
  train_x = centres[train_y] + rng.normal(scale=0.3, size=(60, 6)).astype(np.float32)
  test_x = centres[test_y] + rng.normal(scale=0.3, size=(30, 6)).astype(np.float32)
  assert knn.knn_top1(train_x, train_y, test_x, test_y, num_classes=3) == 1.0


def test_knn_top1_is_accuracy_of_predictions():
  train_x, train_y, test_x, test_y = _random_problem(4)
  predictions = knn.knn_predict(train_x, train_y, test_x, 4, k=5)
  accuracy = knn.knn_top1(train_x, train_y, test_x, test_y, 4, k=5)
  assert accuracy == pytest.approx(np.mean(predictions == test_y))
  assert 0.0 <= accuracy <= 1.0


def test_knn_validates_inputs():
  train_x, train_y, test_x, test_y = _random_problem(5, num_train=6, num_test=3)
  with pytest.raises(ValueError, match="train_labels"):
    knn.knn_predict(train_x, train_y[:5], test_x, 4)
  with pytest.raises(ValueError, match=r"train_labels must be in \[0, 2\)"):
    knn.knn_predict(train_x, train_y, test_x, 2)
  with pytest.raises(ValueError, match="feature size"):
    knn.knn_predict(train_x, train_y, test_x[:, :2], 4)
  with pytest.raises(ValueError, match="test_features"):
    knn.knn_predict(train_x, train_y, test_x[0], 4)
  with pytest.raises(ValueError, match="k must"):
    knn.knn_predict(train_x, train_y, test_x, 4, k=0)
  with pytest.raises(ValueError, match="temperature"):
    knn.knn_predict(train_x, train_y, test_x, 4, temperature=0.0)
  with pytest.raises(ValueError, match="num_classes"):
    knn.knn_predict(train_x, train_y, test_x, 0)
  with pytest.raises(ValueError, match="test_y"):
    knn.knn_top1(train_x, train_y, test_x, test_y + 4, 4)
