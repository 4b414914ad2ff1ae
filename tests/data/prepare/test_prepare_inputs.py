"""Tests of jvrl.data.prepare.inputs: listing folders, CSVs, UCF101, HMDB51, Kinetics.

Listing never decodes, so empty placeholder files stand in for videos here.
"""
import os

import pytest

from jvrl.data.prepare import inputs
from jvrl.data.prepare import listing as listing_lib


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


def test_folder_classes_unlabelled_ignored_and_hidden(tmp_path):
  _touch(tmp_path, "dog/b.MP4", "dog/a.avi", "cat/sub/c.webm", "loose.mkv", "notes.txt",
         ".hidden/x.mp4", "cat/.y.mp4")
  listing = listing_lib.list_videos(str(tmp_path), split="eval_train")
  got = [(e.file, e.label, e.split) for e in listing.entries]
  assert got == [("cat/sub/c.webm", "cat", "eval_train"), ("dog/a.avi", "dog", "eval_train"),
                 ("dog/b.MP4", "dog", "eval_train"), ("loose.mkv", "", "eval_train")]
  assert listing.ignored == ["notes.txt"] and listing.missing == []
  assert all(os.path.isabs(e.path) for e in listing.entries)


def test_csv_columns_relative_paths_and_missing(tmp_path):
  _touch(tmp_path / "videos", "a.mp4", "b.mp4")
  csv_path = _write(tmp_path / "list.csv",
                    "path,label,caption,start,end,split\n"
                    "a.mp4,jump,a person jumps,,,train\n"
                    "b.mp4,run,,1.5,3,test\n"
                    "\n"
                    "./gone.mp4,run,,,,\n")
  listing = listing_lib.list_videos(csv_path, split="train", video_root=str(tmp_path / "videos"))
  assert [(e.file, e.label, e.caption, e.start, e.end, e.split) for e in listing.entries] == [
      ("a.mp4", "jump", "a person jumps", None, None, "train"),
      ("b.mp4", "run", "", 1.5, 3.0, "test")]
  assert [(e.file, e.split) for e in listing.missing] == [("gone.mp4", "train")]


def test_csv_path_only_defaults_to_the_csv_folder(tmp_path):
  _touch(tmp_path, "x/v.mp4")
  listing = listing_lib.list_videos(_write(tmp_path / "l.csv", "path\nx/v.mp4\n"), split="train")
  assert [(e.file, e.label) for e in listing.entries] == [("x/v.mp4", "")]


@pytest.mark.parametrize("text,message", [
    ("file,label\na.mp4,x\n", "'path' column"),
    ("path,start\na.mp4,soon\n", "start must be a number"),
    ("path,label\na.mp4\n", "expected 2 columns"),
    ("path,split\na.mp4,my-split\n", "Split names"),
])
def test_csv_errors_name_the_problem(tmp_path, text, message):
  with pytest.raises(ValueError, match=message):
    listing_lib.list_videos(_write(tmp_path / "bad.csv", text))


def _ucf_tree(tmp_path):
  root = tmp_path / "UCF-101"
  _touch(root, "JumpRope/v_JumpRope_g01_c01.avi", "JumpingJack/v_JumpingJack_g08_c01.avi",
         "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi")
  splits = tmp_path / "ucfTrainTestlist"
  _write(splits / "classInd.txt", "1 ApplyEyeMakeup\r\n2 JumpingJack\r\n3 JumpRope\r\n")
  _write(splits / "trainlist01.txt", "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
         "JumpingJack/v_JumpingJack_g08_c01.avi 2\r\n")
  _write(splits / "testlist01.txt", "JumpRope/v_JumpRope_g01_c01.avi\r\n"
         "JumpRope/v_JumpRope_g02_c01.avi\r\n")
  return root, splits


def test_ucf101_split_folder_uses_classind_order(tmp_path):
  root, splits = _ucf_tree(tmp_path)
  listing = listing_lib.list_videos(str(root), fmt="ucf101", split_file=str(splits))
  assert [(e.file, e.label, e.split) for e in listing.entries] == [
      ("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "ApplyEyeMakeup", "train"),
      ("JumpingJack/v_JumpingJack_g08_c01.avi", "JumpingJack", "train"),
      ("JumpRope/v_JumpRope_g01_c01.avi", "JumpRope", "test")]
  assert [e.file for e in listing.missing] == ["JumpRope/v_JumpRope_g02_c01.avi"]
  # classInd order is not Python's sorted order ("JumpRope" < "JumpingJack").
  assert listing.label_order == ["ApplyEyeMakeup", "JumpingJack", "JumpRope"]


def test_ucf101_single_list_file_and_errors(tmp_path):
  root, splits = _ucf_tree(tmp_path)
  listing = listing_lib.list_videos(str(root), fmt="ucf101",
                               split_file=str(splits / "testlist01.txt"))
  assert {e.split for e in listing.entries + listing.missing} == {"test"}
  with pytest.raises(ValueError, match="split_file"):
    listing_lib.list_videos(str(root), fmt="ucf101")
  with pytest.raises(ValueError, match="trainlist02"):
    listing_lib.list_videos(str(root), fmt="ucf101", split_file=str(splits), split_number=2)


def test_hmdb51_ids_map_to_train_test_and_unused(tmp_path):
  root = tmp_path / "hmdb51"
  _touch(root, "brush_hair/a.avi", "brush_hair/b.avi", "brush_hair/c.avi", "sit/d.avi")
  splits = tmp_path / "testTrainMulti_7030_splits"
  _write(splits / "brush_hair_test_split1.txt", "a.avi 1 \nb.avi 2 \nc.avi 0 \n")
  _write(splits / "brush_hair_test_split2.txt", "a.avi 2 \n")
  _write(splits / "sit_test_split1.txt", "d.avi 1 \ne.avi 2 \n")
  listing = listing_lib.list_videos(str(root), fmt="hmdb51", split_file=str(splits))
  assert [(e.file, e.label, e.split) for e in listing.entries] == [
      ("brush_hair/a.avi", "brush_hair", "train"), ("brush_hair/b.avi", "brush_hair", "test"),
      ("sit/d.avi", "sit", "train")]
  assert [(e.file, e.split) for e in listing.missing] == [("sit/e.avi", "test")]


def test_kinetics_finds_clips_or_full_videos(tmp_path):
  root = tmp_path / "k400"
  _touch(root, "abseiling/abc_000010_000020.mp4", "def.mkv")
  csv_path = _write(tmp_path / "train.csv",
                    "label,youtube_id,time_start,time_end,split,is_cc\n"
                    "abseiling,abc,10,20,train,0\n"
                    '"passing American football (in game)",def,3,13,val,0\n'
                    "abseiling,gone,0,10,train,0\n")
  listing = listing_lib.list_videos(csv_path, video_root=str(root))
  assert [(e.file, e.label, e.split, e.start, e.end) for e in listing.entries] == [
      ("abseiling/abc_000010_000020.mp4", "abseiling", "train", None, None),
      ("def.mkv", "passing American football (in game)", "val", 3.0, 13.0)]
  assert [(e.file, e.start, e.end) for e in listing.missing] == [("gone_000000_000010", 0.0,
                                                                   10.0)]


def test_auto_detection_and_unknown_format(tmp_path):
  assert inputs.detect_format(str(tmp_path)) == "folder"
  assert inputs.detect_format(_write(tmp_path / "a.csv", "path,label\n")) == "csv"
  assert inputs.detect_format(_write(tmp_path / "k.csv", "youtube_id,time_start\n")) == "kinetics"
  with pytest.raises(ValueError, match="does not exist"):
    inputs.detect_format(str(tmp_path / "nothing"))
  with pytest.raises(ValueError, match="format must be"):
    listing_lib.list_videos(str(tmp_path), fmt="youtube")
