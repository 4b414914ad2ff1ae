"""Tests of jvrl.data.synthetic_render: drawing shared by the synthetic datasets."""
import numpy as np
import pytest

from jvrl.data import synthetic_render


def _path(num_frames: int, diameter: float = 10.0) -> synthetic_render.ObjectPath:
  t = np.arange(num_frames, dtype=np.float64)
  return synthetic_render.ObjectPath(center_x=5.0 + t, center_y=np.full(num_frames, 16.0),
                                     angle=0.1 * t, diameter=np.full(num_frames, diameter))


def test_render_appearance_segments_redraws_at_the_starts_only():
  rng = np.random.default_rng(0)
  calls = []

  def redraw(rng, path):
    calls.append(len(path.diameter))
    return "square", path._replace(diameter=path.diameter * 0.5)

  offsets = synthetic_render.object_offsets(rng, 2, 32, 32)
  frames, alpha, colours = synthetic_render.render_appearance_segments(
      rng, _path(12), [0, 5, 9], offsets, "disk", height=32, width=32, drift_max=0.5,
      redraw_object=redraw)
  assert frames.shape == (12, 32, 32, 3) and frames.dtype == np.float32
  assert alpha.shape == (12, 32, 32) and len(colours) == 3
  assert calls == [4, 3]  # Not called for the first segment.
  area = alpha.sum(axis=(1, 2))
  assert area[5] < 0.4 * area[4]  # Half the diameter from frame 5 on.
  mean_colour = frames.mean(axis=(1, 2))
  steps = np.abs(np.diff(mean_colour, axis=0)).max(axis=1)
  assert set(np.argsort(steps)[-2:] + 1) == {5, 9}  # The background changes at the starts.


def test_render_appearance_segments_checks_the_starts():
  with pytest.raises(ValueError, match="starts"):
    synthetic_render.render_appearance_segments(
        np.random.default_rng(0), _path(6), [2, 4], np.zeros((1, 2)), "disk", height=16,
        width=16, drift_max=0.0)


def test_object_offsets_first_copy_is_the_path():
  offsets = synthetic_render.object_offsets(np.random.default_rng(1), 4, 64, 48)
  assert offsets.shape == (4, 2)
  np.testing.assert_array_equal(offsets[0], [0.0, 0.0])
  assert np.all(offsets[:, 0] < 48) and np.all(offsets[:, 1] < 64)


def test_quantize_adds_noise_of_the_given_std():
  frames = np.full((4, 16, 16, 3), 0.5, np.float32)
  quantized = synthetic_render.quantize(np.random.default_rng(0), frames, noise_std=0.02)
  assert quantized.dtype == np.uint8
  assert abs(quantized.mean() - 127.5) < 1.0
  assert 0.015 * 255 < quantized.std() < 0.025 * 255
