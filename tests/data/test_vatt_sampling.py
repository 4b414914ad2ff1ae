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
