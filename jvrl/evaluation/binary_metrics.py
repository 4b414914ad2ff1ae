"""Threshold-free and class-balanced scores of a classifier's outputs.

`roc_auc` is the area under the ROC curve computed from ranks (the
Mann-Whitney U statistic): the probability that a random positive scores
higher than a random negative, a tie counting one half. `balanced_accuracy`
is the mean over the classes present in the labels of each class's recall, so
a classifier that always answers the majority class scores 1 / (number of
classes), however unbalanced the split.
"""
import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
  """1-based ranks of float [N] `values` in increasing order; ties share their mean rank."""
  values = np.asarray(values).reshape(-1)
  order = np.argsort(values, kind="stable")
  _, first, counts = np.unique(values[order], return_index=True, return_counts=True)
  ranks = np.empty(values.shape[0], np.float64)
  ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
  return ranks


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
  """Area under the ROC curve of `scores` for binary `labels`.

  Args:
    scores: float [N], higher meaning more likely positive; finite.
    labels: bool or {0, 1} [N], positive = True / 1.

  Returns:
    AUC in [0, 1] (ties between a positive and a negative count 1/2); NaN
    when the labels hold only one class.
  """
  scores = np.asarray(scores, np.float64).reshape(-1)
  labels = np.asarray(labels).reshape(-1)
  if labels.shape != scores.shape:
    raise ValueError(f"labels must be [{scores.shape[0]}], got shape {labels.shape}.")
  if not np.all(np.isfinite(scores)):
    raise ValueError("scores must be finite.")
  if not np.all((labels == 0) | (labels == 1)):
    raise ValueError("labels must be binary (bool, 0 or 1).")
  positive = labels.astype(bool)
  num_positive, num_negative = int(positive.sum()), int((~positive).sum())
  if num_positive == 0 or num_negative == 0:
    return float("nan")
  rank_sum = average_ranks(scores)[positive].sum()
  return float((rank_sum - num_positive * (num_positive + 1) / 2.0)
               / (num_positive * num_negative))


def balanced_accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
  """Mean over the classes present in `labels` of the recall of that class.

  Args:
    predictions: int or bool [N] predicted classes.
    labels: int or bool [N] true classes.

  Returns:
    Balanced accuracy in [0, 1]; NaN when N = 0.
  """
  predictions = np.asarray(predictions).reshape(-1)
  labels = np.asarray(labels).reshape(-1)
  if labels.shape != predictions.shape:
    raise ValueError(f"labels must be [{predictions.shape[0]}], got shape {labels.shape}.")
  if labels.size == 0:
    return float("nan")
  classes, class_index, class_counts = np.unique(labels, return_inverse=True, return_counts=True)
  correct = np.bincount(class_index, weights=predictions == labels, minlength=classes.size)
  return float(np.mean(correct / class_counts))
