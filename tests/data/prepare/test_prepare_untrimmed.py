"""Tests of jvrl.data.prepare.untrimmed: ActivityNet, THUMOS14 and segments-CSV listings.

Listing never decodes, so empty placeholder files stand in for videos here.
"""
import json
import os

import pytest

from jvrl.data.prepare import inputs
from jvrl.data.prepare import listing as listing_lib
from jvrl.data.prepare import segments

Seg = segments.AnnotatedSegment


def _touch(root, *names):
  for name in names:
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()


def _write(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)
  return str(path)


def _activitynet_json(path, taxonomy=True):
  content = {"version": "VERSION 1.3", "database": {
      "abc": {"subset": "training", "duration": 12.5, "url": "https://youtu.be/abc",
              "annotations": [{"segment": [1.5, 4.0], "label": "Long jump"},
                              {"segment": [6.0, 9.25], "label": "Zumba"}]},
      "-dash": {"subset": "validation", "duration": 30.0, "annotations": [
          {"segment": [0.0, 2.0], "label": "Zumba"}]},
      "gone": {"subset": "training", "duration": 5.0, "annotations": [
          {"segment": [0.0, 1.0], "label": "Long jump"}]},
      "secret": {"subset": "testing", "duration": 8.0, "annotations": []},
  }}
  if taxonomy:
    content["taxonomy"] = [
        {"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None},
        {"nodeId": 1, "nodeName": "Sports", "parentId": 0, "parentName": "Root"},
        {"nodeId": 2, "nodeName": "Zumba", "parentId": 1, "parentName": "Sports"},
        {"nodeId": 3, "nodeName": "Long jump", "parentId": 1, "parentName": "Sports"},
        {"nodeId": 4, "nodeName": "Archery", "parentId": 1, "parentName": "Sports"}]
  return _write(path, json.dumps(content))


def test_activitynet_finds_both_file_names_maps_subsets_and_uses_taxonomy_leaves(tmp_path):
  _touch(tmp_path / "videos", "a/v_abc.mp4", "-dash.webm", "secret.mkv", "v_other.mp4")
  listing = listing_lib.list_videos("", fmt="activitynet", annotations=_activitynet_json(
      tmp_path / "anet.json"), video_root=str(tmp_path / "videos"))
  got = {e.file: (e.split, e.segments, e.annotated_seconds) for e in listing.entries}
  assert got == {
      "a/v_abc.mp4": ("train", (Seg(1.5, 4.0, "Long jump"), Seg(6.0, 9.25, "Zumba")), 12.5),
      "-dash.webm": ("validation", (Seg(0.0, 2.0, "Zumba"),), 30.0),
      "secret.mkv": ("test", (), 8.0)}
  assert [(e.file, e.split, e.segments) for e in listing.missing] == [
      ("gone", "train", (Seg(0.0, 1.0, "Long jump"),))]
  assert listing.label_order == ["Archery", "Long jump", "Zumba"]  # Leaves, sorted.
  assert all(e.label == "" and e.start is None and e.end is None for e in listing.entries)


def test_activitynet_without_taxonomy_sorts_the_labels_seen(tmp_path):
  listing = listing_lib.list_videos("", fmt="activitynet", annotations=_activitynet_json(
      tmp_path / "anet.json", taxonomy=False), video_root=str(tmp_path))
  assert listing.label_order is None and len(listing.missing) == 4


@pytest.mark.parametrize("database,message", [
    ({"x": {"subset": "train", "annotations": []}}, "subset must be one of"),
    ({"x": {"subset": "training", "annotations": [{"segment": [1], "label": "a"}]}},
     r"\[start, end\]"),
    ({"x": {"subset": "training", "annotations": [{"segment": [1, "nan"], "label": "a"}]}},
     "finite"),
    ({"x": {"subset": "training", "annotations": [{"segment": [1, 2]}]}}, "class label"),
])
def test_activitynet_errors_name_the_video(tmp_path, database, message):
  path = _write(tmp_path / "bad.json", json.dumps({"database": database}))
  with pytest.raises(ValueError, match=message):
    listing_lib.list_videos("", fmt="activitynet", annotations=path, video_root=str(tmp_path))


def _thumos_tree(tmp_path):
  videos = tmp_path / "videos"
  _touch(videos, "val/video_validation_0000051.mp4", "val/video_validation_0000052.mp4",
         "val/video_validation_0000900.mp4", "test/video_test_0000004.mp4", "readme.mp4")
  val = tmp_path / "annotation_val"
  _write(val / "LongJump_val.txt", "video_validation_0000051 67.5 75.9\n"
         "video_validation_0000051  80.0\t81.2 \n\nvideo_validation_0000099 1.0 2.0\n")
  _write(val / "CliffDiving_val.txt", "video_validation_0000052 3.0 4.5\n")
  _write(val / "Diving_val.txt", "video_validation_0000052 3.0 4.5\n")
  _write(val / "Ambiguous_val.txt", "video_validation_0000051 10.0 12.0\n"
         "video_validation_0000900 1.0 2.0\n")
  _write(val / "detclasslist.txt", "7 BaseballPitch\n")  # Not a per-class file.
  test = tmp_path / "annotation_test"
  _write(test / "LongJump_test.txt", "")
  return videos, val, test


def test_thumos14_merges_classes_per_video_and_reports_ambiguous_lines(tmp_path):
  videos, val, _ = _thumos_tree(tmp_path)
  listing = listing_lib.list_videos("", fmt="thumos14", annotation_dir=str(val),
                               video_root=str(videos))
  assert [(e.file, e.split, e.segments) for e in listing.entries] == [
      ("val/video_validation_0000051.mp4", "validation",
       (Seg(67.5, 75.9, "LongJump"), Seg(80.0, 81.2, "LongJump"))),
      ("val/video_validation_0000052.mp4", "validation",
       (Seg(3.0, 4.5, "CliffDiving"), Seg(3.0, 4.5, "Diving"))),
      ("val/video_validation_0000900.mp4", "validation", ())]  # No class file names it.
  assert [(e.file, e.segments) for e in listing.missing] == [
      ("video_validation_0000099", (Seg(1.0, 2.0, "LongJump"),))]
  assert listing.label_order == ["CliffDiving", "Diving", "LongJump"]  # Not 'Ambiguous'.
  assert [(p.file, p.split, p.segment, p.action) for p in listing.notes] == [
      ("val/video_validation_0000051.mp4", "validation", (10.0, 12.0, "Ambiguous"), "dropped"),
      ("val/video_validation_0000900.mp4", "validation", (1.0, 2.0, "Ambiguous"), "dropped")]
  assert listing.notes[0].reason.startswith("ambiguous_segment: Ambiguous_val.txt:1:")


def test_thumos14_lists_the_videos_of_every_annotated_split(tmp_path):
  videos, val, test = _thumos_tree(tmp_path)
  listing = listing_lib.list_videos("", fmt="thumos14", annotation_dir=f"{val}, {test}",
                               video_root=str(videos))
  assert [(e.file, e.split, e.segments) for e in listing.entries if e.split == "test"] == [
      ("test/video_test_0000004.mp4", "test", ())]
  assert "readme.mp4" not in [e.file for e in listing.entries]


@pytest.mark.parametrize("files,message", [
    ({"Ambiguous_val.txt": "v 1 2\n"}, "No THUMOS14 class file"),
    ({"Run_val.txt": "video_validation_1 1\n"}, "video_name start end"),
    ({"Run_test.txt": "video_test_1 1 soon\n"}, "end must be a number"),
])
def test_thumos14_errors(tmp_path, files, message):
  for name, text in files.items():
    _write(tmp_path / "ann" / name, text)
  with pytest.raises(ValueError, match=message):
    listing_lib.list_videos("", fmt="thumos14", annotation_dir=str(tmp_path / "ann"),
                       video_root=str(tmp_path))


def test_segments_csv_rows_of_one_video_make_one_entry(tmp_path):
  _touch(tmp_path / "videos", "long.mp4", "other.mp4")
  csv_path = _write(tmp_path / "segments.csv",
                    "path,label,start,end,split\n"
                    "long.mp4,jump,1.5,3,train\n"
                    "./long.mp4,run,0,1,train\n"
                    "long.mp4,jump,1.5,3,validation\n"
                    "other.mp4,run,2,2,\n"
                    "gone.mp4,run,0,1,train\n")
  listing = listing_lib.list_videos(csv_path, fmt="segments_csv", split="train",
                               video_root=str(tmp_path / "videos"))
  assert [(e.file, e.split, e.segments, e.start, e.end) for e in listing.entries] == [
      ("long.mp4", "train", (Seg(1.5, 3.0, "jump"), Seg(0.0, 1.0, "run")), None, None),
      ("long.mp4", "validation", (Seg(1.5, 3.0, "jump"),), None, None),
      ("other.mp4", "train", (Seg(2.0, 2.0, "run"),), None, None)]
  assert [e.file for e in listing.missing] == ["gone.mp4"]


def test_segments_csv_is_never_auto_detected_and_checks_its_columns(tmp_path):
  _touch(tmp_path, "v.mp4")
  csv_path = _write(tmp_path / "s.csv", "path,label,start,end\nv.mp4,run,0,1\n")
  trimmed = listing_lib.list_videos(csv_path)  # The 'csv' format: start,end trim a clip.
  assert [(e.start, e.end, e.segments) for e in trimmed.entries] == [(0.0, 1.0, None)]
  for text, message in (("path,label\nv.mp4,run\n", "path,label,start,end"),
                        ("path,label,start,end\nv.mp4,,0,1\n", "class label")):
    with pytest.raises(ValueError, match=message):
      listing_lib.list_videos(_write(tmp_path / "bad.csv", text), fmt="segments_csv")


@pytest.mark.parametrize("kwargs,message", [
    (dict(fmt="activitynet", video_root="/tmp"), "--annotations"),
    (dict(fmt="activitynet", annotations="a.json"), "--video_root"),
    (dict(fmt="thumos14", video_root="/tmp"), "--annotation_dir"),
    (dict(fmt="segments_csv"), "--input"),
    (dict(fmt="csv"), "--input"),
    (dict(annotations="a.json", video_root="/nonexistent"), "'activitynet' needs --video_root"),
    (dict(fmt="thumos14", annotations="a.json"), "--format=activitynet only"),
])
def test_missing_flags_are_named(kwargs, message):
  with pytest.raises(ValueError, match=message):
    listing_lib.list_videos("", **kwargs)
