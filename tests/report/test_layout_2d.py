"""2-D layouts: seeded and deterministic, clusters stay apart, UMAP when installed."""
import sys
import types

import numpy as np

from jvrl.report import layout_2d


def _clusters(seed=0):
  rng = np.random.default_rng(seed)
  labels = np.repeat(np.arange(3), 12)
  return rng.normal(size=(3, 16))[labels] * 4 + rng.normal(size=(36, 16)) * 0.3, labels


def test_tsne_layout_is_deterministic_and_keeps_clusters_apart():
  features, labels = _clusters()
  points, method = layout_2d.layout_2d(features, seed=3, method="tsne")
  again, _ = layout_2d.layout_2d(features, seed=3, method="tsne")
  assert method == "t-SNE" and points.shape == (36, 2)
  np.testing.assert_array_equal(points, again)
  centres = np.stack([points[labels == c].mean(axis=0) for c in range(3)])
  spread = max(np.linalg.norm(points[labels == c] - centres[c], axis=1).max() for c in range(3))
  gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a + 1, 3)]
  assert min(gaps) > spread


def test_auto_uses_umap_when_installed(monkeypatch):
  calls = {}

  class FakeUMAP:
    def __init__(self, **kwargs):
      calls.update(kwargs)

    def fit_transform(self, x):
      return x[:, :2]

  monkeypatch.setitem(sys.modules, "umap", types.SimpleNamespace(UMAP=FakeUMAP))
  monkeypatch.setattr(layout_2d.importlib.util, "find_spec", lambda name: object())
  points, method = layout_2d.layout_2d(_clusters()[0], seed=5)
  assert method == "umap" and points.shape == (36, 2) and calls["random_state"] == 5


def test_few_points_and_subsampling():
  points, method = layout_2d.layout_2d(np.eye(3), method="tsne")
  assert method == "pca" and points.shape == (3, 2)
  assert list(layout_2d.subsample(5, 10, 0)) == [0, 1, 2, 3, 4]
  picked = layout_2d.subsample(100, 10, 0)
  assert len(picked) == 10 and np.all(np.diff(picked) > 0)
  np.testing.assert_array_equal(picked, layout_2d.subsample(100, 10, 0))
