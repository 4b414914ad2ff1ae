"""Tests for jvrl.evaluation.retrieval: l2_normalize, cosine_top_k, recall@k."""
import numpy as np
import pytest

from jvrl.evaluation import retrieval


def _slow_recall_at_k(query_x, query_y, gallery_x, gallery_y, ks):
  """Explicit-loop reference: cosine ranking (stable by index), any-hit in top k."""
  recalls = {}
  for k in ks:
    hits = 0
    for qi in range(len(query_x)):
      sims = []
      for gi in range(len(gallery_x)):
        q, g = query_x[qi].astype(np.float64), gallery_x[gi].astype(np.float64)
        sims.append(q @ g / (np.linalg.norm(q) * np.linalg.norm(g)))
      ranked = sorted(range(len(gallery_x)), key=lambda gi: (-sims[gi], gi))
      hits += any(gallery_y[gi] == query_y[qi] for gi in ranked[:k])
    recalls[f"recall@{k}"] = hits / len(query_x)
  return recalls


def _random_split(seed, num_query=23, num_gallery=41, dim=6, num_classes=4):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(num_query, dim)).astype(np.float32),
          rng.integers(0, num_classes, num_query),
          rng.normal(size=(num_gallery, dim)).astype(np.float32),
          rng.integers(0, num_classes, num_gallery))


def test_l2_normalize_gives_unit_rows_and_keeps_zero_rows():
  x = np.array([[3.0, 4.0], [0.0, 0.0], [-1e-3, 0.0]], np.float32)
  out = retrieval.l2_normalize(x)
  np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]], rtol=1e-6)
  assert out.dtype == np.float32
  ints = retrieval.l2_normalize(np.array([[0, 2]]))
  assert ints.dtype == np.float32 and np.allclose(ints, [[0.0, 1.0]])
  batched = retrieval.l2_normalize(np.ones((2, 3, 4)))
  np.testing.assert_allclose(np.linalg.norm(batched, axis=-1), 1.0)
  with pytest.raises(ValueError, match="eps"):
    retrieval.l2_normalize(x, eps=0.0)


@pytest.mark.parametrize("chunk_size", [1, 7, 1024])
def test_cosine_top_k_matches_numpy_argsort(chunk_size):
  query_x, _, gallery_x, _ = _random_split(0)
  sims, ids = retrieval.cosine_top_k(query_x, gallery_x, k=9, chunk_size=chunk_size)
  full = retrieval.l2_normalize(query_x) @ retrieval.l2_normalize(gallery_x).T
  expected_ids = np.argsort(-full, axis=1, kind="stable")[:, :9]
  np.testing.assert_array_equal(ids, expected_ids)
  np.testing.assert_allclose(sims, np.take_along_axis(full, expected_ids, 1), atol=1e-6)
  assert sims.dtype == np.float32 and ids.dtype == np.int32


def test_cosine_top_k_clamps_k_and_breaks_ties_by_lower_index():
  gallery = np.repeat(np.eye(3, dtype=np.float32), 4, axis=0)  # 12 items, 3 groups of 4 equal
  sims, ids = retrieval.cosine_top_k(np.ones((2, 3), np.float32), gallery, k=100, chunk_size=5)
  assert sims.shape == ids.shape == (2, 12)
  np.testing.assert_array_equal(ids, np.tile(np.arange(12), (2, 1)))
  np.testing.assert_allclose(sims, 1 / np.sqrt(3), rtol=1e-6)


def test_recall_matches_slow_reference_on_random_data():
  query_x, query_y, gallery_x, gallery_y = _random_split(1)
  ks = (1, 2, 5, 10, 50)  # 50 > gallery size (41): clamped
  got = retrieval.retrieval_recall_at_k(query_x, query_y, gallery_x, gallery_y, ks=ks)
  expected = _slow_recall_at_k(query_x, query_y, gallery_x, gallery_y, ks)
  assert list(got) == [f"recall@{k}" for k in ks]
  for key in expected:
    assert got[key] == pytest.approx(expected[key])
  values = list(got.values())
  assert values == sorted(values) and 0.0 <= values[0] and values[-1] <= 1.0


@pytest.mark.parametrize("chunk_size", [1, 16])
def test_recall_chunked_equals_unchunked(chunk_size):
  query_x, query_y, gallery_x, gallery_y = _random_split(2, num_query=30, num_gallery=37)
  unchunked = retrieval.retrieval_recall_at_k(
      query_x, query_y, gallery_x, gallery_y, chunk_size=1024)
  chunked = retrieval.retrieval_recall_at_k(
      query_x, query_y, gallery_x, gallery_y, chunk_size=chunk_size)
  assert chunked == unchunked


def test_recall_hand_made_known_answers():
  # Gallery on the unit circle at 0, 90, 180 degrees with classes 0, 1, 2.
  gallery_x = np.array([[1, 0], [0, 1], [-1, 0]], np.float32)
  gallery_y = np.array([0, 1, 2])
  # Query near 0 deg of class 1: nearest are 0 deg (class 0), then 90 deg (class 1).
  # Query near 180 deg of class 2: nearest is 180 deg (class 2).
  # Query near 0 deg of class 7 (absent from the gallery): never hits.
  query_x = np.array([[1, 0.1], [-1, 0.1], [2, 0.1]], np.float32)
  query_y = np.array([1, 2, 7])
  got = retrieval.retrieval_recall_at_k(query_x, query_y, gallery_x, gallery_y, ks=(1, 2, 3, 20))
  assert got == {"recall@1": pytest.approx(1 / 3), "recall@2": pytest.approx(2 / 3),
                 "recall@3": pytest.approx(2 / 3), "recall@20": pytest.approx(2 / 3)}


def test_recall_ties_are_stable_whatever_the_chunking():
  # Gallery items 0 and 1 are identical; item 0 (lower index) has the wrong class.
  gallery_x = np.array([[1, 0], [1, 0], [0, 1]], np.float32)
  gallery_y = np.array([5, 3, 3])
  query_x, query_y = np.array([[1, 0]], np.float32), np.array([3])
  for chunk_size in (1, 2, 1024):
    got = retrieval.retrieval_recall_at_k(
        query_x, query_y, gallery_x, gallery_y, ks=(1, 2), chunk_size=chunk_size)
    assert got == {"recall@1": 0.0, "recall@2": 1.0}


def test_recall_validates_inputs():
  query_x, query_y, gallery_x, gallery_y = _random_split(3, num_query=4, num_gallery=5)
  with pytest.raises(ValueError, match="query_labels"):
    retrieval.retrieval_recall_at_k(query_x, query_y[:3], gallery_x, gallery_y)
  with pytest.raises(ValueError, match="gallery_features"):
    retrieval.retrieval_recall_at_k(query_x, query_y, gallery_x[0], gallery_y)
  with pytest.raises(ValueError, match="feature size"):
    retrieval.retrieval_recall_at_k(query_x, query_y, gallery_x[:, :3], gallery_y)
  with pytest.raises(ValueError, match="gallery_labels"):
    retrieval.retrieval_recall_at_k(query_x, query_y, gallery_x, gallery_y.astype(float))
  with pytest.raises(ValueError, match="ks"):
    retrieval.retrieval_recall_at_k(query_x, query_y, gallery_x, gallery_y, ks=(1, 0))
  with pytest.raises(ValueError, match="ks"):
    retrieval.retrieval_recall_at_k(query_x, query_y, gallery_x, gallery_y, ks=())
  with pytest.raises(ValueError, match="chunk_size"):
    retrieval.retrieval_recall_at_k(query_x, query_y, gallery_x, gallery_y, chunk_size=0)
  with pytest.raises(ValueError, match="query_features"):
    retrieval.retrieval_recall_at_k(query_x[:0], query_y[:0], gallery_x, gallery_y)
  bad = query_x.copy()
  bad[0, 0] = np.nan
  with pytest.raises(ValueError, match="NaN"):
    retrieval.retrieval_recall_at_k(bad, query_y, gallery_x, gallery_y)
