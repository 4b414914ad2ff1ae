"""Tests for jvrl.data.sampling: CVRL's gap distribution, clip starts and indices."""
import numpy as np
import pytest
from scipy import stats

from jvrl.data import sampling
from jvrl.data.tf_setup import tf

NUM_DRAWS = 20_000  # for the gap distribution itself
NUM_START_DRAWS = 8_000  # tf.data runs ~15k tiny maps/s here: keep the suite fast


def _draw_many(fn, num_draws: int = NUM_DRAWS) -> np.ndarray:
  """fn(seed) for seeds (7, 0..num_draws-1), run as a tf.data map (graph mode)."""
  dataset = tf.data.Dataset.range(num_draws).map(
      lambda i: fn(tf.stack([tf.constant(7, tf.int64), i])),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return next(iter(dataset.batch(num_draws))).numpy()


def _gap_pmf(max_gap: int) -> np.ndarray:
  """P(k = j), j = 0..M-1, of the floored linearly decreasing gap."""
  j = np.arange(max_gap)
  return (2.0 * (max_gap - j) - 1.0) / max_gap**2


@pytest.mark.parametrize("num_frames,clip_length,stride,expected", [
    (100, 8, 2, 86), (15, 8, 2, 1), (14, 8, 2, 14), (5, 8, 2, 5), (30, 1, 4, 30), (40, 16, 1, 25),
])
def test_cvrl_max_gap(num_frames, clip_length, stride, expected):
  assert int(sampling.cvrl_max_gap(num_frames, clip_length, stride)) == expected


def test_gap_follows_linear_density():
  max_gap = 50
  gaps = _draw_many(lambda seed: sampling.sample_cvrl_gap(max_gap, seed))
  assert gaps.min() >= 0 and gaps.max() <= max_gap - 1
  observed = np.bincount(gaps, minlength=max_gap)
  expected = _gap_pmf(max_gap) * NUM_DRAWS
  assert stats.chisquare(observed, expected).pvalue > 1e-4
  # Mean of the continuous gap is M/3; flooring lowers it by ~1/2.
  mean_expected = max_gap / 3 - 0.5 + 1 / (6 * max_gap)
  assert abs(gaps.mean() - max_gap / 3) < 1.0
  assert abs(gaps.mean() - mean_expected) < 4 * gaps.std() / np.sqrt(NUM_DRAWS)
  # Near gaps are more likely than far ones (the point of the distribution).
  assert observed[:10].sum() > 3 * observed[-10:].sum()


def test_cvrl_clip_starts_long_video():
  num_frames, clip_length, stride = 44, 8, 2
  max_gap = num_frames - (clip_length - 1) * stride  # 30
  starts = _draw_many(
      lambda seed: sampling.sample_cvrl_clip_starts(num_frames, clip_length, stride, seed),
      NUM_START_DRAWS)
  assert starts.shape == (NUM_START_DRAWS, 2) and starts.dtype == np.int32
  # Both clips lie inside the video: start in [0, M).
  assert starts.min() >= 0 and starts.max() <= max_gap - 1
  gaps = np.abs(starts[:, 1] - starts[:, 0])
  observed = np.bincount(gaps, minlength=max_gap)
  assert len(observed) == max_gap
  assert stats.chisquare(observed, _gap_pmf(max_gap) * NUM_START_DRAWS).pvalue > 1e-4
  # Random order: start2 > start1 about half the time (gap 0 has no order).
  nonzero = gaps > 0
  later_first = np.mean(starts[nonzero, 0] > starts[nonzero, 1])
  assert abs(later_first - 0.5) < 4 * 0.5 / np.sqrt(nonzero.sum())
  # Given the gap, the earlier start is uniform on [0, M - k): check k = 0.
  zero_gap_starts = starts[gaps == 0, 0]
  assert zero_gap_starts.max() == max_gap - 1 and zero_gap_starts.min() == 0


def test_cvrl_clip_starts_short_video_draws_independently():
  num_frames, clip_length, stride = 10, 8, 2  # span 15 > 10 frames
  starts = _draw_many(
      lambda seed: sampling.sample_cvrl_clip_starts(num_frames, clip_length, stride, seed),
      NUM_START_DRAWS)
  assert starts.min() >= 0 and starts.max() <= num_frames - 1
  pair_counts = np.bincount(starts[:, 0] * num_frames + starts[:, 1], minlength=num_frames**2)
  # Independent uniform starts: every pair equally likely (incl. far-apart ones).
  assert stats.chisquare(pair_counts).pvalue > 1e-4


def test_cvrl_clip_starts_boundary_lengths():
  seeds = [tf.constant([0, i]) for i in range(20)]
  # L = (T-1)*s + 1: exactly one valid start, M = 1, gap 0.
  for seed in seeds:
    np.testing.assert_array_equal(sampling.sample_cvrl_clip_starts(15, 8, 2, seed), [0, 0])
  # L = (T-1)*s: too short, independent starts in [0, L).
  short = np.stack([sampling.sample_cvrl_clip_starts(14, 8, 2, s).numpy() for s in seeds])
  assert short.min() >= 0 and short.max() <= 13 and len(np.unique(short)) > 3


def test_cvrl_clip_starts_deterministic_and_seed_dependent():
  first = [sampling.sample_cvrl_clip_starts(200, 8, 2, tf.constant([3, i])).numpy()
           for i in range(10)]
  again = [sampling.sample_cvrl_clip_starts(200, 8, 2, tf.constant([3, i], tf.int64)).numpy()
           for i in range(10)]
  np.testing.assert_array_equal(first, again)
  assert len({tuple(s) for s in first}) > 5


def test_cvrl_clip_starts_dynamic_num_frames_in_dataset():
  lengths = tf.data.Dataset.from_tensor_slices(tf.constant([5, 40, 300], tf.int64))
  dataset = lengths.map(lambda n: (n, sampling.sample_cvrl_clip_starts(
      n, 8, 2, tf.stack([tf.constant(1, tf.int64), n]))))
  for num_frames, starts in dataset.as_numpy_iterator():
    assert starts.shape == (2,)
    assert np.all(starts >= 0) and np.all(starts < num_frames)


@pytest.mark.parametrize("start,clip_length,stride,num_frames", [
    (0, 8, 2, 100), (5, 8, 2, 12), (3, 4, 1, 3), (0, 16, 4, 1), (90, 8, 3, 100),
])
def test_clip_frame_indices_tile(start, clip_length, stride, num_frames):
  indices = sampling.clip_frame_indices(start, clip_length, stride, num_frames).numpy()
  expected = [(start + i * stride) % num_frames for i in range(clip_length)]
  np.testing.assert_array_equal(indices, expected)
  assert indices.dtype == np.int32


def test_sample_uniform_clip_start():
  starts = _draw_many(lambda seed: sampling.sample_uniform_clip_start(30, 4, 3, seed), 4000)
  # Valid starts: 0..30-9-1 = 0..20, all equally likely.
  counts = np.bincount(starts, minlength=21)
  assert len(counts) == 21
  assert stats.chisquare(counts).pvalue > 1e-4
  for i in range(5):
    assert int(sampling.sample_uniform_clip_start(5, 4, 3, tf.constant([0, i]))) == 0


@pytest.mark.parametrize("num_frames,clip_length,stride,num_clips", [
    (100, 8, 2, 10), (47, 4, 3, 3), (16, 8, 2, 4), (300, 16, 2, 2),
])
def test_evenly_spaced_clip_starts_cover_video(num_frames, clip_length, stride, num_clips):
  starts = sampling.evenly_spaced_clip_starts(num_frames, clip_length, stride, num_clips).numpy()
  last_start = num_frames - 1 - (clip_length - 1) * stride
  assert starts.shape == (num_clips,)
  assert starts[0] == 0 and starts[-1] == last_start  # first frame ... last frame
  steps = np.diff(starts)
  assert np.all(steps >= 0) and steps.max() - steps.min() <= 1  # even spacing
  ends = [sampling.clip_frame_indices(s, clip_length, stride, num_frames).numpy()[-1]
          for s in starts]
  assert max(ends) == num_frames - 1


def test_evenly_spaced_clip_starts_single_and_short():
  np.testing.assert_array_equal(sampling.evenly_spaced_clip_starts(100, 8, 2, 1), [43])
  np.testing.assert_array_equal(sampling.evenly_spaced_clip_starts(10, 8, 2, 4), [0, 0, 0, 0])
  indices = sampling.clip_frame_indices(0, 8, 2, 10).numpy()
  np.testing.assert_array_equal(indices, [0, 2, 4, 6, 8, 0, 2, 4])


def test_bad_arguments_raise():
  seed = tf.constant([0, 0])
  with pytest.raises(ValueError, match="clip_length"):
    sampling.sample_cvrl_clip_starts(10, 0, 2, seed)
  with pytest.raises(ValueError, match="stride"):
    sampling.clip_frame_indices(0, 8, 0, 10)
  with pytest.raises(ValueError, match="num_frames"):
    sampling.cvrl_max_gap(0, 8, 2)
  with pytest.raises(ValueError, match="seed"):
    sampling.sample_uniform_clip_start(10, 2, 2, tf.constant([1, 2, 3]))
  with pytest.raises(ValueError, match="seed"):
    sampling.sample_cvrl_gap(10, tf.constant([1.0, 2.0]))
  with pytest.raises(ValueError, match="num_clips"):
    sampling.evenly_spaced_clip_starts(10, 2, 2, 0)
  with pytest.raises(tf.errors.InvalidArgumentError, match="num_frames"):
    sampling.clip_frame_indices(0, 8, 2, tf.Variable(0))
