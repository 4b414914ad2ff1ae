"""Tests of the command line data/prepare_videos.py: a tiny UCF101-shaped input, THUMOS14."""
import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.data.prepare import video_files

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
# This checkout's jvrl, not an installed one (the script imports jvrl first).
_ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [_REPO] + [p for p in [os.environ.get("PYTHONPATH", "")] if p])}


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
      capture_output=True, text=True, cwd=_REPO, env=_ENV, timeout=300, check=False)
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


def _parsed_segments(pattern):
  """filename -> [(start_us, end_us, label, text)] and frame count, read back with records."""
  from jvrl.data import records  # pylint: disable=g-import-not-at-top
  from jvrl.data.tf_setup import tf  # pylint: disable=g-import-not-at-top
  out = {}
  for example in tf.data.TFRecordDataset(sorted(glob.glob(pattern))).map(
      records.parse_sequence_example).as_numpy_iterator():
    out[example["filename"].decode()] = (list(zip(
        example["segment_start_us"].tolist(), example["segment_end_us"].tolist(),
        example["segment_labels"].tolist(),
        [t.decode() for t in example["segment_label_texts"]])), int(example["num_frames"]),
                                         float(example["fps"]))
  return out


def test_thumos14_untrimmed_videos_with_ambiguous_and_background(tmp_path):
  videos = tmp_path / "videos"
  videos.mkdir()
  for name, frames in (("video_validation_0000051", 30), ("video_validation_0000052", 20),
                       ("video_validation_0000900", 10), ("video_test_0000004", 20)):
    video_files.write_video(str(videos / f"{name}.mp4"), "mp4", "mpeg4", num_frames=frames)
  val, test = tmp_path / "annotation_val", tmp_path / "annotation_test"
  val.mkdir()
  test.mkdir()
  (val / "LongJump_val.txt").write_text(
      "video_validation_0000051 0.5 1.5\nvideo_validation_0000051 2.5 3.5\n"
      "video_validation_0000099 1.0 2.0\n")
  (val / "Diving_val.txt").write_text(
      "video_validation_0000052 1.0 1.2\nvideo_validation_0000052 2.5 3.0\n")
  (val / "Ambiguous_val.txt").write_text("video_validation_0000051 1.6 2.0\n")
  (test / "LongJump_test.txt").write_text("video_test_0000004 0.0 1.0\n")
  (test / "Diving_test.txt").write_text("")
  (test / "Ambiguous_test.txt").write_text("")
  out = tmp_path / "out"
  result = subprocess.run(
      [sys.executable, os.path.join(_REPO, "data", "prepare_videos.py"), "--format=thumos14",
       f"--annotation_dir={val},{test}", f"--video_root={videos}", f"--output_dir={out}",
       "--short_side=16", "--audio_rate=0", "--workers=2", "--noprogress"],
      capture_output=True, text=True, cwd=_REPO, env=_ENV, timeout=300, check=False)
  assert result.returncode == 0, result.stderr
  assert "Prepared 3 of 5 videos" in result.stdout
  assert "1 skipped (not written, by choice): no_annotation 1" in result.stdout
  assert ("Segments of the written videos: 5 annotated, 4 stored (1 of them clipped to the "
          "video), 1 dropped: segment_outside_video 1; 1 Ambiguous (not a class) not stored"
          ) in result.stdout
  assert "--config=configs/tsp_synthetic.py" in result.stdout
  assert f"--config.data.train_files='{out}/validation-*-of-*.tfrecord'" in result.stdout
  assert f"--config.data.eval_test_files='{out}/test-*-of-*.tfrecord'" in result.stdout
  assert (out / "labels.txt").read_text() == "Diving\nLongJump\n"
  assert _parsed_segments(str(out / "validation-*.tfrecord")) == {
      "video_validation_0000051.mp4": ([(500_000, 1_500_000, 1, "LongJump"),
                                        (2_500_000, 3_000_000, 1, "LongJump")], 30, 10.0),
      "video_validation_0000052.mp4": ([(1_000_000, 1_200_000, 0, "Diving")], 20, 10.0)}
  assert _parsed_segments(str(out / "test-*.tfrecord")) == {
      "video_test_0000004.mp4": ([(0, 1_000_000, 1, "LongJump")], 20, 10.0)}
  report = json.loads((out / "report.json").read_text())
  assert [(p["file"], p["reason"]) for p in report["failed"]] == [
      ("video_validation_0000099", "missing_file")]
  assert [(p["file"], p["split"], p["reason"].split(":")[0]) for p in report["skipped"]] == [
      ("video_validation_0000900.mp4", "validation", "no_annotation")]
  assert [(p["file"], p["reason"].split(":")[0], p["segment"], p["action"])
          for p in report["warnings"]] == [
              ("video_validation_0000051.mp4", "ambiguous_segment",
               {"start": 1.6, "end": 2.0, "label": "Ambiguous"}, "dropped"),
              ("video_validation_0000051.mp4", "segment_clipped",
               {"start": 2.5, "end": 3.5, "label": "LongJump"}, "clipped"),
              ("video_validation_0000052.mp4", "segment_outside_video",
               {"start": 2.5, "end": 3.0, "label": "Diving"}, "dropped")]
