"""Evaluation pipeline: every video exactly once, padded full batches, views."""
import numpy as np
import pytest

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


def _records_config(tmp_path, on_corrupt_record):
  import ml_collections  # pylint: disable=g-import-not-at-top
  from test_sources import _write_damaged_records  # pylint: disable=g-import-not-at-top
  return ml_collections.ConfigDict(dict(seed=0, data=dict(
      source="records", train_files=_write_damaged_records(str(tmp_path)),
      on_corrupt_record=on_corrupt_record, shuffle_buffer=4, num_parallel_calls=-1)))


def _label_preprocess(example, seed):
  """No decoding; fails (like an undecodable frame) for label 21."""
  from jvrl.data.tf_setup import tf  # pylint: disable=g-import-not-at-top
  check = tf.debugging.assert_none_equal(example["label"], 21)
  with tf.control_dependencies([check]):
    return {"label": tf.identity(example["label"]), "seed": seed[1]}


def test_train_batches_report_skips_and_resume_exactly(tmp_path):
  config = _records_config(tmp_path, "skip")
  dataset = pipeline.make_train_dataset(config, _label_preprocess, 2, host_fields=True)
  first = list(zip(range(12), pipeline.host_batches(dataset)))
  assert all(set(batch) == {"label", "seed"} for _, (batch, _) in first)
  infos = [info for _, (_, info) in first]
  # Two epochs' worth: each pass skips 2 records (1 counted per pass: the
  # truncated tail of the last file to end is printed, not counted) and 1 example.
  assert sum(i.corrupt_records for i in infos) >= 2
  assert sum(i.failed_examples for i in infos) >= 1
  assert any("b_bad_record" in f for i in infos for f in i.corrupt_files)
  # Resuming from the position after batch 5 gives exactly batches 6...
  position = infos[5].next_example
  resumed = pipeline.host_batches(
      pipeline.make_train_dataset(config, _label_preprocess, 2, start_example=position,
                                  host_fields=True),
      position)
  for (_, (want, _)), (got, _) in zip(first[6:], resumed):
    np.testing.assert_array_equal(got["label"], want["label"])
    np.testing.assert_array_equal(got["seed"], want["seed"])


def test_corrupt_record_in_fail_mode_is_one_clear_error(tmp_path):
  config = _records_config(tmp_path, "fail")
  batches = pipeline.host_batches(
      pipeline.make_train_dataset(config, _label_preprocess, 2, host_fields=True))
  with pytest.raises(pipeline.CorruptRecordError,
                     match=r"^Corrupt or truncated record in \S+\.tfrecord \(record \d\); set "
                           r"config.data.on_corrupt_record='skip' to skip such records.$"):
    for _ in range(20):
      next(batches)


def test_mixture_resumes_exactly_and_counts_the_mixed_stream(tmp_path):
  """Positions count examples of the mixed stream; resuming from one replays the rest."""
  from test_sources import _mixture_config  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  config = ml_collections.ConfigDict(dict(seed=1, data=_mixture_config(tmp_path)))
  config.data.shuffle_buffer, config.data.num_parallel_calls = 4, -1
  dataset = pipeline.make_train_dataset(config, _label_preprocess, 4, host_fields=True)
  first = [batch for _, batch in zip(range(10), pipeline.host_batches(dataset))]
  labels = np.concatenate([batch["label"] for batch, _ in first])
  assert (labels >= 100).any() and (labels < 100).any()
  position = first[4][1].next_example
  assert position == 20  # 5 batches of 4 mixed examples
  resumed = pipeline.host_batches(pipeline.make_train_dataset(
      config, _label_preprocess, 4, start_example=position, host_fields=True), position)
  for (expected, _), (batch, info) in zip(first[5:], resumed):
    np.testing.assert_array_equal(batch["label"], expected["label"])
    np.testing.assert_array_equal(batch["seed"], expected["seed"])
