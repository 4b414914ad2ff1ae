"""Evaluation orchestration: metrics from features, results table, feature pooling."""
import jax.numpy as jnp
import ml_collections
import numpy as np

from jvrl.evaluation import evaluate
from jvrl.evaluation import features


def test_metrics_from_features_separable_problem():
  rng = np.random.default_rng(0)
  centers = rng.normal(size=(4, 16)) * 5
  train_y, test_y = np.repeat(np.arange(4), 20), np.repeat(np.arange(4), 5)
  train_x = centers[train_y] + rng.normal(size=(80, 16))
  test_x = centers[test_y] + rng.normal(size=(20, 16))
  eval_config = ml_collections.ConfigDict(dict(
      linear_probe=dict(steps=100, learning_rate=0.01, weight_decay=1e-4),
      knn=dict(k=5, temperature=0.07), retrieval_ks=(1, 5)))
  results = evaluate.metrics_from_features(train_x, train_y, test_x, test_y, eval_config)
  assert set(results) == {"linear_probe_top1", "knn_top1", "retrieval_recall@1",
                          "retrieval_recall@5"}
  assert all(v == 1.0 for v in results.values())


def test_results_table_shows_gain_over_random_init():
  table = evaluate.format_results_table(
      {"linear_probe_top1": 0.8, "random_init_linear_probe_top1": 0.5, "step": 3})
  assert "linear_probe_top1" in table and "+0.3000" in table and "step" not in table


def test_pool_feature_map():
  fmap = jnp.arange(2 * 2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 2, 4, 4, 3)
  np.testing.assert_allclose(features.pool_feature_map(fmap, "avg"), fmap.mean(axis=(1, 2, 3)))
  pooled = features.pool_feature_map(fmap, "max_122")
  assert pooled.shape == (2, 2 * 2 * 2 * 3)
  np.testing.assert_allclose(pooled[0, :3], fmap[0, 0, :2, :2].max(axis=(0, 1)))
