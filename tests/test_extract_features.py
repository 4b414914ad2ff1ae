"""Tests of jvrl.extract_features: per-clip features of every video from exported encoders."""
import os
import subprocess
import sys

import h5py
import jax
import numpy as np
import pytest

from jvrl import extract_features
from jvrl import models
from jvrl.data import feature_files
from jvrl.evaluation import clip_features
from jvrl.train import checkpointing

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "evaluation"))
from test_clip_features import reference_clip_features, write_untrimmed_records  # noqa: E402  pylint: disable=g-import-not-at-top

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRID = clip_features.ClipGrid(clip_length=4, frame_stride=2, clip_stride=3,
                              resize_short_side=16, crop_size=16)
ENCODERS = {
    # CVRL's default encoder (residual frames), narrow.
    "cvrl": ("r3d_prp", dict(width_multiplier=0.0625, input_transform="frame_difference")),
    # VATT's video tower (its aggregation token is the feature), tiny.
    "vatt": ("vatt_video", dict(hidden_size=16, num_layers=1, num_heads=2, mlp_dim=32,
                                patch_size=(2, 8, 8), pos_buckets=(2, 2, 2))),
}


def _export(tmp_path, which):
  name, kwargs = ENCODERS[which]
  encoder = models.build_model(name, **kwargs)
  variables = encoder.init(jax.random.key(1), np.zeros((1, 4, 16, 16, 3), np.float32),
                           train=False)
  directory = str(tmp_path / which / "export" / "encoder")
  checkpointing.export_encoder(directory, model_name=name, model_kwargs=kwargs,
                               variables=variables)
  return directory, encoder, variables


@pytest.mark.parametrize("which", sorted(ENCODERS))
def test_h5_output_matches_the_encoder_clip_by_clip_and_resumes(tmp_path, which):
  glob = write_untrimmed_records(tmp_path / "records")
  directory, encoder, variables = _export(tmp_path, which)
  output = str(tmp_path / "features" / "val.h5")
  counts = extract_features.extract(directory, glob, output, "h5", GRID, batch_size=8)
  assert counts == {"videos": 3, "clips": 6, "short_videos": 1, "skipped_done": 0}
  expected = reference_clip_features(encoder, variables, glob)
  with h5py.File(output, "r") as h5:
    assert sorted(h5) == ["video_0", "video_1", "video_2"]
    for key, filename in (("video_0", "folder/video_0.mp4"), ("video_1", "folder/video_1.mp4")):
      np.testing.assert_allclose(h5[key][()], expected[filename], rtol=1e-4, atol=1e-5)
    attributes = h5["video_0"].attrs
    np.testing.assert_array_equal(attributes["clip_start_frames"], [0, 3, 6, 9, 12])
    np.testing.assert_allclose(attributes["clip_start_seconds"], [0, 0.3, 0.6, 0.9, 1.2])
    assert h5["video_2"].shape[0] == 0 and h5["video_2"].attrs["short_video"] == 1
  # A rerun skips what is written: only the video removed here is extracted again.
  with h5py.File(output, "a") as h5:
    del h5["video_1"]
  counts = extract_features.extract(directory, glob, output, "h5", GRID, batch_size=8)
  assert counts == {"videos": 1, "clips": 1, "short_videos": 0, "skipped_done": 2}
  assert sorted(feature_files.read_features(output)) == ["video_0", "video_1", "video_2"]


def test_command_line_npy_output_and_errors(tmp_path):
  glob = write_untrimmed_records(tmp_path / "records")
  directory, _, _ = _export(tmp_path, "cvrl")
  output = str(tmp_path / "npy")
  env = dict(os.environ, PYTHONPATH=ROOT)
  command = [sys.executable, "-m", "jvrl.extract_features", f"--encoder={directory}",
             f"--files={glob}", f"--output={output}", "--format=npy", "--clip_length=4",
             "--frame_stride=2", "--stride=3", "--resize_short_side=16", "--crop_size=16",
             "--batch_size=8"]
  done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]
  assert "Done: 3 videos (6 clips, 1 shorter than one clip" in done.stderr
  assert "clips/s" in done.stderr
  features = feature_files.read_features(output)
  assert {k: v.shape for k, v in features.items()} == {
      "video_0": (5, 32), "video_1": (1, 32), "video_2": (0, 32)}
  no_files = [f"--files={tmp_path}/none-*.tfrecord" if a.startswith("--files=") else a
              for a in command]
  missing = subprocess.run(no_files,
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
  assert missing.returncode == 2
  assert missing.stderr.strip().splitlines()[-1].startswith("jvrl.extract_features: Pattern")
