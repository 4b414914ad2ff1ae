"""Audio windows aligned with clips, and caption selection."""
import numpy as np
import pytest

from jvrl.data import vatt_sampling
from jvrl.data.tf_setup import tf


def test_num_audio_samples_covers_the_clip_span():
  assert vatt_sampling.num_audio_samples(32, 1, 10.0, 48000) == 153_600  # VATT: 3.2 s
  assert vatt_sampling.num_audio_samples(8, 2, 10.0, 8000) == 12_800
  with pytest.raises(ValueError):
    vatt_sampling.num_audio_samples(8, 2, 0.0, 8000)


def test_window_starts_at_the_clip_start_time():
  waveform = tf.range(2000, dtype=tf.float32)  # sample i has value i
  # Frame 7 at 25 fps = 0.28 s = sample 224 at 800 Hz.
  window, present = vatt_sampling.aligned_audio_window(waveform, 7, 64, 25.0, 800)
  np.testing.assert_array_equal(window.numpy(), np.arange(224, 288))
  assert bool(present)
  assert int(vatt_sampling.audio_window_start(tf.constant(3), 3.0, 1000)) == 1000


def test_window_is_zero_padded_past_the_end_and_absent_without_audio():
  window, present = vatt_sampling.aligned_audio_window(
      tf.ones([100]), tf.constant(9), 50, 10.0, 100)  # starts at sample 90
  np.testing.assert_array_equal(window.numpy(), np.r_[np.ones(10), np.zeros(40)])
  assert bool(present)
  window, present = vatt_sampling.aligned_audio_window(tf.zeros([0]), 0, 50, 10.0, 100)
  assert window.shape == (50,) and not bool(present) and not window.numpy().any()


def test_select_captions_pads_and_samples_subsets():
  captions = tf.constant([b"c0", b"c1", b"c2", b"c3", b"c4"])
  first, mask = vatt_sampling.select_captions(captions, 3)
  assert first.numpy().tolist() == [b"c0", b"c1", b"c2"] and mask.numpy().all()
  padded, mask = vatt_sampling.select_captions(captions[:2], 4)
  assert padded.numpy().tolist() == [b"c0", b"c1", b"", b""]
  assert mask.numpy().tolist() == [True, True, False, False]
  none, mask = vatt_sampling.select_captions(tf.constant([], tf.string), 2)
  assert none.numpy().tolist() == [b"", b""] and not mask.numpy().any()
  subsets = {tuple(vatt_sampling.select_captions(captions, 3, tf.constant([s, 1])
                                                 )[0].numpy().tolist()) for s in range(20)}
  assert len(subsets) > 5 and all(len(set(s)) == 3 for s in subsets)  # random, no repeats
  again = vatt_sampling.select_captions(captions, 3, tf.constant([4, 1]))[0]
  assert again.numpy().tolist() == vatt_sampling.select_captions(
      captions, 3, tf.constant([4, 1]))[0].numpy().tolist()  # stateless


def nearest_candidates_reference(starts, ends, center, k):
  """First index of MIL-NCE's K-sentence window around `center`: grow one sentence at a
  time on the side that keeps the window's span (last end - first start) shortest,
  right on ties; at an end of the video, grow on the other side."""
  low = high = center
  for _ in range(min(k, len(starts)) - 1):
    if low == 0:
      high += 1
    elif high == len(starts) - 1:
      low -= 1
    elif ends[high] - starts[low - 1] < ends[high + 1] - starts[low]:
      low -= 1
    else:
      high += 1
  return low, high


def test_timed_bag_is_the_clips_sentence_and_its_nearest_neighbours():
  rng = np.random.default_rng(0)
  for trial in range(40):
    count = int(rng.integers(1, 12))
    gaps = rng.uniform(0.0, 3.0, count)
    lengths = rng.uniform(0.5, 6.0, count)
    starts = np.cumsum(gaps + np.r_[0.0, lengths[:-1]])
    ends = starts + lengths
    center, k = int(rng.integers(0, count)), int(rng.integers(1, 7))
    texts = [f"s{i}".encode() for i in range(count)]
    bag, real = vatt_sampling.timed_caption_bag(
        texts, (starts * 1e6).astype(np.int64), (ends * 1e6).astype(np.int64),
        starts[center] + 0.1, ends[center] - 0.1, k)
    low, high = nearest_candidates_reference(starts, ends, center, k)
    expected = texts[low:high + 1]
    assert bag.numpy().tolist() == expected + [b""] * (k - len(expected)), trial
    assert real.numpy().tolist() == [True] * len(expected) + [False] * (k - len(expected))


def test_timed_bag_picks_the_most_overlapping_or_nearest_sentence():
  texts = [b"a", b"b", b"c", b"d"]
  starts = np.array([0, 2_000_000, 5_000_000, 9_000_000], np.int64)
  ends = np.array([2_000_000, 4_000_000, 8_000_000, 10_000_000], np.int64)

  def center(clip_start, clip_end):
    return vatt_sampling.timed_caption_bag(texts, starts, ends, clip_start, clip_end,
                                           1)[0].numpy().tolist()

  assert center(1.5, 3.5) == [b"b"]   # 0.5 s in a, 1.5 s in b
  assert center(4.6, 4.8) == [b"c"]   # in the gap: b ended 0.6 s before, c starts 0.2 s after
  assert center(4.05, 4.3) == [b"b"]
  assert center(11.0, 12.0) == [b"d"]  # after the last sentence
  # Unsorted sentences are put in time order first.
  shuffled = [3, 0, 2, 1]
  bag, _ = vatt_sampling.timed_caption_bag([texts[i] for i in shuffled], starts[shuffled],
                                           ends[shuffled], 5.5, 6.0, 3)
  assert bag.numpy().tolist() == [b"b", b"c", b"d"]
  empty, real = vatt_sampling.timed_caption_bag(tf.constant([], tf.string),
                                                tf.zeros([0], tf.int64),
                                                tf.zeros([0], tf.int64), 0.0, 1.0, 2)
  assert empty.numpy().tolist() == [b"", b""] and not real.numpy().any()


def test_captions_without_times_keep_the_video_level_selection():
  captions = tf.constant([b"c0", b"c1", b"c2", b"c3"])
  untimed = tf.constant([-1, -1, -1, -1], tf.int64)
  seed = tf.constant([3, 1])
  chosen, mask = vatt_sampling.select_clip_captions(captions, untimed, untimed, 12, 8, 10.0, 3,
                                                    seed)
  expected, expected_mask = vatt_sampling.select_captions(captions, 3, seed)
  assert chosen.numpy().tolist() == expected.numpy().tolist()
  assert mask.numpy().tolist() == expected_mask.numpy().tolist()
  # With times: frame 12 at 10 fps, 8 frames = [1.2 s, 2.0 s) -> the second sentence.
  starts = tf.constant([0, 1_000_000, 2_000_000, 3_000_000], tf.int64)
  chosen, _ = vatt_sampling.select_clip_captions(captions, starts, starts + 1_000_000, 12, 8,
                                                 10.0, 1, seed)
  assert chosen.numpy().tolist() == [b"c1"]
