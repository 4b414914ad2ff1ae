"""Zero-shot retrieval: ranks with several correct items and ties, recall@k, median rank."""
import numpy as np
import pytest

from jvrl.evaluation import zero_shot


def test_ranks_use_the_best_correct_item_and_count_ties_against_the_query():
  similarity = np.array([[0.9, 0.1, 0.5, 0.3],
                         [0.2, 0.2, 0.2, 0.2],    # all tied
                         [0.1, 0.8, 0.7, 0.9]])
  positives = np.array([[True, False, False, False],
                        [False, True, False, False],
                        [False, False, True, True]])   # two correct items
  np.testing.assert_array_equal(zero_shot.ranks_of_positives(similarity, positives), [1, 4, 1])
  with pytest.raises(ValueError, match="at least one"):
    zero_shot.ranks_of_positives(similarity, np.zeros_like(positives))


def test_rank_metrics():
  metrics = zero_shot.rank_metrics(np.array([1, 2, 7, 30]), ks=(1, 5, 10), prefix="v2t_")
  assert metrics == {"v2t_recall@1": 0.25, "v2t_recall@5": 0.5, "v2t_recall@10": 0.75,
                     "v2t_median_rank": 4.5}


def test_video_text_retrieval_with_several_captions_per_video():
  video = np.eye(3)
  # Video 0 has captions 0 and 1, video 1 has caption 2, video 2 has none.
  text = np.array([[0.1, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
  owners = np.array([0, 0, 1])
  metrics = zero_shot.video_text_retrieval(video, text, owners)
  assert metrics["v2t_recall@1"] == 1.0 and metrics["v2t_median_rank"] == 1.0  # 2 queries
  # Caption 0 is closest to video 1 -> rank 2; captions 1 and 2 rank their video first.
  assert metrics["t2v_recall@1"] == pytest.approx(2 / 3)
  assert metrics["t2v_median_rank"] == 1.0


def test_collapsed_embeddings_score_at_chance_not_perfectly():
  same = np.ones((5, 4))
  metrics = zero_shot.paired_retrieval(same, same, ("v", "a"))
  assert metrics["v2a_recall@1"] == 0.0 and metrics["a2v_median_rank"] == 5.0


def test_paired_retrieval_names_both_directions():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(6, 4))
  metrics = zero_shot.paired_retrieval(x, x + 0.01 * rng.normal(size=x.shape), ("v", "a"))
  assert metrics["v2a_recall@1"] == 1.0 and metrics["a2v_recall@1"] == 1.0
  assert set(metrics) == {f"{d}_{m}" for d in ("v2a", "a2v")
                          for m in ("recall@1", "recall@5", "recall@10", "median_rank")}
