"""FAME: the foreground mask against a NumPy reference of FAME's code, the merge, a
moving object on a static background, and the augmentation on 1 and 8 devices."""
import colorsys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from configs import fame_synthetic
from jvrl.objectives import check_objective_config
from jvrl.objectives import fame


def _numpy_blur(maps, kernel_size):
  radius = kernel_size // 2
  taps = np.arange(-radius, radius + 1)
  g = np.exp(-taps ** 2 / (2 * (kernel_size / 3) ** 2))
  g = g / g.sum()
  padded = np.pad(maps, radius, mode="reflect")
  height, width = maps.shape
  return np.array([[np.sum(np.outer(g, g) * padded[y:y + kernel_size, x:x + kernel_size])
                    for x in range(width)] for y in range(height)])


def _numpy_normalize(m):
  m = m - m.min()
  return m / (m.max() + 1e-8)


def numpy_color_codes(frame):
  """The colour code of every pixel of [H, W, 3], and its distance to a rounding edge."""
  codes, margins = [], []
  for r, g, b in frame.reshape(-1, 3):
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    parts = np.array([(s * np.cos(2 * np.pi * h) + 1) / 2 * 9,
                      (s * np.sin(2 * np.pi * h) + 1) / 2 * 9, v * 9])
    x, y, z = np.round(parts)
    codes.append(int(x + 10 * y + 100 * z))
    margins.append(np.min(np.abs(parts - np.floor(parts) - 0.5)))
  return np.array(codes), np.array(margins)


def numpy_fame_scores(clip, refine, codes):
  """FAME's getmask/getSeg before the final top-k, one clip [T, H, W, 3] (float64), with
  the colour codes of its mean frame given (`numpy_color_codes`)."""
  _, height, width, _ = clip.shape
  pixels = height * width
  kernel_size = int(0.1 * height) // 2 * 2 + 1
  scores = _numpy_normalize(_numpy_blur(np.abs(clip[:-1] - clip[1:]).sum(-1).mean(0),
                                        kernel_size))
  if refine:
    flat = scores.ravel()
    fg = np.argsort(-flat, kind="stable")[:int(0.5 * pixels)]
    bg = np.argsort(flat, kind="stable")[:int(0.1 * pixels)]
    hist_fg = np.bincount(codes[fg], minlength=1000).astype(float)
    hist_bg = np.bincount(codes[bg], minlength=1000) + 1.0
    hist_fg, hist_bg = hist_fg / hist_fg.sum(), hist_bg / hist_bg.sum()
    ratio = hist_fg[codes] / (hist_bg[codes] + hist_fg[codes])
    scores = _numpy_normalize(_numpy_blur(ratio.reshape(height, width), kernel_size))
  return scores


def _random_clips(batch=4, frames=4, size=20, seed=0):
  rng = np.random.default_rng(seed)
  return rng.integers(0, 256, (batch, frames, size, size, 3)).astype(np.float32) / 255.0


@pytest.mark.parametrize("refine", [False, True])
def test_scores_match_numpy_reference_and_the_mask_is_their_top_fraction(refine):
  clips = _random_clips()
  scores = np.asarray(fame.foreground_scores(jnp.asarray(clips), refine))
  codes = np.asarray(fame.color_codes(jnp.asarray(clips.mean(axis=1))))
  for clip, got, clip_codes in zip(clips, scores, codes):
    want_codes, margins = numpy_color_codes(clip.mean(0).astype(np.float64))
    clear = margins > 1e-4  # float32 may round the other way right at an edge
    np.testing.assert_array_equal(clip_codes[clear], want_codes[clear])
    np.testing.assert_allclose(
        got, numpy_fame_scores(clip.astype(np.float64), refine, clip_codes), atol=2e-5)
  masks = np.asarray(fame.foreground_mask(jnp.asarray(clips), 0.3, refine))
  for got, mask in zip(scores, masks):
    assert mask.sum() == int(0.3 * 20 * 20)
    assert got[mask == 1].min() >= got[mask == 0].max()


def test_mask_finds_a_moving_object_on_a_static_background():
  background = np.zeros((1, 1, 32, 32, 3))
  background[..., :16, :] = [0.2, 0.3, 0.7]  # two flat colours (FAME's colour histograms
  background[..., 16:, :] = [0.3, 0.6, 0.3]  # separate the object from them)
  clips = np.repeat(background, 6, axis=1).copy()
  for t in range(6):  # a bright 6x6 square moving right
    clips[0, t, 10:16, 4 + 3 * t:10 + 3 * t] = [1.0, 0.1, 0.1]
  for refine in (False, True):
    mask = np.asarray(fame.foreground_mask(jnp.asarray(clips, jnp.float32), 0.1, refine))[0]
    near_path = np.zeros((32, 32), bool)
    near_path[8:18, 2:27] = True  # the square's path, widened by the blur
    assert mask.sum() == int(0.1 * 32 * 32) and mask[~near_path].sum() == 0


def test_merge_keeps_the_foreground_and_takes_the_partners_background():
  clips = _random_clips(batch=3)
  mask = np.zeros((3, 20, 20), np.float32)
  mask[:, :10] = 1.0
  merged = np.asarray(fame.merge(jnp.asarray(clips), jnp.asarray(mask), jnp.array([2, 0, 1])))
  np.testing.assert_array_equal(merged[:, :, :10], clips[:, :, :10])
  np.testing.assert_array_equal(merged[:, :, 10:], clips[[2, 0, 1], :, 10:])


def _augment(config):
  return fame.build_batch_augmentation(config)


def test_augmentation_on_1_and_8_devices_and_uint8_in_uint8_out():
  config = fame_synthetic.get_config()
  augment = _augment(config)
  clips = np.round(_random_clips(batch=8, size=32) * 255).astype(np.uint8)
  batch = {"view1": clips, "view2": clips[::-1].copy()}
  key = jax.random.key(3)
  single = jax.jit(augment)(batch, key)
  mesh = Mesh(np.array(jax.devices()[:8]), ("data",))
  sharded = jax.device_put(batch, NamedSharding(mesh, PartitionSpec("data")))
  multi = jax.jit(augment)(sharded, key)
  assert multi["view1"].sharding.num_devices == 8
  assert single["view1"].dtype == np.uint8
  np.testing.assert_array_equal(np.asarray(multi["view1"]), np.asarray(single["view1"]))
  np.testing.assert_array_equal(np.asarray(single["view2"]), batch["view2"])
  # Every merged pixel comes from its own clip or from one partner of the batch.
  merged = np.asarray(single["view1"])
  assert not np.array_equal(merged, clips)
  for i in range(8):
    own = np.all(merged[i] == clips[i], axis=(0, 3))
    partner = [j for j in range(8) if np.all(merged[i][:, ~own] == clips[j][:, ~own])]
    assert own.sum() >= int(0.5 * 32 * 32) and partner


@pytest.mark.parametrize("field, value, message", [
    ("beta", 0.0, "beta"), ("color_refinement", "yes", "color_refinement"),
    ("keys", "view1", "keys")])
def test_bad_fame_config_raises(tiny_cvrl_config, field, value, message):
  config = tiny_cvrl_config
  config.device_augment = ("fame",)
  config.fame = dict(fame_synthetic.get_config().fame.to_dict(), **{field: value})
  with pytest.raises(ValueError, match=message):
    check_objective_config(config)
