"""Tests for jvrl.evaluation.binary_metrics: rank-based ROC AUC and balanced accuracy."""
import numpy as np
import pytest

from jvrl.evaluation import binary_metrics


def _pairwise_auc(scores, labels):
  """Brute force: over all (positive, negative) pairs, 1 if the positive is higher, 1/2 if tied."""
  positives, negatives = scores[labels == 1], scores[labels == 0]
  wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
  return wins / (len(positives) * len(negatives))


@pytest.mark.parametrize("seed", range(5))
def test_auc_matches_pairwise_count(seed):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 2, 60)
  scores = rng.integers(0, 6, 60) / 5.0 + 0.3 * labels  # many ties, some signal
  assert binary_metrics.roc_auc(scores, labels) == pytest.approx(_pairwise_auc(scores, labels),
                                                                 abs=1e-12)


def test_auc_extremes_and_ties():
  labels = np.array([0, 0, 1, 1])
  assert binary_metrics.roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels) == 1.0
  assert binary_metrics.roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), labels) == 0.0
  assert binary_metrics.roc_auc(np.full(4, 0.5), labels) == 0.5
  assert binary_metrics.roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), labels.astype(bool)) == 1.0
  assert np.isnan(binary_metrics.roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_average_ranks():
  np.testing.assert_array_equal(binary_metrics.average_ranks(np.array([3.0, 1.0, 3.0, 2.0])),
                                [3.5, 1.0, 3.5, 2.0])


def test_balanced_accuracy():
  labels = np.array([1, 0, 0, 0, 0, 0, 0, 1])
  # Always "background": recall 1 on class 0, 0 on class 1.
  assert binary_metrics.balanced_accuracy(np.zeros(8, int), labels) == 0.5
  # One of two positives and five of six negatives: (1/2 + 5/6) / 2.
  predictions = np.array([1, 1, 0, 0, 0, 0, 0, 0])
  assert binary_metrics.balanced_accuracy(predictions, labels) == pytest.approx((0.5 + 5 / 6) / 2)
  # Only the classes present in the labels count.
  assert binary_metrics.balanced_accuracy(np.array([0, 1]), np.array([0, 0])) == 0.5
  assert np.isnan(binary_metrics.balanced_accuracy(np.zeros(0), np.zeros(0)))


def test_validates_inputs():
  with pytest.raises(ValueError, match="binary"):
    binary_metrics.roc_auc(np.zeros(3), np.array([0, 1, 2]))
  with pytest.raises(ValueError, match="labels must be"):
    binary_metrics.roc_auc(np.zeros(3), np.array([0, 1]))
  with pytest.raises(ValueError, match="finite"):
    binary_metrics.roc_auc(np.array([0.0, np.nan]), np.array([0, 1]))
  with pytest.raises(ValueError, match="labels must be"):
    binary_metrics.balanced_accuracy(np.zeros(3), np.zeros(2))
