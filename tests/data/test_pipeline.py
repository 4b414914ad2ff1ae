"""Evaluation pipeline: every video exactly once, padded full batches, views."""
import numpy as np

from jvrl.data import pipeline


def test_eval_dataset_keeps_every_video_and_pads(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.eval.num_clips, config.eval.num_crops = 2, 3
  batches = list(pipeline.make_eval_dataset(config, "eval_test", 4).as_numpy_iterator())
  num_videos = config.data.synthetic.eval_test_videos  # 10 -> batches of 4, 4, 2 + 2 padding
  assert len(batches) == 3
  masks = np.concatenate([b["mask"] for b in batches])
  assert masks.sum() == num_videos and masks.shape == (12,)
  assert not masks[-2:].any()
  t, s = config.data.clip_length, config.eval.crop_size
  for b in batches:
    assert b["video"].shape == (4, 6, t, s, s, 3) and b["video"].dtype == np.uint8
  labels = np.concatenate([b["label"] for b in batches])[masks]
  assert labels.min() >= 0


def test_pad_batch_pads_every_field():
  from jvrl.data.tf_setup import tf
  out = pipeline.pad_batch({"x": tf.ones([3, 2]), "m": tf.ones([3], tf.bool)}, 5)
  assert out["x"].shape == (5, 2) and out["x"].numpy()[3:].sum() == 0
  assert out["m"].numpy().tolist() == [True, True, True, False, False]


def test_records_source_reads_the_same_files_as_synthetic(tiny_cvrl_config):
  """Pointing config.data.* at record files (here the synthetic ones) just works."""
  from jvrl.data import sources
  config = tiny_cvrl_config
  globs = {split: ",".join(sources.list_split_files(config.data, split))
           for split in ("train", "eval_train", "eval_test")}
  synthetic = list(pipeline.make_eval_dataset(config, "eval_test", 4).as_numpy_iterator())
  config.data.source = "records"
  config.data.train_files = globs["train"]
  config.data.eval_train_files = globs["eval_train"]
  config.data.eval_test_files = globs["eval_test"]
  from_records = list(pipeline.make_eval_dataset(config, "eval_test", 4).as_numpy_iterator())
  assert len(from_records) == len(synthetic)
  for a, b in zip(from_records, synthetic):
    np.testing.assert_array_equal(a["video"], b["video"])
    np.testing.assert_array_equal(a["label"], b["label"])
