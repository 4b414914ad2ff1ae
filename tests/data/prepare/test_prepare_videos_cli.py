"""Test of the command line data/prepare_videos.py on a tiny UCF101-shaped input."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.data.prepare import video_files

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


@pytest.fixture(scope="module")
def sample_videos(tmp_path_factory):
  return video_files.make_sample_videos(tmp_path_factory.mktemp("sample_videos"))


def test_ucf101_split_files_with_strict_failures(sample_videos, tmp_path):
  good = sorted(n for n, v in sample_videos.items() if "frames" in v)[:3]
  root = tmp_path / "UCF-101"
  names = {"JumpingJack/v_JumpingJack_g01_c01.avi": good[0],
           "JumpRope/v_JumpRope_g01_c01.avi": good[1],
           "JumpRope/v_JumpRope_g08_c01.avi": good[2],
           "JumpingJack/v_JumpingJack_g08_c01.avi": "empty.mp4"}
  for name, source in names.items():
    os.makedirs(os.path.dirname(root / name), exist_ok=True)
    shutil.copy(sample_videos[source]["path"], root / name)
  lists = tmp_path / "ucfTrainTestlist"
  lists.mkdir()
  (lists / "classInd.txt").write_text("1 JumpingJack\r\n2 JumpRope\r\n")
  (lists / "trainlist01.txt").write_text(
      "JumpingJack/v_JumpingJack_g08_c01.avi 1\r\nJumpRope/v_JumpRope_g08_c01.avi 2\r\n"
      "JumpRope/v_JumpRope_g09_c01.avi 2\r\n")
  (lists / "testlist01.txt").write_text(
      "JumpingJack/v_JumpingJack_g01_c01.avi\r\nJumpRope/v_JumpRope_g01_c01.avi\r\n")
  out = tmp_path / "out"
  result = subprocess.run(
      [sys.executable, os.path.join(_REPO, "data", "prepare_videos.py"), f"--input={root}",
       "--format=ucf101", f"--split_file={lists}", f"--output_dir={out}", "--short_side=16",
       "--audio_rate=8000", "--workers=2", "--strict", "--noprogress"],
      capture_output=True, text=True, cwd=_REPO, timeout=300, check=False)
  assert result.returncode == 1, result.stderr
  assert "--strict: 2 videos failed" in result.stderr
  assert "Prepared 3 of 5 videos" in result.stdout
  assert "2 failed (not written): empty_file 1, missing_file 1" in result.stdout
  assert f"--config.data.eval_test_files='{out}/test-*-of-*.tfrecord'" in result.stdout
  assert (out / "labels.txt").read_text() == "JumpingJack\nJumpRope\n"
  assert sorted(os.listdir(out)) == [".parts", "labels.txt", "manifest.json", "report.json",
                                     "test-00000-of-00001.tfrecord",
                                     "train-00000-of-00001.tfrecord"]
  report = json.loads((out / "report.json").read_text())
  assert [(p["file"], p["split"], p["reason"]) for p in report["failed"]] == [
      ("JumpRope/v_JumpRope_g09_c01.avi", "train", "missing_file"),
      ("JumpingJack/v_JumpingJack_g08_c01.avi", "train", "empty_file")]
  manifest = json.loads((out / "manifest.json").read_text())
  assert sorted((v["split"], v["label"], v["label_index"]) for v in manifest["videos"]) == [
      ("test", "JumpRope", 1), ("test", "JumpingJack", 0), ("train", "JumpRope", 1)]
