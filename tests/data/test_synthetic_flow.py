"""The built-in synthetic videos' exact optical flow."""
import numpy as np

from jvrl.data import synthetic


def _bilinear(image, x, y):
  height, width, _ = image.shape
  x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
  ax, ay = (x - x0)[..., None], (y - y0)[..., None]

  def at(yy, xx):
    return image[np.mod(yy, height), np.mod(xx, width)]
  return ((1 - ay) * ((1 - ax) * at(y0, x0) + ax * at(y0, x0 + 1)) +
          ay * ((1 - ax) * at(y0 + 1, x0) + ax * at(y0 + 1, x0 + 1)))


def test_exact_flow_carries_each_object_pixel_to_the_next_frame():
  """Frame t+1 sampled at p + flow(p) is frame t on the object (every motion class);
  the same frames with and without flow; the flow's direction matters."""
  cfg = synthetic.SyntheticConfig(height=96, width=96, num_frames=12, noise_std=0.0,
                                  appearance_segment_frames=8, redraw_object_per_segment=True,
                                  flow=True)
  plain = synthetic.SyntheticConfig(**{**cfg.__dict__, "flow": False})
  assert synthetic.config_hash(plain) != synthetic.config_hash(cfg)
  y, x = np.mgrid[0:96, 0:96].astype(np.float64)
  for label in range(10):
    video = synthetic.render_video(synthetic.video_rng(cfg, "train", label), label, cfg)
    same = synthetic.render_video(synthetic.video_rng(plain, "train", label), label, plain)
    np.testing.assert_array_equal(video["frames"], same["frames"])
    flow, frames = video["flow"], video["frames"].astype(np.float32)
    assert flow.shape == (11, 96, 96, 2) and "flow" not in same
    errors, reversed_errors = [], []
    for t in range(11):
      if t == 7:  # an appearance cut: the next frame is drawn anew
        continue
      on_object = video["object_alpha"][t] > 0.99
      for sign, out in ((1, errors), (-1, reversed_errors)):
        warped = _bilinear(frames[t + 1], x + sign * flow[t, ..., 0], y + sign * flow[t, ..., 1])
        out.append(np.median(np.abs(warped - frames[t]).mean(-1)[on_object]))
    assert np.mean(errors) < 1.0, (label, errors)  # of 255
    assert np.mean(reversed_errors) > 3 * np.mean(errors) + 2, (label, reversed_errors)
