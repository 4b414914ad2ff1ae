"""Tests for jvrl.losses.prp against slow NumPy references written from REFERENCE §3."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jvrl.losses import prp

RATES = (1, 2, 4, 8)


# ------------------------------------------------------ slow NumPy references ---

def _np_selected_frames(clip_length, rate, chunk):
  """4 evenly spaced real target frames of one chunk (written out independently)."""
  per_chunk = 2 * clip_length // rate
  real = [j for j in range(chunk * per_chunk, (chunk + 1) * per_chunk) if (j * rate) % 2 == 0]
  return [real[int(np.floor(k * (len(real) - 1) / 3 + 0.5))] for k in range(4)]


def _np_upsample_bilinear(small, height, width):
  """PyTorch F.interpolate(mode='bilinear', align_corners=False), one loop per pixel."""
  in_h, in_w = small.shape
  out = np.zeros((height, width))
  for y in range(height):
    sy = max((y + 0.5) * in_h / height - 0.5, 0.0)
    y0 = int(np.floor(sy))
    y1 = y0 + 1 if y0 < in_h - 1 else y0
    ly = sy - y0
    for x in range(width):
      sx = max((x + 0.5) * in_w / width - 0.5, 0.0)
      x0 = int(np.floor(sx))
      x1 = x0 + 1 if x0 < in_w - 1 else x0
      lx = sx - x0
      out[y, x] = ((1 - ly) * ((1 - lx) * small[y0, x0] + lx * small[y0, x1])
                   + ly * ((1 - lx) * small[y1, x0] + lx * small[y1, x1]))
  return out


def _np_pooled_motion(frames, window, stride):
  """[4, H, W] one channel -> pooled mean squared differences [Hp, Wp] (3-D avg pool)."""
  diffs = [(frames[k + 1] - frames[k]) ** 2 for k in range(3)]
  height, width = frames.shape[1:]
  rows = range(0, height - window[0] + 1, stride[0])
  cols = range(0, width - window[1] + 1, stride[1])
  pooled = np.zeros((len(rows), len(cols)))
  for i, y in enumerate(rows):
    for j, x in enumerate(cols):
      pooled[i, j] = np.mean([d[y:y + window[0], x:x + window[1]] for d in diffs])
  return pooled


def _np_motion_map(target, rate, window, stride, low=0.8, high=2.0):
  """REFERENCE §3 motion mode for ONE example: target [2T, H, W, C] -> [2T, H, W, C]."""
  num_frames, height, width, channels = target.shape
  clip_length = num_frames // 2
  per_chunk = num_frames // rate
  out = np.zeros(target.shape)
  for chunk in range(rate):
    picks = _np_selected_frames(clip_length, rate, chunk)
    for c in range(channels):
      pooled = _np_pooled_motion(target[picks, :, :, c], window, stride)
      if pooled.max() == pooled.min():
        full = np.ones((height, width))
      else:
        scaled = ((pooled - pooled.min() + 1e-6) / (pooled.max() - pooled.min() + 1e-6)
                  * (high - low) + low)
        full = _np_upsample_bilinear(scaled, height, width)
      out[chunk * per_chunk:(chunk + 1) * per_chunk, :, :, c] = full
  return out


def _np_gaussian_map(target, rate, window, stride, sigma):
  """PRP code's Gaussian mode (patch_region.py + predict_dataset.py) for ONE example."""
  num_frames, height, width, channels = target.shape
  per_chunk = num_frames // rate
  out = np.zeros(target.shape)
  for chunk in range(rate):
    a, b, c, d = target[_np_selected_frames(num_frames // 2, rate, chunk)]
    best, best_x, best_y, energies = 0.0, 0, 0, []
    x = 0
    while x <= height - window[0]:  # rows, as the code's current_x
      y = 0
      while y <= width - window[1]:
        patch = lambda f: f[x:x + window[0], y:y + window[1]]  # pylint: disable=cell-var-from-loop
        loss = sum(np.mean((patch(p) - patch(q)) ** 2) for p, q in ((a, b), (b, c), (c, d)))
        energies.append(loss)
        if loss >= best:
          best, best_x, best_y = loss, x, y
        y += stride[1]
      x += stride[0]
    if max(energies) == min(energies):
      full = np.ones((height, width))
    else:
      ux, uy = best_x + window[0] / 2, best_y + window[1] / 2
      fx = np.exp(-0.5 / sigma ** 2 * (np.arange(height)[:, None] - ux) ** 2)
      fy = np.exp(-0.5 / sigma ** 2 * (np.arange(width)[None, :] - uy) ** 2)
      fxy = fx @ fy
      full = 1.2 / (fxy.max() - fxy.min()) * (fxy - fxy.min()) + 0.8
    out[chunk * per_chunk:(chunk + 1) * per_chunk] = full[:, :, None]
  return out


def _map(target, rate_index, **kwargs):
  """`prp.motion_attention_map` for RATES, jitted (eager dispatch is slow on CPU)."""
  fn = jax.jit(lambda t, r: prp.motion_attention_map(t, r, RATES, **kwargs))
  return np.asarray(fn(jnp.asarray(target), jnp.asarray(rate_index)))


def _random_targets(batch, clip_length, size, seed=0, channels=3):
  rng = np.random.default_rng(seed)
  return rng.uniform(0, 1, (batch, 2 * clip_length, size, size, channels)).astype(np.float32)


# ------------------------------------------------------------------- tests ---

def test_chunk_frame_selection_matches_prp():
  np.testing.assert_array_equal(prp.chunk_frame_selection(16, 1), [[0, 10, 20, 30]])
  np.testing.assert_array_equal(prp.chunk_frame_selection(16, 2), [[0, 5, 10, 15],
                                                                   [16, 21, 26, 31]])
  np.testing.assert_array_equal(prp.chunk_frame_selection(16, 8)[1], [4, 5, 6, 7])
  for rate in RATES:
    for chunk, row in enumerate(prp.chunk_frame_selection(8, rate)):
      assert list(row) == _np_selected_frames(8, rate, chunk)
  with pytest.raises(ValueError, match="divisible"):
    prp.chunk_frame_selection(3, 4)


def test_default_pooling_is_prp_at_112():
  assert prp.default_pooling(112, 112) == ((28, 28), (7, 7))
  assert prp.default_pooling(32, 32) == ((8, 8), (2, 2))


def test_motion_map_matches_numpy_reference_on_random_frames():
  clip_length, size = 8, 32
  target = _random_targets(4, clip_length, size)
  rate_index = np.array([0, 1, 2, 3])
  got = _map(target, rate_index)
  assert got.shape == target.shape and got.dtype == np.float32
  for b in range(4):
    want = _np_motion_map(target[b].astype(np.float64), RATES[rate_index[b]], (8, 8), (2, 2))
    np.testing.assert_allclose(got[b], want, rtol=1e-4, atol=1e-5, err_msg=f"example {b}")
  assert got.min() >= 0.8 - 1e-5 and got.max() <= 2.0 + 1e-5


@pytest.mark.parametrize("rate_index", [0, 1])
def test_motion_map_matches_numpy_reference_at_prp_size(rate_index):
  """16 x 112 x 112 targets of 32 frames, (3, 28, 28) / (3, 7, 7) pooling -> 13 x 13."""
  target = _random_targets(1, 16, 112, seed=rate_index + 1)
  got = _map(target, np.array([rate_index]))
  want = _np_motion_map(target[0].astype(np.float64), RATES[rate_index], (28, 28), (7, 7))
  np.testing.assert_allclose(got[0], want, rtol=1e-4, atol=1e-5)


def test_motion_map_with_a_moving_square_peaks_on_it():
  target = np.zeros((1, 16, 32, 32, 3), np.float32)
  for j in range(16):
    target[0, j, 4:12, 2 + j:10 + j] = 1.0  # moves right 1 px per target frame
  got = _map(target, np.array([1]))
  assert got[0, 0, 8, 10, 0] > 1.5 > got[0, 0, 28, 28, 0]


def test_gaussian_map_matches_numpy_reference():
  clip_length, size = 8, 32
  target = _random_targets(3, clip_length, size, seed=3)
  target[:, :, 16:24, 4:12] += 3.0 * _random_targets(3, clip_length, 8, seed=4)  # a hot spot
  rate_index = np.array([0, 1, 3])
  got = _map(target, rate_index, mode="gaussian")
  for b in range(3):
    want = _np_gaussian_map(target[b].astype(np.float64), RATES[rate_index[b]],
                            (8, 8), (2, 2), sigma=4.0)
    np.testing.assert_allclose(got[b], want, rtol=1e-4, atol=1e-5, err_msg=f"example {b}")


@pytest.mark.parametrize("mode", ["motion", "gaussian", "uniform"])
def test_static_frames_give_all_ones(mode):
  frame = _random_targets(1, 1, 32)[0, :1]  # one random frame
  target = np.broadcast_to(frame, (2, 16, 32, 32, 3)).copy()
  got = _map(target, np.array([0, 3]), mode=mode)
  np.testing.assert_allclose(got, 1.0, atol=1e-6)
  assert np.all(np.isfinite(got))


def test_static_channel_alone_gets_ones():
  target = _random_targets(1, 8, 32)
  target[..., 2] = 0.5  # blue never changes
  got = _map(target, np.array([1]))
  np.testing.assert_allclose(got[..., 2], 1.0, atol=1e-6)
  assert got[..., 0].max() > 1.9


def test_map_has_no_gradient():
  target = jnp.asarray(_random_targets(1, 8, 32))
  grad = jax.jit(jax.grad(
      lambda t: jnp.sum(prp.motion_attention_map(t, jnp.array([1]), RATES))))(target)
  np.testing.assert_array_equal(grad, 0.0)


def test_weighted_reconstruction_loss_ignores_invalid_frames():
  rng = np.random.default_rng(0)
  pred, target, weights = (rng.uniform(0, 1, (2, 4, 3, 3, 3)).astype(np.float32)
                           for _ in range(3))
  valid = np.array([[1, 0, 1, 0], [1, 1, 1, 1]], np.float32)
  got = float(prp.weighted_reconstruction_loss(pred, target, weights, valid))
  per_example = [np.mean((weights[b] * (pred[b] - target[b]) ** 2)[valid[b] > 0])
                 for b in range(2)]
  np.testing.assert_allclose(got, np.mean(per_example), rtol=1e-6)
  pred[0, 1] += 100.0  # an invalid frame: no effect
  np.testing.assert_allclose(
      float(prp.weighted_reconstruction_loss(pred, target, weights, valid)), got, rtol=1e-6)


@pytest.mark.parametrize("weights", [(1.0, 0.1), (0.5, 2.0)])
def test_prp_loss_total_and_metrics(weights):
  rng = np.random.default_rng(1)
  target = _random_targets(4, 8, 32, seed=5)
  outputs = {"reconstruction": jnp.asarray(rng.uniform(0, 1, target.shape), jnp.float32),
             "rate_logits": jnp.asarray(rng.normal(size=(4, 4)), jnp.float32)}
  valid = np.stack([np.tile([1.0, 0.0], 8)] + [np.ones(16)] * 3).astype(np.float32)
  rate_index = np.array([0, 1, 2, 3])
  total, metrics = jax.jit(lambda o, t, v, r: prp.prp_loss(
      o, t, v, r, RATES, reconstruction_weight=weights[0], rate_weight=weights[1]))(
          outputs, target, valid, rate_index)
  mask = _map(target, rate_index)
  recon = prp.weighted_reconstruction_loss(outputs["reconstruction"], target, mask, valid)
  ce = np.mean(optax.softmax_cross_entropy_with_integer_labels(outputs["rate_logits"],
                                                               rate_index))
  np.testing.assert_allclose(metrics["reconstruction_loss"], recon, rtol=1e-5)
  np.testing.assert_allclose(metrics["rate_loss"], ce, rtol=1e-5)
  np.testing.assert_allclose(total, weights[0] * recon + weights[1] * ce, rtol=1e-5)
  want_accuracy = np.mean(np.argmax(outputs["rate_logits"], -1) == rate_index)
  np.testing.assert_allclose(metrics["rate_accuracy"], want_accuracy)


def test_shape_mismatch_and_bad_mode_raise():
  target = _random_targets(1, 8, 32)
  outputs = {"reconstruction": jnp.zeros((1, 8, 32, 32, 3)), "rate_logits": jnp.zeros((1, 4))}
  with pytest.raises(ValueError, match="multiple of 8"):
    prp.prp_loss(outputs, target, np.ones((1, 16)), np.zeros(1, int), RATES)
  with pytest.raises(ValueError, match="mask mode"):
    prp.motion_attention_map(target, np.zeros(1, int), RATES, mode="flow")
