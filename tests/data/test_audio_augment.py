"""VATT's relative Gaussian audio noise."""
import numpy as np

from jvrl.data import audio_augment
from jvrl.data.tf_setup import tf


def test_relative_audio_noise():
  wave = tf.concat([tf.fill([20000], 0.5), [-2.0]], axis=0)  # peak 2
  noisy = audio_augment.add_relative_gaussian_noise(wave, tf.constant([1, 2]), 0.01)
  noise = (noisy - wave).numpy()
  assert noisy.shape == wave.shape and abs(noise.std() - 0.02) < 0.001
  silent = audio_augment.add_relative_gaussian_noise(tf.zeros([64]), tf.constant([1, 2]), 0.01)
  assert not silent.numpy().any()  # a missing or silent window stays zero
  np.testing.assert_array_equal(
      audio_augment.add_relative_gaussian_noise(wave, tf.constant([1, 2]), 0.0), wave)
