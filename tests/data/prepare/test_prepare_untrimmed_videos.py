"""End-to-end preparation of untrimmed videos with temporal annotations (TSP inputs).

Tiny real videos (10 fps, frame i shows grey level 10 + 6 i) with an
ActivityNet-style JSON and a segments CSV are prepared in-process; the records
are read back with `records.parse_sequence_example` and checked: the whole
video, fps, segments in exact microseconds with their classes, and every bad
annotation by name in report.json. (THUMOS14 goes through the command line in
test_prepare_videos_cli.py.)
"""
import collections
import glob
import json
import os

import numpy as np
import pytest

from jvrl.data import records
from jvrl.data.prepare import decode_video
from jvrl.data.prepare import inputs
from jvrl.data.prepare import listing as listing_lib
from jvrl.data.prepare import prepare
from jvrl.data.prepare import video_record
from jvrl.data.tf_setup import tf
from tests.data.prepare import video_files

OPTIONS = video_record.RecordOptions(
    decode=decode_video.DecodeOptions(short_side=16, audio_rate=0), min_frames=16)
# name -> frames (10 fps); every video mpeg4 without audio.
VIDEOS = {"v_abc.mp4": 30, "def.mkv": 40, "v_tst.mp4": 20, "allbad.avi": 20}
ACTIVITYNET = {
    "version": "VERSION 1.3",
    "taxonomy": [
        {"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None},
        {"nodeId": 1, "nodeName": "Sports", "parentId": 0, "parentName": "Root"},
        {"nodeId": 2, "nodeName": "Zumba", "parentId": 1, "parentName": "Sports"},
        {"nodeId": 3, "nodeName": "Long jump", "parentId": 1, "parentName": "Sports"},
        {"nodeId": 4, "nodeName": "Archery", "parentId": 1, "parentName": "Sports"}],
    "database": {
        "abc": {"subset": "training", "duration": 3.0, "annotations": [
            {"segment": [0.5, 1.25], "label": "Long jump"},
            {"segment": [2.0, 3.5], "label": "Zumba"},        # Clipped to 3 s.
            {"segment": [3.0, 4.0], "label": "Zumba"},        # Starts at the end: dropped.
            {"segment": [1.0, 1.0], "label": "Long jump"},    # Zero length: dropped.
            {"segment": [0.2, 0.8], "label": "Kite flying"},  # Not in the taxonomy.
        ]},
        "def": {"subset": "validation", "duration": 6.0, "annotations": [  # Decodes to 4 s.
            {"segment": [1.0, 2.0], "label": "Zumba"}]},
        "allbad": {"subset": "validation", "duration": 2.0, "annotations": [
            {"segment": [5.0, 6.0], "label": "Zumba"}]},
        "tst": {"subset": "testing", "duration": 2.0, "annotations": []},
        "gone": {"subset": "training", "duration": 9.0, "annotations": [
            {"segment": [1.0, 2.0], "label": "Zumba"}]},
    },
}


@pytest.fixture(scope="module")
def video_root(tmp_path_factory):
  root = tmp_path_factory.mktemp("anet_videos")
  for name, frames in VIDEOS.items():
    container = {"mp4": "mp4", "mkv": "matroska", "avi": "avi"}[name.rsplit(".", 1)[1]]
    video_files.write_video(str(root / name), container, "mpeg4", num_frames=frames)
  return root


@pytest.fixture(scope="module")
def annotations(tmp_path_factory):
  path = tmp_path_factory.mktemp("anet") / "activity_net.v1-3.min.json"
  path.write_text(json.dumps(ACTIVITYNET))
  return str(path)


def _prepare(listing, out, **kwargs):
  return prepare.prepare_videos(listing, str(out), options=OPTIONS, workers=1,
                                show_progress=False, **kwargs)


@pytest.fixture(scope="module")
def prepared(video_root, annotations, tmp_path_factory):
  out = tmp_path_factory.mktemp("anet_out")
  listing = listing_lib.list_videos("", fmt="activitynet", annotations=annotations,
                               video_root=str(video_root))
  return _prepare(listing, out), str(out)


def _read_records(pattern):
  """filename -> parsed example (as numpy) of every record matched by `pattern`."""
  out = {}
  for path in sorted(glob.glob(pattern)):
    for example in tf.data.TFRecordDataset(path).map(
        records.parse_sequence_example).as_numpy_iterator():
      out[example["filename"].decode()] = example
  return out


def _segments(example):
  return list(zip(example["segment_start_us"].tolist(), example["segment_end_us"].tolist(),
                  example["segment_labels"].tolist(),
                  [t.decode() for t in example["segment_label_texts"]]))


def _json(path):
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def test_activitynet_records_keep_whole_videos_with_their_segments(prepared):
  summary, out = prepared
  assert open(os.path.join(out, "labels.txt")).read().split("\n") == [
      "Archery", "Long jump", "Zumba", ""]  # The taxonomy's leaves, sorted.
  train = _read_records(os.path.join(out, "train-*.tfrecord"))
  validation = _read_records(os.path.join(out, "validation-*.tfrecord"))
  assert sorted(train) == ["v_abc.mp4"] and sorted(validation) == ["allbad.avi", "def.mkv"]
  assert not glob.glob(os.path.join(out, "test-*"))  # 'testing': skipped.
  abc = train["v_abc.mp4"]
  assert _segments(abc) == [(500_000, 1_250_000, 1, "Long jump"),
                            (2_000_000, 3_000_000, 2, "Zumba")]
  assert abc["fps"] == 10.0 and abc["num_frames"] == 30 and abc["label"] == -1
  frames = [tf.io.decode_jpeg(f).numpy() for f in abc["frames"]]
  assert [video_files.frame_index(f) for f in frames] == list(range(30))  # Untrimmed.
  assert _segments(validation["def.mkv"]) == [(1_000_000, 2_000_000, 2, "Zumba")]
  assert validation["def.mkv"]["num_frames"] == 40
  assert _segments(validation["allbad.avi"]) == []  # Written, all background.
  assert validation["allbad.avi"]["num_frames"] == 20
  manifest = {v["file"]: v for v in _json(os.path.join(out, "manifest.json"))["videos"]}
  assert {f: (v["segments"], v["annotated_segments"]) for f, v in manifest.items()} == {
      "v_abc.mp4": (2, 5), "def.mkv": (1, 1), "allbad.avi": (0, 1)}
  assert (summary.listed, summary.written, summary.failed, summary.skipped) == (5, 3, 1, 1)


def test_activitynet_report_names_every_bad_annotation(prepared):
  _, out = prepared
  report = _json(os.path.join(out, "report.json"))
  assert report["failed"] == [{"file": "gone", "split": "train", "reason": "missing_file"}]
  assert report["skipped"] == [{"file": "v_tst.mp4", "split": "test", "reason": (
      "no_annotation: the annotations name no segment of this video; not written")}]
  segment_entries = [(p["file"], p["reason"].split(":")[0], p["segment"], p["action"])
                     for p in report["warnings"] if "segment" in p]
  assert segment_entries == [
      ("v_abc.mp4", "segment_unknown_class", {"start": 0.2, "end": 0.8, "label": "Kite flying"},
       "dropped"),
      ("v_abc.mp4", "segment_empty", {"start": 1.0, "end": 1.0, "label": "Long jump"},
       "dropped"),
      ("v_abc.mp4", "segment_clipped", {"start": 2.0, "end": 3.5, "label": "Zumba"},
       "clipped"),
      ("v_abc.mp4", "segment_outside_video", {"start": 3.0, "end": 4.0, "label": "Zumba"},
       "dropped"),
      ("allbad.avi", "segment_outside_video", {"start": 5.0, "end": 6.0, "label": "Zumba"},
       "dropped")]
  video_entries = {(p["file"], p["reason"]) for p in report["warnings"] if "segment" not in p}
  assert video_entries == {
      ("allbad.avi", "no_segments: all 1 of its segments were dropped; written all background"),
      ("def.mkv", "duration_mismatch: the annotation says 6.00 s, the video decodes to 4.00 s "
                  "(40 frames at 10 fps); segments are checked against the decoded duration")}
  counts = report["counts"]
  assert counts["segments"] == {
      "annotated": 7, "stored": 3, "clipped": 1, "dropped": 4,
      "dropped_reasons": {"segment_empty": 1, "segment_outside_video": 2,
                          "segment_unknown_class": 1}, "ambiguous": 0}
  assert counts["listed"] == counts["written"] + counts["failed"] + counts["skipped"] == 5


def test_summary_counts_segments_and_suggests_the_tsp_command(prepared):
  summary, out = prepared
  text = summary.format()
  assert "1 skipped (not written, by choice): no_annotation 1" in text
  assert ("Segments of the written videos: 7 annotated, 3 stored (1 of them clipped to the "
          "video), 4 dropped: segment_empty 1, segment_outside_video 2, "
          "segment_unknown_class 1") in text
  assert "python -m jvrl.main --config=configs/tsp_synthetic.py" in text
  assert f"--config.data.train_files='{out}/train-*-of-*.tfrecord'" in text
  assert f"--config.data.eval_train_files='{out}/train-*-of-*.tfrecord'" in text
  assert f"--config.data.eval_test_files='{out}/validation-*-of-*.tfrecord'" in text


def test_unannotated_write_keeps_testing_videos_as_background(video_root, annotations,
                                                              tmp_path):
  listing = listing_lib.list_videos("", fmt="activitynet", annotations=annotations,
                               video_root=str(video_root))
  summary = _prepare(listing, tmp_path / "out", unannotated="write")
  test = _read_records(str(tmp_path / "out" / "test-*.tfrecord"))
  assert list(test) == ["v_tst.mp4"] and _segments(test["v_tst.mp4"]) == []
  assert test["v_tst.mp4"]["num_frames"] == 20
  assert summary.skipped == 0 and summary.written == 4
  report = _json(tmp_path / "out" / "report.json")
  assert {"file": "v_tst.mp4", "split": "test", "reason": (
      "no_segments: the annotations name no segment of it; written all background")} in (
          report["warnings"])


def test_segments_csv_one_record_per_video_and_labels_file(video_root, tmp_path):
  csv_path = tmp_path / "segments.csv"
  csv_path.write_text("path,label,start,end,split\n"
                      "def.mkv,run,1.0,2.0,train\n"
                      "def.mkv,jump,0.25,0.5,train\n"
                      "def.mkv,fly,0,1,train\n"        # Not in the label file: dropped.
                      "def.mkv,jump,3.5,4.75,train\n"  # Clipped to the 4 s video.
                      "v_abc.mp4,jump,2,1.5,train\n"   # Negative length: dropped.
                      "nothere.mp4,run,0,1,train\n")
  listing = listing_lib.list_videos(str(csv_path), fmt="segments_csv", video_root=str(video_root))
  summary = _prepare(listing, tmp_path / "out", label_order=["jump", "run"])
  train = _read_records(str(tmp_path / "out" / "train-*.tfrecord"))
  assert sorted(train) == ["def.mkv", "v_abc.mp4"]  # One record per video, not per row.
  assert _segments(train["def.mkv"]) == [(250_000, 500_000, 0, "jump"),
                                         (1_000_000, 2_000_000, 1, "run"),
                                         (3_500_000, 4_000_000, 0, "jump")]
  assert train["def.mkv"]["num_frames"] == 40 and train["def.mkv"]["fps"] == 10.0
  assert _segments(train["v_abc.mp4"]) == [] and train["v_abc.mp4"]["num_frames"] == 30
  report = _json(tmp_path / "out" / "report.json")
  by_video = collections.defaultdict(list)
  for p in report["failed"] + report["warnings"]:
    by_video[p["file"]].append((p["reason"].split(":")[0], p.get("action")))
  assert dict(by_video) == {
      "def.mkv": [("segment_unknown_class", "dropped"), ("segment_clipped", "clipped")],
      "nothere.mp4": [("missing_file", None)],
      "v_abc.mp4": [("no_segments", None), ("segment_empty", "dropped")]}  # Video first.
  assert open(tmp_path / "out" / "labels.txt").read() == "jump\nrun\n"
  assert summary.segments["stored"] == 3 and summary.segments["dropped"] == 2
  np.testing.assert_array_equal(sorted(summary.splits), ["train"])
