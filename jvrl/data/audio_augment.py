"""Waveform augmentation for training (VATT's audio noise), a TF graph op.

`add_relative_gaussian_noise` is VATT's pretraining audio augmentation
(google-research vatt/data/processing.py `add_gaussian`, applied by
`PreTrainLoader` in data/dataloaders.py with `audio_noise=0.01` from
configs/dataset.py `Pretrain`): Gaussian noise whose standard deviation is
`relative_std` times the window's largest absolute sample. A silent or
missing window (all zeros) stays unchanged. Randomness is stateless.
"""
from jvrl.data.sampling import check_seed
from jvrl.data.tf_setup import tf


def add_relative_gaussian_noise(waveform: tf.Tensor, seed: tf.Tensor,
                                relative_std: float) -> tf.Tensor:
  """`waveform` + N(0, (relative_std * max|waveform|)^2) per sample; shape kept.

  Args:
    waveform: float [S] (or any shape: the max is over all of it).
    seed: stateless seed (int32/int64 [2]).
    relative_std: the noise's std relative to the peak amplitude (VATT:
      0.01); 0 returns `waveform` unchanged.
  """
  if not relative_std >= 0:
    raise ValueError(f"relative_std must be >= 0, got {relative_std!r}.")
  waveform = tf.cast(waveform, tf.float32)
  if relative_std == 0:
    return waveform
  std = relative_std * tf.reduce_max(tf.abs(waveform))
  return waveform + std * tf.random.stateless_normal(tf.shape(waveform), check_seed(seed))
