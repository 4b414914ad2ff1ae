"""No silent wrong results: each misuse of issue 20 is used correctly or refused in one line.

One section per numbered case. Each test runs what `jvrl.main` runs (the same
function, in process, where the check is pure; `python -m jvrl.main` where the
exit status, the one-line stderr or a signal is the point) and asserts the
outcome: the data used, the warning with its count, or the one-line error.
"""
import json
import logging
import os
import shutil
import signal
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
from conftest import TINY_CVRL_OVERRIDES, make_tiny_cvrl_config

from jvrl import config_validation
from jvrl import errors
from jvrl.data import data_checks
from jvrl.data import pipeline
from jvrl.data import records
from jvrl.data import sources
from jvrl.data.prepare import prepare
from jvrl.evaluation import evaluate
from jvrl.evaluation import finetune
from jvrl.objectives import supervised
from jvrl.train import preemption
from jvrl.train import trainer
from jvrl.train import workdir as workdir_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_FLAGS = [f"--config.{path}={value}" for path, value in TINY_CVRL_OVERRIDES.items()]


def _videos(count, prefix, *, frames=16, size=32, labels=None):
  """`count` tiny random videos; labels i % 5 unless given (-1 = unlabelled)."""
  rng = np.random.default_rng(len(prefix) * 100 + count)
  labels = [i % 5 for i in range(count)] if labels is None else labels
  return [records.make_sequence_example(
      jpeg_frames=records.encode_jpeg_frames(
          rng.integers(0, 256, (frames, size, size, 3), np.uint8)),
      label=label, filename=f"{prefix}_{i}.mp4") for i, label in enumerate(labels)]


@pytest.fixture(scope="module")
def recs(tmp_path_factory):
  """Tiny record files for every case: name -> glob."""
  root = tmp_path_factory.mktemp("records")
  sets = {
      "train": (_videos(32, "train"), 2),
      "eval_train": (_videos(20, "et"), 1),
      "eval_test": (_videos(10, "es"), 1),
      "unlabelled": (_videos(5, "nl", labels=[-1] * 5), 1),
      "other_classes": (_videos(5, "oc", labels=[5, 6, 7, 8, 9]), 1),
      "some_other_classes": (_videos(6, "sc", labels=[0, 1, 2, 3, 7, 8]), 1),
      "mixed_lengths": (_videos(6, "ml") + _videos(2, "ms", frames=4), 1),
      "small_frames": (_videos(4, "sm", size=8), 1),
  }
  globs = {}
  for name, (examples, shards) in sets.items():
    records.write_sharded_records(examples, str(root), shards, name)
    globs[name] = str(root / f"{name}-*.tfrecord")
  copy = root / "copy"  # the eval_test videos again, in another file
  copy.mkdir()
  shutil.copy(records.shard_path(str(root), "eval_test", 0, 1), copy / "eval_test.tfrecord")
  globs["eval_test_copy"] = str(copy / "eval_test.tfrecord")
  (root / "zero.tfrecord").write_bytes(b"")
  globs["zero_bytes"] = str(root / "zero.tfrecord")
  (root / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a record")
  globs["not_records"] = str(root / "video.mp4")
  (root / "a_directory").mkdir()
  globs["directory"] = str(root / "a_directory")
  return globs


def _records_config(config, recs, *, train="train", eval_train="eval_train",
                    eval_test="eval_test"):
  config.data.source = "records"
  config.data.train_files = recs[train]
  config.data.eval_train_files = recs[eval_train]
  config.data.eval_test_files = recs[eval_test]
  return config


@pytest.fixture(scope="module")
def trained(synthetic_cache_dir, tmp_path_factory):
  """A finished tiny CVRL run (4 steps, checkpoints at 2 and 4): (config, workdir)."""
  config = make_tiny_cvrl_config(synthetic_cache_dir)
  workdir = str(tmp_path_factory.mktemp("trained"))
  trainer.train(config, workdir)
  return config, workdir


def _main(workdir, cache_dir, *flags, popen=False):
  """`python -m jvrl.main` on the tiny CVRL config (this checkout's code)."""
  env = dict(os.environ, JVRL_CACHE_DIR=cache_dir, PYTHONPATH=REPO)
  command = [sys.executable, "-m", "jvrl.main", "--config=configs/cvrl_synthetic.py",
             f"--workdir={workdir}", *TINY_FLAGS, *flags]
  if popen:
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
  return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                        timeout=600)


def _one_line_error(result, *needles):
  """Status 2, one `jvrl:` line with `needles`, no traceback and no library noise."""
  assert result.returncode == 2, result.stderr[-3000:]
  lines = [l for l in result.stderr.splitlines() if l.startswith("jvrl:")]
  assert len(lines) == 1, result.stderr[-3000:]
  for needle in needles:
    assert needle in lines[0], lines[0]
  for noise in ("Traceback", "Event loop is closed", "cannot schedule new futures"):
    assert noise not in result.stderr, result.stderr[-3000:]
  return lines[0]


# ---- 1. Files are never ignored; the start-up log names the data -------------------


def test_1_record_files_with_a_built_in_source_are_refused(tiny_cvrl_config, recs):
  tiny_cvrl_config.data.train_files = recs["train"]
  with pytest.raises(config_validation.ConfigError,
                     match=r"config.data.train_files=.* is set, but config.data.source="
                           r"'synthetic' .* add --config.data.source=records"):
    config_validation.validate_config(tiny_cvrl_config, mode="train")


def test_1_the_start_up_lines_name_the_data_used(tiny_cvrl_config, recs,
                                                 synthetic_cache_dir):
  built_in = sources.prepare_data_source(tiny_cvrl_config.data)
  assert "built-in synthetic dataset (32 train, 20 eval_train, 10 eval_test" in built_in
  assert synthetic_cache_dir in built_in
  config = _records_config(tiny_cvrl_config, recs)
  line = sources.prepare_data_source(config.data)
  assert "train: 2 file(s) matching" in line and recs["eval_test"] in line
  report = data_checks.check_data(config, "train_and_eval")
  assert report.summary == (
      "data checks: train: 32 videos in 2 file(s), 5 classes, 16-16 frames; eval_train: 20 "
      "videos in 1 file(s), 5 classes, 16-16 frames; eval_test: 10 videos in 1 file(s), 5 "
      "classes, 16-16 frames")
  assert report.warnings == []


def test_1_a_prepare_videos_manifest_is_read_instead_of_the_records(tiny_cvrl_config, recs,
                                                                      tmp_path):
  """Records written by data/prepare_videos.py: their manifest.json gives the metadata."""
  for split in ("eval_train", "eval_test"):
    shutil.copy(recs[split].replace("*", "00000-of-00001"), tmp_path)
  videos = [{"shard": f"{split}-00000-of-00001.tfrecord", "file": f"{split}/{i}.mp4",
             "label_index": i % 3, "frames": 40, "height": 48, "width": 64}
            for split, count in (("eval_train", 6), ("eval_test", 3)) for i in range(count)]
  (tmp_path / data_checks.MANIFEST_FILE).write_text(json.dumps({"videos": videos}))
  config = _records_config(tiny_cvrl_config, recs)
  config.data.eval_train_files = str(tmp_path / "eval_train-*.tfrecord")
  config.data.eval_test_files = str(tmp_path / "eval_test-*.tfrecord")
  report = data_checks.check_data(config, "eval")
  assert report.summary == (
      f"data checks: eval_train: 6 videos in 1 file(s), 3 classes, 40-40 frames; eval_test: 3 "
      f"videos in 1 file(s), 3 classes, 40-40 frames (metadata from "
      f"{tmp_path / data_checks.MANIFEST_FILE})")


# ---- 2. eval_test overlapping eval_train ------------------------------------------------


def test_2_overlapping_eval_splits_are_refused_unless_allowed(tiny_cvrl_config, recs):
  config = _records_config(tiny_cvrl_config, recs, eval_test="eval_train")
  with pytest.raises(data_checks.DataCheckError, match=r"eval_test shares 1 file\(s\) .* "
                                                       r"config.eval.allow_split_overlap=True"):
    data_checks.check_data(config, "eval")
  config = _records_config(tiny_cvrl_config, recs, eval_train="eval_test",
                           eval_test="eval_test_copy")  # other file, same videos
  with pytest.raises(data_checks.DataCheckError, match=r"eval_test shares 10 video\(s\) "
                                                       r"\(e.g. 'es_0.mp4'\)"):
    data_checks.check_data(config, "eval")
  config.eval.allow_split_overlap = True
  report = data_checks.check_data(config, "eval")
  assert any("shares 10 video(s)" in w and "evaluation runs" in w for w in report.warnings)


# ---- 3. Label sets: test classes absent from eval_train, labels beyond num_classes ----


def test_3_eval_test_classes_absent_from_eval_train(tiny_cvrl_config, recs):
  config = _records_config(tiny_cvrl_config, recs, eval_test="other_classes")
  with pytest.raises(data_checks.DataCheckError,
                     match=r"none of the 5 eval_test classes occurs in eval_train"):
    data_checks.check_data(config, "eval")
  config = _records_config(tiny_cvrl_config, recs, eval_test="some_other_classes")
  report = data_checks.check_data(config, "eval")
  assert report.warnings == [
      "2 of 6 eval_test classes (2 of 6 test videos) never occur in eval_train: those videos "
      "count as errors in every metric (classes [7, 8]...)."]


def test_3_the_evaluation_checks_the_labels_its_features_came_with():
  """What a TFDS source (not read at start-up) gets at evaluation start."""
  x = np.eye(4, dtype=np.float32)
  eval_config = ml_collections.ConfigDict(dict(
      linear_probe=dict(steps=5, learning_rate=0.1, weight_decay=0.0),
      knn=dict(k=1, temperature=0.07), retrieval_ks=(1,)))
  with pytest.raises(data_checks.DataCheckError, match=r"2 of 4 eval_test videos have no class"):
    evaluate.metrics_from_features(x, np.array([0, 1, 0, 1]), x, np.array([0, 1, -1, -1]),
                                   eval_config)
  with pytest.raises(data_checks.DataCheckError, match=r"none of the 2 eval_test classes"):
    evaluate.metrics_from_features(x, np.array([0, 1, 0, 1]), x, np.array([2, 3, 2, 3]),
                                   eval_config)


def test_3_labels_beyond_num_classes_are_refused(tiny_cvrl_config, recs):
  config = _records_config(tiny_cvrl_config, recs)
  config.eval.finetune.steps = 4
  config.eval.finetune.num_classes = 3
  with pytest.raises(data_checks.DataCheckError,
                     match=r"eval_train has labels up to 4 but "
                           r"config.eval.finetune.num_classes=3: set it to at least 5"):
    data_checks.check_data(config, "eval")
  # Also where the start-up check only sampled the videos: inside the input pipeline.
  config.objective = "supervised"
  config.supervised = dict(num_classes=3, augmentation="crop", resize_short_side=16,
                           flip_prob=0.0)
  dataset = pipeline.make_train_dataset(
      config, supervised.make_supervised_preprocess(config), 8, host_fields=True)
  with pytest.raises(pipeline.InvalidInputError,
                     match=r"a video has a label >= config.supervised.num_classes=3"):
    for _ in pipeline.host_batches(dataset):
      pass


# ---- 4. The checkpoint's config is the truth -------------------------------------------


@pytest.mark.parametrize("path, value, named", [
    ("model.width_multiplier", 0.125, "config.model.width_multiplier=0.125 (checkpoint: "
                                      "0.0625)"),
    ("model.input_transform", "rgb", "config.model.input_transform='rgb' (checkpoint: "
                                     "'frame_difference')"),
    ("model_name", "r3d_18", "config.model_name='r3d_18' (checkpoint: 'r3d_prp')"),
])
def test_4_evaluating_with_another_model_is_refused(trained, path, value, named):
  config, workdir = trained
  config = ml_collections.ConfigDict(config.to_dict())
  *parents, leaf = path.split(".")
  node = config
  for parent in parents:
    node = node[parent]
  node[leaf] = value
  for check in (lambda: trainer.check_checkpoint_fits(config, workdir, "eval"),
                lambda: trainer.restore_latest_state(config, workdir)):
    with pytest.raises(trainer.checkpoint_config.CheckpointMismatchError) as error:
      check()
    assert named in str(error.value) and "\n" not in str(error.value)


def test_4_a_refused_resume_writes_nothing_and_eval_needs_no_training_files(trained, recs):
  config, workdir = trained
  with open(os.path.join(workdir, trainer.CONFIG_FILE)) as f:
    written = f.read()
  changed = ml_collections.ConfigDict(config.to_dict())
  changed.optimizer.learning_rate = 0.01
  with pytest.raises(trainer.checkpoint_config.CheckpointMismatchError,
                     match=r"config.optimizer.learning_rate=0.01 \(checkpoint: 0.002\)"):
    trainer.train(changed, workdir)
  with open(os.path.join(workdir, trainer.CONFIG_FILE)) as f:
    assert f.read() == written
  # Evaluating other data: the checkpoint restores without any training file.
  other_data = _records_config(ml_collections.ConfigDict(config.to_dict()), recs)
  other_data.data.train_files = ""
  _, step = trainer.restore_encoder_variables(other_data, workdir)
  assert step == 4


def test_4_main_refuses_another_model_in_one_line_and_rewrites_nothing(trained,
                                                                       synthetic_cache_dir):
  _, workdir = trained
  before = sorted(os.listdir(workdir)), os.path.getmtime(os.path.join(workdir, "config.json"))
  result = _main(workdir, synthetic_cache_dir, "--mode=eval",
                 "--config.model.width_multiplier=0.125")
  _one_line_error(result, "--mode=eval: the checkpoint of step 4",
                  "config.model.width_multiplier=0.125 (checkpoint: 0.0625)")
  assert (sorted(os.listdir(workdir)),
          os.path.getmtime(os.path.join(workdir, "config.json"))) == before


# ---- 5. Counts: clip span, batch vs dataset, k vs gallery, steps vs checkpoint -----------


def test_5_clips_longer_than_videos_and_batches_larger_than_the_split(tiny_cvrl_config, recs):
  config = _records_config(tiny_cvrl_config, recs, train="mixed_lengths")
  config.data.clip_length, config.data.frame_stride = 4, 2  # span 8: the 4-frame videos wrap
  assert data_checks.check_data(config, "train").warnings == [
      "2 of 8 train videos are shorter than a clip's span (config.data.clip_length=4 x "
      "config.data.frame_stride=2 = 8 frames): their clips wrap around (frames repeat from "
      "the start)."]
  config.train.batch_size = 16
  assert "config.train.batch_size=16 is larger than the 8 train videos: every batch repeats " \
         "at least 8 of them" in data_checks.check_data(config, "train").warnings[-1]
  config.data.frame_stride = 8  # span 32 > every video
  with pytest.raises(data_checks.DataCheckError, match=r"every one of the 8 train videos is "
                                                       r"shorter than a clip's span"):
    data_checks.check_data(config, "train")
  # A sample of the split says what it found, and counts the videos for the batch.
  config.data.frame_stride = 2
  config.train.batch_size = 16
  report = data_checks.check_data(config, "train", max_train_videos=4)
  assert report.summary.startswith("data checks: train: the first 4 videos in 1 file(s)")
  assert report.warnings[-1].startswith("config.train.batch_size=16 is larger than the 8 "
                                        "train videos")


def test_5_recall_at_k_and_knn_k_beyond_the_gallery(caplog):
  rng = np.random.default_rng(0)
  train_x, test_x = rng.normal(size=(6, 4)), rng.normal(size=(4, 4))
  eval_config = ml_collections.ConfigDict(dict(
      linear_probe=dict(steps=5, learning_rate=0.1, weight_decay=0.0),
      knn=dict(k=20, temperature=0.07), retrieval_ks=(1, 5, 6, 50)))
  with caplog.at_level(logging.WARNING):
    results = evaluate.metrics_from_features(
        train_x, np.array([0, 1, 0, 1, 0, 1]), test_x, np.array([0, 1, 0, 1]), eval_config)
  assert sorted(k for k in results if k.startswith("retrieval")) == [
      "retrieval_recall@1", "retrieval_recall@5"]
  assert ("retrieval_recall@6, retrieval_recall@50 not reported: the eval_train gallery holds "
          "only 6 videos") in caplog.text
  assert "config.eval.knn.k=20 covers all 6 eval_train videos" in caplog.text


def test_5_fewer_steps_than_the_checkpoint_are_refused(trained):
  config, workdir = trained
  config = ml_collections.ConfigDict(config.to_dict())
  config.train.num_steps = 2
  with pytest.raises(trainer.checkpoint_config.CheckpointMismatchError,
                     match=r"config.train.num_steps=2 is below step 4 .* --mode=eval"):
    trainer.check_checkpoint_fits(config, workdir, "train")


# ---- 6. One job per workdir ----------------------------------------------------------------


def test_6_a_second_job_is_refused_and_a_dead_jobs_lock_taken_over(tmp_path, caplog):
  workdir = str(tmp_path)
  with workdir_lib.WorkdirLock(workdir):
    with pytest.raises(workdir_lib.WorkdirError,
                       match=rf"in use by another jvrl run \(host .*, PID {os.getpid()}, since"):
      workdir_lib.WorkdirLock(workdir).acquire()
  assert not os.path.exists(os.path.join(workdir, workdir_lib.LOCK_FILE))  # released
  gone = subprocess.Popen(["true"])
  gone.wait()
  lock_path = os.path.join(workdir, workdir_lib.LOCK_FILE)
  with open(lock_path, "w") as f:  # left by a killed run of this host
    json.dump({"host": workdir_lib.socket.gethostname(), "pid": gone.pid, "token": "old"}, f)
  with caplog.at_level(logging.WARNING), workdir_lib.WorkdirLock(workdir):
    assert f"PID {gone.pid}" in caplog.text and "Took over the lock" in caplog.text
  with open(lock_path, "w") as f:  # another host: cannot be checked from here
    json.dump({"host": "elsewhere", "pid": 1, "token": "x"}, f)
  with pytest.raises(workdir_lib.WorkdirError, match=r"host elsewhere, PID 1.*delete the lock "
                                                     r"file only once"):
    workdir_lib.WorkdirLock(workdir).acquire()


def test_6_main_refuses_a_workdir_in_use(tmp_path, synthetic_cache_dir):
  workdir = str(tmp_path / "busy")
  os.makedirs(workdir)
  with workdir_lib.WorkdirLock(workdir):  # a running job of this host: this test process
    result = _main(workdir, synthetic_cache_dir, "--mode=train")
  _one_line_error(result, f"--workdir={workdir} is in use by another jvrl run",
                  f"PID {os.getpid()}")
  assert os.listdir(workdir) == []  # nothing written beside the (released) lock


# ---- 7. SIGTERM anywhere: status 0, one line, what was kept ----------------------------


def test_7_sigterm_during_finetuning_stops_with_its_checkpoint(synthetic_cache_dir, tmp_path,
                                                               monkeypatch):
  config = make_tiny_cvrl_config(synthetic_cache_dir)
  config.eval.finetune.steps = 6
  config.eval.finetune.batch_size = 8
  config.eval.finetune.resize_short_side = 16
  config.eval.finetune.optimizer = dict(learning_rate=0.001, warmup_steps=1)
  encoder = trainer.build_objective(config).model.encoder
  variables = evaluate.random_init_variables(config, encoder)
  log_progress = trainer._log_progress  # pylint: disable=protected-access

  def signal_at_first_log(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)  # arrives inside the fine-tuning loop
    return log_progress(*args, **kwargs)

  monkeypatch.setattr(trainer, "_log_progress", signal_at_first_log)
  with preemption.PreemptionWatcher(), pytest.raises(trainer.Preempted) as stopped:
    finetune.run_finetuning(config, str(tmp_path), variables, init_name="step_4")
  assert isinstance(stopped.value, preemption.StopRequested)  # jvrl.main: status 0
  assert "SIGTERM: stopped after step 2" in str(stopped.value)
  assert workdir_lib.checkpoint_steps(
      str(tmp_path / finetune.FINETUNE_SUBDIR / "step_4" / "checkpoints")) == [2]


def test_7_sigterm_during_the_frozen_evaluation_exits_0_in_one_line(trained,
                                                                    synthetic_cache_dir):
  _, workdir = trained
  shutil.rmtree(os.path.join(workdir, "eval"), ignore_errors=True)
  process = _main(workdir, synthetic_cache_dir, "--mode=eval", popen=True)
  lines = []
  for line in process.stderr:
    lines.append(line)
    if "Data checks:" in line:  # restoring and compiling take seconds after this line
      process.send_signal(signal.SIGTERM)
      break
  _, rest = process.communicate(timeout=300)
  stderr = "".join(lines) + rest
  assert process.returncode == 0, stderr[-3000:]
  assert "SIGTERM: stopped during feature extraction" in stderr
  assert "rerun the same command to resume" in stderr and "Traceback" not in stderr
  assert not os.path.exists(os.path.join(workdir, "eval", "results.json"))
  assert not os.path.exists(os.path.join(workdir, workdir_lib.LOCK_FILE))


# ---- 8. Errors that are one line (status 2) naming the setting or file ---------------------


def test_8_record_files_that_hold_no_videos(tiny_cvrl_config, recs):
  config = _records_config(tiny_cvrl_config, recs, train="directory")
  with pytest.raises(config_validation.ConfigError, match=r"matches the directory .* check "
                                                          r"config.data.train_files"):
    config_validation.validate_config(config, mode="train")
  config = _records_config(tiny_cvrl_config, recs, eval_test="zero_bytes")
  with pytest.raises(data_checks.DataCheckError, match=r"config.data.eval_test_files=.*: its 1 "
                                                       r"file\(s\) hold no video record \(1 are "
                                                       r"zero-byte"):
    data_checks.check_data(config, "eval")
  config = _records_config(tiny_cvrl_config, recs, train="not_records")
  with pytest.raises(data_checks.DataCheckError, match=r"cannot read .*video.mp4 \(split "
                                                       r"'train'\) as video records"):
    data_checks.check_data(config, "train")


def test_8_eval_records_without_labels(tiny_cvrl_config, recs):
  config = _records_config(tiny_cvrl_config, recs, eval_test="unlabelled")
  with pytest.raises(data_checks.DataCheckError,
                     match=r"5 of 5 eval_test videos have no class label \(clip/label/index; "
                           r"first in .*unlabelled-00000-of-00001.tfrecord\)"):
    data_checks.check_data(config, "eval")
  # Training alone does not need labels.
  config = _records_config(tiny_cvrl_config, recs, train="unlabelled")
  config.train.batch_size = 8
  assert "5 train videos" in data_checks.check_data(config, "train").warnings[0]


def test_8_crop_larger_than_the_records_frames(tiny_cvrl_config, recs):
  config = _records_config(tiny_cvrl_config, recs, train="small_frames")
  with pytest.raises(data_checks.DataCheckError,
                     match=r"config.data.crop_size=16 is larger than the frames of every train "
                           r"video \(largest shorter side: 8 pixels\)"):
    data_checks.check_data(config, "train")


@pytest.mark.parametrize("path, value, match", [
    ("optimizer.name", "adam", r"Unknown config.optimizer.name='adam'"),
    ("optimizer.schedule", "cosin", r"Unknown config.optimizer.schedule='cosin'"),
    ("optimizer.learning_rate", -1.0, r"config.optimizer.learning_rate must be >= 0"),
    ("optimizer.learning_rate", "1e-3", r"config.optimizer.learning_rate='1e-3' must be a "
                                        r"number"),
    ("optimizer.momentum", 1.5, r"config.optimizer.momentum must be in \[0, 1\)"),
    ("cvrl.temperature", -0.1, r"config.cvrl.temperature=-0.1 must be a number > 0"),
    ("eval.knn.temperature", 0.0, r"config.eval.knn.temperature=0.0 must be a number > 0"),
    ("eval.knn.k", 0, r"config.eval.knn.k=0 must be an integer >= 1"),
    ("eval.retrieval_ks", (0, 5), r"config.eval.retrieval_ks=\(0, 5\) must be"),
    ("eval.linear_probe.learning_rate", 0.0, r"config.eval.linear_probe.learning_rate=0.0"),
    ("eval.feature_pooling", "mean", r"config.eval.feature_pooling='mean' must be one of"),
])
def test_8_invalid_settings_are_one_line_config_errors(tiny_cvrl_config, path, value, match):
  *parents, leaf = path.split(".")
  node = tiny_cvrl_config
  for parent in parents:
    node = node[parent]
  del node[leaf]
  node[leaf] = value
  with pytest.raises(config_validation.ConfigError, match=match) as error:
    config_validation.validate_config(tiny_cvrl_config)
  assert "\n" not in str(error.value)


def test_8_a_workdir_that_is_a_file_or_cannot_be_created(tmp_path):
  path = tmp_path / "a_file"
  path.write_text("")
  with pytest.raises(workdir_lib.WorkdirError, match=r"is a file, not a directory"):
    workdir_lib.check_workdir(str(path), "train")
  with pytest.raises(workdir_lib.WorkdirError, match=r"cannot create --workdir=.*a_file/run"):
    workdir_lib.check_workdir(str(path / "run"), "train")
  assert isinstance(workdir_lib.WorkdirError("x"), errors.UserError)  # jvrl.main: status 2


def test_8_eval_on_an_empty_workdir_is_one_line_and_creates_nothing(tmp_path,
                                                                    synthetic_cache_dir):
  workdir = str(tmp_path / "never_trained")
  result = _main(workdir, synthetic_cache_dir, "--mode=eval")
  _one_line_error(result, f"--mode=eval found no checkpoint in {workdir}/checkpoints")
  assert not os.path.exists(workdir)


def test_8_prepare_videos_suggests_no_evaluation_for_unlabelled_records():
  def summary(test_unlabelled):
    splits = {split: {"pattern": f"/out/{split}-*-of-*.tfrecord", "num_shards": 1,
                      "videos": 4, "frames": 64, "unlabelled": unlabelled}
              for split, unlabelled in (("train", 0), ("test", test_unlabelled))}
    return prepare.PrepareSummary(
        output_dir="/out", listed=8, written=8, failed=0, warnings=0, failure_reasons={},
        warning_reasons={}, splits=splits, num_labels=2, shards_total=2, shards_resumed=0,
        frames_this_run=128, seconds_this_run=1.0)

  labelled = summary(0).format()
  assert "--config.data.eval_test_files='/out/test-*-of-*.tfrecord'" in labelled
  assert "--mode=train" not in labelled
  unlabelled = summary(4).format()
  assert "eval_test_files" not in unlabelled and "eval_train_files" not in unlabelled
  assert "--mode=train" in unlabelled
  assert "(training only: 4 of the 4 'test' videos have no class label" in unlabelled
