"""`data/prepare_videos.py --flow`: OpenCV TV-L1 / Farneback flow into the records."""
import json
import os
import shutil

import numpy as np
import pytest

from jvrl.data import flow_clips
from jvrl.data.prepare import decode_video
from jvrl.data.prepare import listing as listing_lib
from jvrl.data.prepare import optical_flow
from jvrl.data.prepare import prepare
from jvrl.data.prepare import video_record
from jvrl.data.tf_setup import tf
from tests.data.prepare import video_files
from tests.data.prepare.test_prepare import _read_records

pytest.importorskip("cv2")


def _texture(shift_x=0, shift_y=0, size=48):
  y, x = np.mgrid[0:size, 0:size].astype(np.float64)
  x, y = x - shift_x, y - shift_y
  image = 128 + 50 * np.sin(x / 3.0) * np.cos(y / 4.0) + 40 * np.sin((x + y) / 5.0)
  return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("method", optical_flow.FLOW_METHODS)
def test_flow_of_a_shifted_texture_is_the_shift(method):
  flow = optical_flow.make_flow_fn(method)(_texture(), _texture(shift_x=2, shift_y=-1))
  assert flow.shape == (48, 48, 2) and flow.dtype == np.float32
  middle = flow[12:-12, 12:-12].reshape(-1, 2)
  np.testing.assert_allclose(np.median(middle, axis=0), [2.0, -1.0], atol=0.25)


def test_unknown_method_is_refused():
  with pytest.raises(ValueError, match="must be one of"):
    optical_flow.make_flow_fn("lucas_kanade")


@pytest.mark.parametrize("method", optical_flow.FLOW_METHODS)
def test_prepared_records_hold_the_flow_of_every_frame_pair(method, tmp_path):
  """The data tests' sample videos (flat frames: no motion) get L - 1 flow pairs of
  about zero; the manifest says how; a rerun with another --flow is refused."""
  os.makedirs(tmp_path / "videos")
  videos = video_files.make_sample_videos(tmp_path / "videos")
  folder = tmp_path / "folder" / "ball"
  os.makedirs(folder)
  names = [n for n in ("h264_aac.mp4", "mjpeg_pcm.avi") if "frames" in videos.get(n, {})]
  for name in names:
    shutil.copy(videos[name]["path"], folder / name)
  options = video_record.RecordOptions(
      decode=decode_video.DecodeOptions(short_side=16, audio_rate=0), min_frames=1, flow=method)
  out = tmp_path / "out"
  prepare.prepare_videos(listing_lib.list_videos(str(tmp_path / "folder")), str(out),
                         options=options, num_shards=1, workers=1, show_progress=False)
  written = _read_records(str(out / "train-*.tfrecord"))
  assert sorted(os.path.basename(k) for k in written) == sorted(names)
  with open(out / "manifest.json", encoding="utf-8") as f:
    manifest = json.load(f)
  entries = manifest["videos"] if isinstance(manifest, dict) else manifest
  for (example, _), in written.values():
    frames = int(example["num_frames"])
    assert example["flow"].shape == (frames - 1, 2)
    assert float(example["flow_bound"]) == 20.0
    clip = flow_clips.decode_flow_frames(tf.constant(example["flow"]), tf.range(frames))
    field = flow_clips.dequantize(clip).numpy()
    assert np.abs(np.median(field)) < 0.2
  assert all(e.get("flow") == method for e in entries if isinstance(e, dict) and "flow" in e)
  other = "farneback" if method == "tvl1" else "tvl1"
  with pytest.raises(ValueError, match="different options"):
    prepare.prepare_videos(
        listing_lib.list_videos(str(tmp_path / "folder")), str(out),
        options=video_record.RecordOptions(decode=options.decode, min_frames=1, flow=other),
        num_shards=1, workers=1, show_progress=False)
