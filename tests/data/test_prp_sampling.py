"""Tests for jvrl.data.prp_sampling: rates, target alignment, validity mask, short videos."""
import numpy as np
import pytest

from jvrl.data import prp_sampling
from jvrl.data.tf_setup import tf

RATES = (1, 2, 4, 8)


def _np(d):
  return {k: np.asarray(v) for k, v in d.items()}


def _sample(num_frames, seed, clip_length=4, rates=RATES, **kwargs):
  return _np(prp_sampling.sample_prp_clip(
      tf.constant(num_frames), clip_length, rates, tf.constant(seed, tf.int64), **kwargs))


@pytest.mark.parametrize("rate", RATES)
def test_frame_indices_match_the_definition(rate):
  """Target j at start + j*s/2 (floored), real iff j*s even; input = target[0::2]."""
  t, start = 4, 5
  got = _np(prp_sampling.prp_frame_indices(start, rate, t, 1, 1000))
  want_target = [start + j * rate // 2 for j in range(2 * t)]
  want_valid = [float(j * rate % 2 == 0) for j in range(2 * t)]
  np.testing.assert_array_equal(got["target_indices"], want_target)
  np.testing.assert_array_equal(got["target_valid"], want_valid)
  np.testing.assert_array_equal(got["input_indices"], [start + i * rate for i in range(t)])
  # Alignment: even target positions ARE the input frames.
  np.testing.assert_array_equal(got["target_indices"][0::2], got["input_indices"])
  # 2x slow motion: consecutive real target frames are s/2 apart (s >= 2).
  if rate > 1:
    np.testing.assert_array_equal(np.diff(got["target_indices"]), rate // 2)
  assert got["target_valid"].dtype == np.float32


def test_rate_one_has_missing_odd_frames():
  got = _np(prp_sampling.prp_frame_indices(3, 1, 4, 1, 100))
  np.testing.assert_array_equal(got["target_valid"], [1, 0, 1, 0, 1, 0, 1, 0])
  np.testing.assert_array_equal(got["target_indices"], [3, 3, 4, 4, 5, 5, 6, 6])
  assert prp_sampling.target_validity(4, 1) == (1.0, 0.0) * 4
  assert prp_sampling.target_validity(4, 2) == (1.0,) * 8


def test_base_stride_two_makes_every_rate_one_frame_real():
  got = _np(prp_sampling.prp_frame_indices(0, 1, 4, 2, 100))
  np.testing.assert_array_equal(got["target_indices"], range(8))
  np.testing.assert_array_equal(got["target_valid"], np.ones(8))
  np.testing.assert_array_equal(got["input_indices"], [0, 2, 4, 6])


def test_target_span_and_window():
  # PRP, T = 16: rate 1 uses 16 frames, rate s >= 2 uses 16*s - s/2 + 1 (~16*s).
  assert [prp_sampling.target_span(16, s) for s in RATES] == [16, 32, 63, 125]
  assert prp_sampling.target_span(8, 4, base_stride=2) == 61
  # The window PRP decodes (loadcvvideo_Finsert: 16*s frames) holds the target.
  assert [prp_sampling.window_span(16, s) for s in RATES] == [16, 32, 64, 128]


def test_motion_frames_are_0_5_10_15_of_each_16_frame_chunk_of_the_window():
  """PRP's __getitem__: clip16 = window[16i:16(i+1)], frames {0, 5, 10, 15} of it."""
  for rate in RATES:
    want = np.concatenate([16 * c + np.array([0, 5, 10, 15]) for c in range(rate)])
    np.testing.assert_array_equal(prp_sampling.motion_frame_offsets(16, rate), want)
  np.testing.assert_array_equal(prp_sampling.motion_frame_offsets(8, 2), [0, 2, 5, 7,
                                                                          8, 10, 13, 15])
  np.testing.assert_array_equal(prp_sampling.motion_frame_offsets(16, 1, num_chunks=2),
                                [0, 5, 10, 15, 0, 5, 10, 15])  # padding repeats chunk 0
  for i in range(40):
    got = _sample(300, [9, i], clip_length=16)
    rate = RATES[got["rate_index"]]
    assert got["motion_indices"].shape == (32,)
    np.testing.assert_array_equal(got["motion_indices"][:4 * rate],
                                  got["start"] + prp_sampling.motion_frame_offsets(16, rate))
    # Rates 4 and 8 use window frames that are not target frames (every 2nd / 4th).
    assert got["motion_indices"].max() <= 299


def test_long_videos_stay_inside_and_cover_every_rate_uniformly():
  counts = np.zeros(len(RATES))
  for i in range(400):
    got = _sample(200, [7, i], clip_length=8)
    rate = RATES[got["rate_index"]]
    assert got["rate"] == rate
    counts[got["rate_index"]] += 1
    assert 0 <= got["start"] <= 200 - prp_sampling.window_span(8, rate)
    np.testing.assert_array_equal(got["target_indices"],
                                  got["start"] + np.arange(16) * rate // 2)
  # 400 draws, 4 rates: each ~100 (5-sigma bounds).
  assert counts.min() > 60 and counts.max() < 140, counts


def test_same_seed_same_sample_and_seed_dtypes_agree():
  a = _sample(50, [1, 2])
  b = _sample(50, [1, 2])
  c = _np(prp_sampling.sample_prp_clip(50, 4, RATES, tf.constant([1, 2], tf.int32)))
  for key in a:
    np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(a[key], c[key])
  samples = {tuple(_sample(50, [1, i])["target_indices"]) for i in range(20)}
  assert len(samples) > 5  # different seeds, different clips


def test_short_videos_loop_deterministically():
  # 10 frames; rate 8 with T = 4 needs 32: the positions wrap around, start 0.
  for i in range(40):
    got = _sample(10, [3, i], short_videos="loop")
    rate = RATES[got["rate_index"]]
    if prp_sampling.window_span(4, rate) > 10:
      assert got["start"] == 0
    np.testing.assert_array_equal(
        got["target_indices"], (got["start"] + np.arange(8) * rate // 2) % 10)
    assert got["target_indices"].max() < 10
  # Every rate remains possible on a short video.
  seen = {int(_sample(10, [3, i], short_videos="loop")["rate_index"]) for i in range(60)}
  assert seen == {0, 1, 2, 3}


def test_short_videos_fitting_rates_only_uses_rates_that_fit():
  # 16 frames, T = 4: windows 4, 8, 16, 32 -> rates 1, 2, 4 fit.
  seen = set()
  for i in range(60):
    got = _sample(16, [4, i], short_videos="fitting_rates")
    seen.add(int(got["rate_index"]))
    assert got["target_indices"].max() <= 15
    assert got["target_indices"].min() >= 0
  assert seen == {0, 1, 2}
  # Too short for any rate: the smallest rate, looping.
  got = _sample(3, [4, 0], short_videos="fitting_rates")
  assert got["rate_index"] == 0 and got["start"] == 0
  np.testing.assert_array_equal(got["target_indices"], [0, 0, 1, 1, 2, 2, 0, 0])


def test_works_inside_tf_function_with_dynamic_length():
  fn = tf.function(lambda n, s: prp_sampling.sample_prp_clip(n, 4, RATES, s),
                   input_signature=[tf.TensorSpec([], tf.int32), tf.TensorSpec([2], tf.int64)])
  got = _np(fn(tf.constant(77), tf.constant([0, 1], tf.int64)))
  assert got["input_indices"].shape == (4,) and got["target_indices"].shape == (8,)


def test_fill_missing_frames_averages_neighbours():
  clip = tf.reshape(tf.range(6 * 2, dtype=tf.float32), [6, 1, 2, 1])  # frame k = [2k, 2k+1]
  valid = tf.constant([1, 0, 1, 0, 1, 0], tf.float32)
  got = np.asarray(prp_sampling.fill_missing_frames(clip, valid))[:, 0, :, 0]
  np.testing.assert_array_equal(got, [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [8, 9]])
  everything = tf.ones([3], tf.float32)
  np.testing.assert_array_equal(prp_sampling.fill_missing_frames(clip[:3], everything), clip[:3])


@pytest.mark.parametrize("rates", [(1,), (2, 1), (1, 1, 2), (0, 1), (1.0, 2)])
def test_bad_rates_raise(rates):
  with pytest.raises(ValueError, match="rates"):
    prp_sampling.sample_prp_clip(10, 4, rates, tf.constant([0, 0], tf.int64))


def test_bad_arguments_raise():
  with pytest.raises(ValueError, match="short_videos"):
    prp_sampling.sample_prp_clip(10, 4, RATES, tf.constant([0, 0], tf.int64), short_videos="x")
  with pytest.raises(ValueError, match="clip_length"):
    prp_sampling.sample_prp_clip(10, 0, RATES, tf.constant([0, 0], tf.int64))
