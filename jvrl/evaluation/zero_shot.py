"""Zero-shot cross-modal retrieval metrics: recall@k and median rank (REFERENCE §2).

Queries of one modality rank the items of another by cosine similarity in a
shared embedding space; no training on the evaluation data. Several gallery
items may be correct for one query (a video and its several captions): a
query's rank is the 1-based rank of its best-ranked correct item, and ties
count against the query (every wrong item scoring at least as high as the
best correct one ranks above it), so a collapsed embedding scores at chance,
never perfectly. recall@k = fraction of queries with rank <= k; the median
rank is reported as well (lower is better).

Similarities are computed as one [Q, G] matrix on the host (NumPy), which is
fine for evaluation sets of a few thousand items (YouCook2, MSR-VTT 1k-A).
"""
from typing import Sequence

import numpy as np

from jvrl.evaluation import retrieval

DEFAULT_KS = (1, 5, 10)


def ranks_of_positives(similarity: np.ndarray, positives: np.ndarray) -> np.ndarray:
  """Rank of each query's best correct item (1 = first), ties counted against it.

  Args:
    similarity: float [Q, G], higher = more similar.
    positives: bool [Q, G], True where the gallery item is correct for the
      query; every query needs at least one.

  Returns:
    int64 [Q]: 1 + the number of wrong items whose similarity is >= the best
    correct item's.
  """
  similarity = np.asarray(similarity, np.float64)
  positives = np.asarray(positives, bool)
  if similarity.ndim != 2 or similarity.shape != positives.shape:
    raise ValueError(f"similarity and positives must be [Q, G] of equal shape, got "
                     f"{similarity.shape} and {positives.shape}.")
  if not np.all(positives.any(axis=1)):
    raise ValueError("every query needs at least one correct gallery item.")
  best = np.where(positives, similarity, -np.inf).max(axis=1)
  return 1 + np.sum(~positives & (similarity >= best[:, None]), axis=1)


def rank_metrics(ranks: np.ndarray, ks: Sequence[int] = DEFAULT_KS,
                 prefix: str = "") -> dict[str, float]:
  """{prefix + 'recall@k': fraction of ranks <= k, ..., prefix + 'median_rank': median}."""
  ranks = np.asarray(ranks)
  if ranks.ndim != 1 or ranks.size == 0:
    raise ValueError(f"ranks must be a non-empty [Q] array, got shape {ranks.shape}.")
  metrics = {f"{prefix}recall@{k}": float(np.mean(ranks <= k)) for k in ks}
  metrics[f"{prefix}median_rank"] = float(np.median(ranks))
  return metrics


def _cosine(queries: np.ndarray, gallery: np.ndarray) -> np.ndarray:
  queries = retrieval.check_features(queries, "queries")
  gallery = retrieval.check_features(gallery, "gallery")
  if queries.shape[1] != gallery.shape[1]:
    raise ValueError(f"queries and gallery must have the same size, got {queries.shape[1]} "
                     f"and {gallery.shape[1]}.")
  return retrieval.l2_normalize(queries) @ retrieval.l2_normalize(gallery).T


def video_text_retrieval(video: np.ndarray, text: np.ndarray, text_owner: np.ndarray,
                         ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
  """Zero-shot video->text and text->video retrieval.

  Args:
    video: float [N, D] video embeddings (video-text space).
    text: float [M, D] caption embeddings, every caption of every video.
    text_owner: int [M], the index in `video` of each caption's video.
    ks: the recall@k cutoffs.

  Returns:
    'v2t_recall@k', 'v2t_median_rank' (a video query is correct at any of its
    captions; videos without a caption are skipped) and 't2v_recall@k',
    't2v_median_rank' (each caption queries the videos).
  """
  text_owner = np.asarray(text_owner)
  if text_owner.shape != (np.asarray(text).shape[0],):
    raise ValueError(f"text_owner must be [M] = [{np.asarray(text).shape[0]}], got "
                     f"{text_owner.shape}.")
  similarity = _cosine(video, text)  # [N, M]
  positives = text_owner[None, :] == np.arange(similarity.shape[0])[:, None]
  with_caption = positives.any(axis=1)
  metrics = rank_metrics(
      ranks_of_positives(similarity[with_caption], positives[with_caption]), ks, "v2t_")
  metrics.update(rank_metrics(ranks_of_positives(similarity.T, positives.T), ks, "t2v_"))
  return metrics


def paired_retrieval(first: np.ndarray, second: np.ndarray, names: tuple[str, str],
                     ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
  """Retrieval between two modalities of the same N items (row i matches row i).

  Returns '{a}2{b}_recall@k', '{a}2{b}_median_rank' and the reverse
  direction, with (a, b) = `names` (e.g. ('v', 'a') for video<->audio).
  """
  first, second = np.asarray(first), np.asarray(second)
  if first.shape[0] != second.shape[0]:
    raise ValueError(f"first and second must have the same rows, got {first.shape[0]} and "
                     f"{second.shape[0]}.")
  similarity = _cosine(first, second)
  positives = np.eye(first.shape[0], dtype=bool)
  a, b = names
  metrics = rank_metrics(ranks_of_positives(similarity, positives), ks, f"{a}2{b}_")
  metrics.update(rank_metrics(ranks_of_positives(similarity.T, positives), ks, f"{b}2{a}_"))
  return metrics
