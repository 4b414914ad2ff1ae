"""Tests for jvrl.losses.prp against slow NumPy references written from REFERENCE §3."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jvrl.losses import prp

RATES = (1, 2, 4, 8)


# ------------------------------------------------------ slow NumPy references ---

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


def _np_motion_map(motion, rate, num_frames, window, stride, low=0.8, high=2.0):
  """PRP's getPatchLossMask_DPAU for ONE example: the window's 4 frames per chunk
  motion [4 * max_rate, H, W, C] -> weights [num_frames, H, W, C]."""
  _, height, width, channels = motion.shape
  per_chunk = num_frames // rate
  out = np.zeros((num_frames, height, width, channels))
  for chunk in range(rate):
    frames = motion[4 * chunk:4 * chunk + 4]
    pooled = [_np_pooled_motion(frames[..., c], window, stride) for c in range(channels)]
    flat = [p.max() == p.min() for p in pooled]
    for c in range(channels):
      if all(flat):  # PRP: all three channels flat -> ones
        full = np.ones((height, width))
      else:  # a flat channel gets (0 + 1e-6) / (0 + 1e-6) -> high
        p = pooled[c]
        scaled = (p - p.min() + 1e-6) / (p.max() - p.min() + 1e-6) * (high - low) + low
        full = _np_upsample_bilinear(scaled, height, width)
      out[chunk * per_chunk:(chunk + 1) * per_chunk, :, :, c] = full
  return out


def _np_gaussian_map(motion, rate, num_frames, window, stride, sigma):
  """PRP code's Gaussian mode (patch_region.py + predict_dataset.py) for ONE example."""
  _, height, width, channels = motion.shape
  per_chunk = num_frames // rate
  out = np.zeros((num_frames, height, width, channels))
  for chunk in range(rate):
    a, b, c, d = motion[4 * chunk:4 * chunk + 4]
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


def _map(motion, rate_index, num_frames=16, **kwargs):
  """`prp.motion_attention_map` for RATES, jitted (eager dispatch is slow on CPU)."""
  fn = jax.jit(lambda m, r: prp.motion_attention_map(m, r, RATES, num_frames, **kwargs))
  return np.asarray(fn(jnp.asarray(motion), jnp.asarray(rate_index)))


def _random_frames(batch, num_frames, size, seed=0, channels=3):
  rng = np.random.default_rng(seed)
  return rng.uniform(0, 1, (batch, num_frames, size, size, channels)).astype(np.float32)


NUM_MOTION = 4 * max(RATES)


# ------------------------------------------------------------------- tests ---

def test_default_pooling_is_prp_at_112():
  assert prp.default_pooling(112, 112) == ((28, 28), (7, 7))
  assert prp.default_pooling(32, 32) == ((8, 8), (2, 2))


def test_motion_map_matches_numpy_reference_on_random_frames():
  motion = _random_frames(4, NUM_MOTION, 32)
  rate_index = np.array([0, 1, 2, 3])
  got = _map(motion, rate_index)
  assert got.shape == (4, 16, 32, 32, 3) and got.dtype == np.float32
  for b in range(4):
    want = _np_motion_map(motion[b].astype(np.float64), RATES[rate_index[b]], 16, (8, 8),
                          (2, 2))
    np.testing.assert_allclose(got[b], want, rtol=1e-4, atol=1e-5, err_msg=f"example {b}")
  assert got.min() >= 0.8 - 1e-5 and got.max() <= 2.0 + 1e-5


@pytest.mark.parametrize("rate_index", [0, 1])
def test_motion_map_matches_numpy_reference_at_prp_size(rate_index):
  """32 target frames of 112 x 112, (3, 28, 28) / (3, 7, 7) pooling -> 13 x 13."""
  motion = _random_frames(1, NUM_MOTION, 112, seed=rate_index + 1)
  got = _map(motion, np.array([rate_index]), num_frames=32)
  want = _np_motion_map(motion[0].astype(np.float64), RATES[rate_index], 32, (28, 28), (7, 7))
  np.testing.assert_allclose(got[0], want, rtol=1e-4, atol=1e-5)


def test_each_chunk_weights_its_own_target_frames_and_later_chunks_are_unused():
  """Rate 2: chunk 0's frames (rows 0-3) weight target frames 0-7, chunk 1's (rows 4-7)
  frames 8-15; rows beyond the rate's chunks are never read."""
  motion = np.zeros((1, NUM_MOTION, 32, 32, 3), np.float32)
  for k in range(4):
    motion[0, k, 2:10, 2 + 2 * k:10 + 2 * k] = 1.0  # chunk 0: motion top left
    motion[0, 4 + k, 20:28, 18 + 2 * k:26 + 2 * k] = 1.0  # chunk 1: bottom right
  got = _map(motion, np.array([1]))
  assert got[0, 0, 5, 8, 0] > 1.5 > got[0, 0, 24, 24, 0]
  assert got[0, 8, 24, 24, 0] > 1.5 > got[0, 8, 5, 8, 0]
  noisy = motion.copy()
  noisy[0, 8:] = _random_frames(1, NUM_MOTION - 8, 32)[0]
  np.testing.assert_array_equal(_map(noisy, np.array([1])), got)


def test_gaussian_map_matches_numpy_reference():
  motion = _random_frames(3, NUM_MOTION, 32, seed=3)
  motion[:, :, 16:24, 4:12] += 3.0 * _random_frames(3, NUM_MOTION, 8, seed=4)  # a hot spot
  rate_index = np.array([0, 1, 3])
  got = _map(motion, rate_index, mode="gaussian")
  for b in range(3):
    want = _np_gaussian_map(motion[b].astype(np.float64), RATES[rate_index[b]], 16,
                            (8, 8), (2, 2), sigma=4.0)
    np.testing.assert_allclose(got[b], want, rtol=1e-4, atol=1e-5, err_msg=f"example {b}")


@pytest.mark.parametrize("mode", ["motion", "gaussian", "uniform"])
def test_static_frames_give_all_ones(mode):
  frame = _random_frames(1, 1, 32)[0, :1]  # one random frame
  motion = np.broadcast_to(frame, (2, NUM_MOTION, 32, 32, 3)).copy()
  got = _map(motion, np.array([0, 3]), mode=mode)
  np.testing.assert_allclose(got, 1.0, atol=1e-6)
  assert np.all(np.isfinite(got))


def test_a_flat_channel_next_to_moving_ones_gets_the_maximum_weight():
  """PRP's getPatchLossMask_DPAU: only when ALL channels are flat is the map ones; a
  flat channel otherwise gets (x - min + 1e-6) / (0 + 1e-6) -> 2.0."""
  motion = _random_frames(1, NUM_MOTION, 32)
  motion[..., 2] = 0.5  # blue never changes
  got = _map(motion, np.array([1]))
  np.testing.assert_allclose(got[..., 2], 2.0, rtol=1e-6)
  assert got[..., 0].min() < 1.0 and got[..., 0].max() > 1.9


def test_map_has_no_gradient():
  motion = jnp.asarray(_random_frames(1, NUM_MOTION, 32))
  grad = jax.jit(jax.grad(
      lambda m: jnp.sum(prp.motion_attention_map(m, jnp.array([1]), RATES, 16))))(motion)
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
  target = _random_frames(4, 16, 32, seed=5)
  motion = _random_frames(4, NUM_MOTION, 32, seed=6)
  outputs = {"reconstruction": jnp.asarray(rng.uniform(0, 1, target.shape), jnp.float32),
             "rate_logits": jnp.asarray(rng.normal(size=(4, 4)), jnp.float32)}
  valid = np.stack([np.tile([1.0, 0.0], 8)] + [np.ones(16)] * 3).astype(np.float32)
  rate_index = np.array([0, 1, 2, 3])
  total, metrics = jax.jit(lambda o, t, v, m, r: prp.prp_loss(
      o, t, v, m, r, RATES, reconstruction_weight=weights[0], rate_weight=weights[1]))(
          outputs, target, valid, motion, rate_index)
  mask = _map(motion, rate_index)
  recon = prp.weighted_reconstruction_loss(outputs["reconstruction"], target, mask, valid)
  ce = np.mean(optax.softmax_cross_entropy_with_integer_labels(outputs["rate_logits"],
                                                               rate_index))
  np.testing.assert_allclose(metrics["reconstruction_loss"], recon, rtol=1e-5)
  np.testing.assert_allclose(metrics["rate_loss"], ce, rtol=1e-5)
  np.testing.assert_allclose(total, weights[0] * recon + weights[1] * ce, rtol=1e-5)
  want_accuracy = np.mean(np.argmax(outputs["rate_logits"], -1) == rate_index)
  np.testing.assert_allclose(metrics["rate_accuracy"], want_accuracy)


def test_shape_mismatch_and_bad_mode_raise():
  target = _random_frames(1, 16, 32)
  motion = _random_frames(1, NUM_MOTION, 32)
  outputs = {"reconstruction": jnp.zeros((1, 8, 32, 32, 3)), "rate_logits": jnp.zeros((1, 4))}
  with pytest.raises(ValueError, match="multiple of 8"):
    prp.prp_loss(outputs, target, np.ones((1, 16)), motion, np.zeros(1, int), RATES)
  with pytest.raises(ValueError, match="mask mode"):
    prp.motion_attention_map(motion, np.zeros(1, int), RATES, 16, mode="flow")
  with pytest.raises(ValueError, match="4 frames per chunk"):
    prp.motion_attention_map(motion[:, :8], np.zeros(1, int), RATES, 16)
