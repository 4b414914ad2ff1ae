"""2-D layouts of frozen features for the report's feature maps.

Features are L2-normalised first (the cosine geometry kNN and retrieval
use), then laid out by UMAP where the `umap` package is installed, else by
scikit-learn's t-SNE (PCA initialisation, one thread); both are seeded, so a
layout is fixed by the features and the seed. At most `max_points` rows are laid out
(`subsample` picks them, seeded).
"""
import importlib.util

import numpy as np

from jvrl.evaluation import retrieval

DEFAULT_MAX_POINTS = 1000  # t-SNE of 1000 points: a few seconds on one core
METHODS = ("auto", "tsne", "umap", "pca")


def subsample(num_rows: int, max_points: int, seed: int) -> np.ndarray:
  """Sorted row indices: all rows, or `max_points` of them drawn with `seed`."""
  if num_rows <= max_points:
    return np.arange(num_rows)
  return np.sort(np.random.default_rng(seed).choice(num_rows, max_points, replace=False))


def resolve_method(method: str = "auto") -> str:
  """'auto' -> 'umap' when the umap package is installed, else 'tsne'."""
  if method not in METHODS:
    raise ValueError(f"Unknown layout method {method!r}; known: {METHODS}.")
  if method == "auto":
    return "umap" if importlib.util.find_spec("umap") is not None else "tsne"
  return method


def _pca(features: np.ndarray) -> np.ndarray:
  centred = features - features.mean(axis=0)
  if centred.shape[0] < 2 or not np.any(centred):
    return np.zeros((features.shape[0], 2))
  _, _, components = np.linalg.svd(centred, full_matrices=False)
  points = centred @ components[:2].T
  return np.pad(points, ((0, 0), (0, 2 - points.shape[1])))


def layout_2d(features: np.ndarray, seed: int = 0, method: str = "auto") -> tuple[np.ndarray, str]:
  """float64 [N, 2] positions of the N feature rows, and the method used.

  Fewer than 5 rows (too few for t-SNE's perplexity or UMAP's neighbours) are
  laid out by PCA.
  """
  features = retrieval.l2_normalize(np.asarray(features, np.float64))
  method = resolve_method(method)
  if features.shape[0] < 5 or method == "pca":
    return _pca(features), "pca"
  if method == "umap":
    import umap  # pylint: disable=g-import-not-at-top
    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, features.shape[0] - 1),
                        random_state=seed)
    return np.asarray(reducer.fit_transform(features), np.float64), "umap"
  from sklearn.manifold import TSNE  # pylint: disable=g-import-not-at-top
  from threadpoolctl import threadpool_limits  # pylint: disable=g-import-not-at-top
  perplexity = min(30.0, (features.shape[0] - 1) / 3.0)
  tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
  # One thread: the same sums in the same order on every machine, and no OpenMP
  # spinning against other work on a busy host (10x slower on the 2-core box).
  with threadpool_limits(limits=1):
    return np.asarray(tsne.fit_transform(features), np.float64), "t-SNE"
