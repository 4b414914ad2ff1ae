"""VATT's whole-model evaluation: eval inputs, per-video embeddings, metrics."""
import ml_collections
import numpy as np

from jvrl.evaluation import multimodal
from jvrl.objectives import build_objective
from jvrl.objectives import vatt as vatt_objective
from jvrl.train import sharding


def test_eval_dataset_and_features(tiny_vatt_config):
  config = tiny_vatt_config
  objective = build_objective(config)
  tokenizer = vatt_objective.make_tokenizer(config)
  dataset = multimodal.make_multimodal_eval_dataset(config, "eval_test", 8, tokenizer)
  batch = next(dataset.as_numpy_iterator())
  views = config.eval.num_clips * config.eval.num_crops
  assert batch["video"].shape[:2] == (8, views)
  assert batch["audio"].shape == (8, views, vatt_objective.audio_window_samples(config))
  assert not np.array_equal(batch["audio"][0, 0], batch["audio"][0, 1])  # per-clip windows

  mesh = sharding.make_mesh({"data": -1})
  variables = multimodal.random_init_model_variables(config, objective.model, dataset)
  encode = multimodal.make_encode_fn(objective.model, mesh)
  features = multimodal.extract_multimodal_features(encode, variables, dataset, mesh)
  num_videos = config.data.synthetic.eval_test_videos  # padding rows dropped
  assert features["video_vt"].shape == (num_videos, config.vatt.vt_dim)
  assert features["text_vt"].shape == (num_videos, config.vatt.num_captions, config.vatt.vt_dim)
  assert features["label"].shape == (num_videos,)
  metrics = multimodal.multimodal_metrics(features, features, config.eval)
  for name in ("zero_shot_v2t_recall@1", "zero_shot_a2v_median_rank", "audio_knn_top1",
               "text_linear_probe_top1"):
    assert name in metrics, name


def test_metrics_reward_aligned_embeddings():
  rng = np.random.default_rng(0)
  n, k, d = 30, 2, 8
  video = rng.normal(size=(n, d))
  split = {"video_va": video, "video_vt": video,
           "audio_va": video + 0.01 * rng.normal(size=(n, d)),
           "text_vt": video[:, None] + 0.01 * rng.normal(size=(n, k, d)),
           "audio_pooled": video, "text_pooled": np.repeat(video[:, None], k, 1),
           "audio_mask": np.ones(n, bool), "caption_mask": np.ones((n, k), bool),
           "label": np.arange(n) % 3}
  metrics = multimodal.multimodal_metrics(split, split, _eval_config())
  assert metrics["zero_shot_v2t_recall@1"] == 1.0 and metrics["zero_shot_t2v_recall@1"] == 1.0
  assert metrics["zero_shot_v2a_median_rank"] == 1.0
  unlabelled = dict(split, label=np.full(n, -1))
  assert not any(name.startswith(("audio_", "text_"))
                 for name in multimodal.multimodal_metrics(unlabelled, unlabelled,
                                                           _eval_config()))


def _eval_config():
  return ml_collections.ConfigDict(dict(
      linear_probe=dict(steps=20, learning_rate=0.01, weight_decay=1e-4),
      knn=dict(k=3, temperature=0.07), retrieval_ks=(1, 5)))
