"""Tests of jvrl.data.prepare.timed_captions (HowTo100M's timed sentences) and its records.

Listing never decodes, so empty placeholder files stand in for videos there; the
end-to-end test prepares two tiny real videos and reads the records back.
"""
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

Cap = inputs.TimedCaption
# Video "abc": three sentences (given out of order), one with empty text; "x-y": one.
EXPECTED = {
    "abc.mp4": (Cap(0.41, 3.91, "check pic tonight"), Cap(3.92, 5.9, "pick bowl"),
                Cap(5.91, 10.25, "night honest cause")),
    "sub/x-y.mkv": (Cap(1.0, 2.5, "add the flour"),),
}


def _write(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write(text)
  return str(path)


def _inputs(tmp_path):
  """The same captions in the three accepted layouts."""
  combined = _write(tmp_path / "captions.csv",
                    "video_id,start,end,text\n"
                    "abc,3.92,5.9,pick bowl\n"
                    "abc,0.41,3.91,check pic tonight\n"
                    "abc,5.91,10.25,night honest cause\n"
                    "abc,10.3,11,\n"
                    "x-y,1,2.5,add the flour\n"
                    "gone,0,1,never downloaded\n")
  folder = tmp_path / "per_video"
  _write(folder / "abc.csv", "start,end,text\n3.92,5.9,pick bowl\n0.41,3.91,check pic tonight\n"
         "5.91,10.25,night honest cause\n10.3,11,\n")
  _write(folder / "x-y.csv", "start,end,text\n1,2.5,add the flour\n")
  _write(folder / "gone.csv", "start,end,text\n0,1,never downloaded\n")
  caption_json = _write(tmp_path / "caption.json", json.dumps({
      "abc": {"start": [3.92, 0.41, 5.91, 10.3], "end": [5.9, 3.91, 10.25, 11],
              "text": ["pick bowl", "check pic tonight", "night honest cause", ""]},
      "x-y": {"start": [1], "end": [2.5], "text": ["add the flour"]},
      "gone": {"start": [0], "end": [1], "text": ["never downloaded"]}}))
  return combined, str(folder), caption_json


def test_the_three_layouts_list_whole_videos_with_sorted_sentences(tmp_path):
  videos = tmp_path / "videos"
  for name in ("abc.mp4", "sub/x-y.mkv", "other.mp4"):
    _write(videos / name, "")
  for source in _inputs(tmp_path):
    listing = listing_lib.list_videos(source, fmt="howto100m", video_root=str(videos))
    got = {e.file: e.captions for e in listing.entries}
    assert got == EXPECTED, source
    assert all(e.split == "train" and e.start is None and e.label == ""
               for e in listing.entries)
    assert [(e.file, len(e.captions)) for e in listing.missing] == [("gone", 1)]


@pytest.mark.parametrize("text,message", [
    ("video_id,start,end,text\nabc,2,1,backwards\n", "ends .* before it starts"),
    ("video_id,start,end,text\nabc,nan,1,x\n", "finite"),
    ("video_id,start,text\nabc,1,x\n", "video_id \\(or path\\),start,end,text"),
])
def test_bad_captions_are_errors_naming_the_line(tmp_path, text, message):
  (tmp_path / "v").mkdir()
  with pytest.raises(ValueError, match=message):
    listing_lib.list_videos(_write(tmp_path / "c.csv", text), fmt="howto100m",
                            video_root=str(tmp_path / "v"))
  with pytest.raises(ValueError, match="video_root"):
    listing_lib.list_videos(_write(tmp_path / "c.csv", text), fmt="howto100m")


def test_prepared_records_hold_the_sentences_in_microseconds(tmp_path):
  videos = tmp_path / "videos"
  videos.mkdir()
  video_files.write_video(str(videos / "abc.mp4"), "mp4", "mpeg4", num_frames=20)
  os.makedirs(videos / "sub")
  video_files.write_video(str(videos / "sub" / "x-y.mkv"), "matroska", "mpeg4", num_frames=10)
  combined, _, _ = _inputs(tmp_path)
  listing = listing_lib.list_videos(combined, fmt="howto100m", video_root=str(videos))
  options = video_record.RecordOptions(
      decode=decode_video.DecodeOptions(short_side=16, audio_rate=0), min_frames=1)
  summary = prepare.prepare_videos(listing, str(tmp_path / "out"), options=options, workers=1,
                                   show_progress=False)
  parsed = {}
  for path in glob.glob(str(tmp_path / "out" / "train-*.tfrecord")):
    for example in tf.data.TFRecordDataset(path).map(
        records.parse_sequence_example).as_numpy_iterator():
      parsed[example["filename"].decode()] = example
  assert sorted(parsed) == ["abc.mp4", "sub/x-y.mkv"]
  abc = parsed["abc.mp4"]
  assert abc["num_frames"] == 20  # the whole video
  assert [c.decode() for c in abc["captions"]] == [c.text for c in EXPECTED["abc.mp4"]]
  np.testing.assert_array_equal(abc["caption_start_us"], [410_000, 3_920_000, 5_910_000])
  np.testing.assert_array_equal(abc["caption_end_us"], [3_910_000, 5_900_000, 10_250_000])
  np.testing.assert_array_equal(parsed["sub/x-y.mkv"]["caption_start_us"], [1_000_000])
  manifest = json.load(open(tmp_path / "out" / "manifest.json", encoding="utf-8"))
  assert {v["file"]: v["timed_captions"] for v in manifest["videos"]} == {
      "abc.mp4": 3, "sub/x-y.mkv": 1}
  assert summary.timed_captions == 4 and summary.failed == 1  # 'gone' is missing
  text = summary.format()
  assert "configs/vatt_base_howto100m.py" in text and "build_vocab.py" in text
