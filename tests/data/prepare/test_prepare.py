"""End-to-end tests of jvrl.data.prepare.prepare on real video files.

A folder of two classes holds good videos of several containers/codecs (with
and without audio, one too short) and broken files; the records, manifest,
report and labels are checked against what the files are, then read back by
the training source and the CVRL pipeline, then an interrupted run is resumed.
"""
import collections
import glob
import json
import os
import shutil

import numpy as np
import pytest

from jvrl.data import records
from jvrl.data import sources
from jvrl.data.prepare import decode_video
from jvrl.data.prepare import inputs
from jvrl.data.prepare import listing as listing_lib
from jvrl.data.prepare import prepare
from jvrl.data.prepare import shards
from jvrl.data.prepare import video_record
from jvrl.data.tf_setup import tf
from tests.data.prepare import video_files

OPTIONS = video_record.RecordOptions(
    decode=decode_video.DecodeOptions(short_side=16, audio_rate=8000), jpeg_quality=90,
    min_frames=16)
# Class of each sample file in the input folder.
CLASSES = {"h264_aac.mp4": "ball", "mjpeg_pcm.avi": "ball", "vp9.webm": "ball",
           "short.mkv": "ball", "empty.mp4": "ball", "mpeg4.mp4": "car", "mpeg4.avi": "car",
           "vp8_opus.webm": "car", "h264_pcm.mkv": "car", "random.avi": "car",
           "truncated.mkv": "car", "truncated.mp4": "car", "audio_only.mp4": "car"}
FAILURES = {"empty.mp4": "empty_file", "random.avi": "undecodable",
            "truncated.mkv": "truncated", "truncated.mp4": "undecodable",
            "audio_only.mp4": "no_video_stream"}


@pytest.fixture(scope="module")
def sample_videos(tmp_path_factory):
  return video_files.make_sample_videos(tmp_path_factory.mktemp("sample_videos"))


@pytest.fixture(scope="module")
def video_folder(sample_videos, tmp_path_factory):
  root = tmp_path_factory.mktemp("videos")
  for name, info in sample_videos.items():
    os.makedirs(root / CLASSES[name], exist_ok=True)
    shutil.copy(info["path"], root / CLASSES[name] / name)
  (root / "notes.txt").write_text("not a video")
  return str(root)


def _prepare(folder, out, **kwargs):
  kwargs = {"options": OPTIONS, "num_shards": 3, "workers": 1, "show_progress": False,
            **kwargs}
  return prepare.prepare_videos(listing_lib.list_videos(folder), str(out), **kwargs)


@pytest.fixture(scope="module")
def prepared(video_folder, tmp_path_factory):
  out = tmp_path_factory.mktemp("out")
  return _prepare(video_folder, out), str(out)


def _json(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _read_records(pattern):
  """filename -> (parsed example, shard file name) of every record matched by `pattern`."""
  out = collections.defaultdict(list)
  for path in sorted(glob.glob(pattern)):
    dataset = tf.data.TFRecordDataset(path).map(records.parse_sequence_example)
    for example in dataset.as_numpy_iterator():
      out[example["filename"].decode()].append((example, os.path.basename(path)))
  return out


def _good(sample_videos):
  return {n: v for n, v in sample_videos.items() if "frames" in v}


def test_records_hold_every_good_video_with_its_frames_label_and_audio(sample_videos,
                                                                       prepared):
  summary, out = prepared
  good = _good(sample_videos)
  labels = open(os.path.join(out, "labels.txt")).read().split()
  assert labels == ["ball", "car"]
  found = _read_records(os.path.join(out, "train-*-of-00003.tfrecord"))
  assert sorted(found) == sorted(f"{CLASSES[n]}/{n}" for n in good)
  for name, info in good.items():
    [(example, _)] = found[f"{CLASSES[name]}/{name}"]  # Exactly once.
    assert example["num_frames"] == info["frames"]
    assert example["label"] == labels.index(CLASSES[name])
    assert example["label_text"].decode() == CLASSES[name]
    expected_samples = round(info["frames"] / video_files.FPS * 8000) if info["audio"] else 0
    assert example["waveform"].shape == (expected_samples,)
    frames = [tf.io.decode_jpeg(f).numpy() for f in example["frames"]]
    assert frames[0].shape == (16, 21, 3)
    assert [video_files.frame_index(f) for f in frames] == list(range(info["frames"]))
  assert summary.written == len(good)
  assert summary.failed == sum(n in FAILURES for n in sample_videos)
  assert summary.listed == summary.written + summary.failed


def test_manifest_describes_every_written_video(sample_videos, prepared):
  summary, out = prepared
  manifest = _json(os.path.join(out, prepare.MANIFEST_FILE))
  good = _good(sample_videos)
  by_file = {v["file"]: v for v in manifest["videos"]}
  assert len(by_file) == len(manifest["videos"]) == len(good)
  found = _read_records(os.path.join(out, "train-*.tfrecord"))
  for name, info in good.items():
    entry = by_file[f"{CLASSES[name]}/{name}"]
    assert entry["frames"] == info["frames"] and entry["fps"] == video_files.FPS
    assert entry["seconds"] == pytest.approx(info["frames"] / video_files.FPS)
    assert entry["has_audio"] == info["audio"] and entry["label"] == CLASSES[name]
    assert entry["shard"] == found[entry["file"]][0][1]
    assert (entry["height"], entry["width"]) == (16, 21)
  assert manifest["labels"] == ["ball", "car"]
  assert manifest["splits"]["train"]["num_shards"] == 3
  assert manifest["splits"]["train"]["videos"] == summary.written
  assert manifest["splits"]["train"]["pattern"] == os.path.join(out, "train-*-of-*.tfrecord")


def test_report_lists_every_failure_and_warning_with_its_reason(sample_videos, prepared):
  summary, out = prepared
  report = _json(os.path.join(out, prepare.REPORT_FILE))
  failed = {os.path.basename(p["file"]): p["reason"] for p in report["failed"]}
  assert {n: r.split(":")[0] for n, r in failed.items()} == {
      n: r for n, r in FAILURES.items() if n in sample_videos}
  warnings = collections.defaultdict(list)
  for p in report["warnings"]:
    warnings[os.path.basename(p["file"])].append(p["reason"])
  good = _good(sample_videos)
  expected = {n: ["no_audio"] for n, v in good.items() if not v["audio"]}
  expected["short.mkv"] = ["no_audio", "too_short: 10 frames (1.00 s) < 16"]
  expected["notes.txt"] = ["not_a_video"]
  assert dict(warnings) == expected
  counts = report["counts"]
  assert counts["listed"] == counts["written"] + counts["failed"] == summary.listed
  assert counts["failure_reasons"] == dict(collections.Counter(
      r for n, r in FAILURES.items() if n in sample_videos))
  assert summary.warning_reasons == counts["warning_reasons"]
  text = summary.format()
  assert f"{summary.failed} failed" in text and "--config.data.train_files=" in text


def test_records_feed_the_training_source_and_cvrl_pipeline(sample_videos, prepared):
  _, out = prepared
  pattern = os.path.join(out, "train-*.tfrecord")
  data_config = {"source": "records", "train_files": pattern}
  examples = list(sources.make_example_dataset(data_config, "train", shuffle_files=False,
                                               seed=0).as_numpy_iterator())
  manifest = _json(os.path.join(out, prepare.MANIFEST_FILE))
  assert sorted((e["filename"].decode(), int(e["num_frames"]), int(e["label"]))
                for e in examples) == sorted(
                    (v["file"], v["frames"], v["label_index"]) for v in manifest["videos"])

  from configs import cvrl_synthetic  # pylint: disable=g-import-not-at-top
  from jvrl.data import pipeline  # pylint: disable=g-import-not-at-top
  from jvrl.objectives import cvrl  # pylint: disable=g-import-not-at-top
  config = cvrl_synthetic.get_config()
  config.data.source, config.data.train_files = "records", pattern
  config.data.clip_length, config.data.crop_size, config.data.shuffle_buffer = 8, 16, 4
  batch = next(pipeline.make_train_dataset(config, cvrl.make_cvrl_preprocess(config),
                                           4).as_numpy_iterator())
  assert batch["view1"].shape == batch["view2"].shape == (4, 8, 16, 16, 3)


def _shard_bytes(out):
  paths = sorted(glob.glob(os.path.join(out, "*.tfrecord")))
  return {os.path.basename(p): open(p, "rb").read() for p in paths}


class _Interrupt(Exception):
  pass


def test_resume_after_interruptions_loses_and_duplicates_nothing(video_folder, prepared,
                                                                 tmp_path, monkeypatch):
  reference_summary, reference_out = prepared
  out = tmp_path / "out"

  def stop_after_first_shard(spec):
    raise _Interrupt(spec.name)

  with pytest.raises(_Interrupt):  # 1: stopped between shards.
    _prepare(video_folder, out, on_shard_complete=stop_after_first_shard)
  assert len(glob.glob(str(out / "*.tfrecord"))) == 1
  assert not os.path.exists(out / prepare.MANIFEST_FILE)

  calls = []
  real = video_record.make_video_record

  def crash_on_third_video(*args, **kwargs):
    calls.append(args[0].file)
    if len(calls) == 3:
      raise KeyboardInterrupt
    return real(*args, **kwargs)

  monkeypatch.setattr(video_record, "make_video_record", crash_on_third_video)
  with pytest.raises(KeyboardInterrupt):  # 2: stopped in the middle of a shard.
    _prepare(video_folder, out)
  monkeypatch.setattr(video_record, "make_video_record", real)
  assert not glob.glob(str(out / shards.PARTS_DIR / "*.incomplete"))  # Cleaned up.

  # 3: as if killed hard: a half-written part and a shard without its sidecar.
  (out / shards.PARTS_DIR / "train-00002-of-00003.tfrecord.incomplete").write_bytes(b"\0" * 9)
  (out / "train-00002-of-00003.tfrecord").write_bytes(b"partial")

  summary = _prepare(video_folder, out)
  assert summary.shards_resumed >= 1
  assert summary.written == reference_summary.written
  found = _read_records(str(out / "train-*.tfrecord"))
  assert all(len(copies) == 1 for copies in found.values())
  assert _shard_bytes(str(out)) == _shard_bytes(reference_out)  # Same as one clean run.
  manifest = _json(out / prepare.MANIFEST_FILE)
  assert manifest == _json(os.path.join(reference_out, prepare.MANIFEST_FILE)) | {
      "splits": manifest["splits"]}
  files = [v["file"] for v in manifest["videos"]]
  assert len(files) == len(set(files)) == reference_summary.written
  assert (_json(out / prepare.REPORT_FILE)
          == _json(os.path.join(reference_out, prepare.REPORT_FILE)))
  assert not glob.glob(str(out / shards.PARTS_DIR / "*.incomplete"))

  again = _prepare(video_folder, out)  # A finished OUT: nothing to redo.
  assert again.shards_resumed == again.shards_total and again.frames_this_run == 0


def test_other_options_or_foreign_output_dir_are_refused(video_folder, prepared, tmp_path):
  _, out = prepared
  other = video_record.RecordOptions(decode=decode_video.DecodeOptions(short_side=32))
  with pytest.raises(ValueError, match="record_options"):
    _prepare(video_folder, out, options=other)
  with pytest.raises(ValueError, match="num_shards"):
    _prepare(video_folder, out, num_shards=2)
  foreign = tmp_path / "foreign"
  foreign.mkdir()
  (foreign / "train-00000-of-00001.tfrecord").write_bytes(b"")
  with pytest.raises(ValueError, match="not made by this tool"):
    _prepare(video_folder, foreign)


def test_parallel_workers_write_the_same_records(video_folder, prepared, tmp_path):
  _, reference_out = prepared
  summary = _prepare(video_folder, tmp_path / "out", workers=2)
  assert _shard_bytes(str(tmp_path / "out")) == _shard_bytes(reference_out)
  assert summary.frames_this_run == sum(
      v["frames"] for v in _json(os.path.join(reference_out, "manifest.json"))["videos"])


def test_csv_splits_share_labels_and_keep_clips_captions_and_problems(sample_videos, tmp_path):
  good = _good(sample_videos)
  if "h264_pcm.mkv" not in good:
    pytest.skip("libx264 or pcm_s16le not available")
  names = sorted(good)
  root = os.path.dirname(good[names[0]]["path"])
  rows = ["path,label,caption,start,end,split",
          f"{names[0]},zebra,,,,train", f"{names[1]},ant,,,,train",
          f"{names[2]},moose,,,,train",
          f"{names[3]},zebra,a zebra runs,,,test",
          f"{names[3]},zebra,a zebra runs,,,test",  # Repeated row: written once.
          "h264_pcm.mkv,moose,,1.0,2.5,test",
          "not_there.mp4,yak,,,,test"]
  csv_path = tmp_path / "videos.csv"
  csv_path.write_text("\n".join(rows) + "\n")
  listing = listing_lib.list_videos(str(csv_path), video_root=root)
  out = str(tmp_path / "out")
  summary = prepare.prepare_videos(listing, out, options=OPTIONS, workers=1,
                                   show_progress=False)
  labels = ["ant", "moose", "yak", "zebra"]  # 'yak' only names a missing file.
  assert open(os.path.join(out, "labels.txt")).read().split() == labels
  assert summary.splits["train"]["num_shards"] == summary.splits["test"]["num_shards"] == 1
  train = _read_records(os.path.join(out, "train-*.tfrecord"))
  test = _read_records(os.path.join(out, "test-*.tfrecord"))
  assert train[names[0]][0][0]["label"] == test[names[3]][0][0]["label"] == 3
  assert test[names[3]][0][0]["captions"].tolist() == [b"a zebra runs"]
  assert len(test[names[3]]) == 1
  clip = test["h264_pcm.mkv"][0][0]
  assert clip["num_frames"] == 15 and clip["label"] == 1
  assert clip["waveform"].shape == (12000,)
  report = _json(os.path.join(out, "report.json"))
  assert [(p["file"], p["split"], p["reason"]) for p in report["failed"]] == [
      ("not_there.mp4", "test", "missing_file")]
  assert ("duplicate_entry" in [p["reason"] for p in report["warnings"]])
  manifest = {(v["split"], v["file"]): v for v in _json(os.path.join(out, "manifest.json"))[
      "videos"]}
  assert (manifest[("test", "h264_pcm.mkv")]["start"],
          manifest[("test", "h264_pcm.mkv")]["end"]) == (1.0, 2.5)
  assert summary.listed == 6 and summary.written == 5 and summary.failed == 1
  assert "--config.data.eval_test_files=" in summary.train_command()
  np.testing.assert_array_equal(sorted(summary.splits), ["test", "train"])
