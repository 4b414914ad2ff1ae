"""Inputs aligned with a video clip: its audio window and its candidate captions (VATT).

The audio window covers the clip's time span: a clip of T frames every s
frames starting at frame f of a video at `fps` frames per second spans
T*s/fps seconds from f/fps, so its window starts at sample
round(f / fps * sample_rate) and holds round(T * s / fps * sample_rate)
samples (REFERENCE §2: 32 frames at 10 fps <-> 3.2 s of audio). Samples past
the end of the waveform are zeros; a video without audio (0 samples) gives
an all-zero window marked absent, so the loss can mask it.

Captions: MIL-NCE contrasts a clip with several candidate captions. Records
store a video's captions without timestamps, so the candidates are the
video's own captions: a random subset of up to K in training, the first K in
evaluation, padded with '' and marked absent.

TensorFlow graph ops for `tf.data.Dataset.map`; randomness is stateless.
"""
from jvrl.data import sampling
from jvrl.data.tf_setup import tf


def num_audio_samples(clip_length: int, stride: int, fps: float, sample_rate: int) -> int:
  """Samples in the audio window of a clip: round(T * s / fps * sample_rate)."""
  if clip_length < 1 or stride < 1 or not fps > 0 or sample_rate < 1:
    raise ValueError("clip_length, stride and sample_rate must be >= 1 and fps > 0, got "
                     f"{clip_length}, {stride}, {sample_rate}, {fps}.")
  return int(round(clip_length * stride / fps * sample_rate))


def audio_window_start(start_frame: tf.Tensor, fps: float, sample_rate: int) -> tf.Tensor:
  """First sample of the window of a clip starting at `start_frame` (int32 scalar)."""
  seconds = tf.cast(start_frame, tf.float64) / float(fps)
  return tf.cast(tf.round(seconds * float(sample_rate)), tf.int32)


def aligned_audio_window(waveform: tf.Tensor, start_frame: tf.Tensor, num_samples: int,
                         fps: float, sample_rate: int) -> tuple[tf.Tensor, tf.Tensor]:
  """The audio of the clip starting at `start_frame`.

  Args:
    waveform: tf.float32 [S], the video's whole mono waveform (S may be 0).
    start_frame: int scalar, the clip's first frame.
    num_samples: window length (see `num_audio_samples`).
    fps, sample_rate: the video's frame rate and the audio's sample rate.

  Returns:
    (window tf.float32 [num_samples], zero-padded past the end of the
    waveform; present tf.bool [], False when the video has no audio).
  """
  waveform = tf.reshape(tf.cast(waveform, tf.float32), [-1])
  length = tf.shape(waveform, out_type=tf.int32)[0]
  start = tf.minimum(audio_window_start(start_frame, fps, sample_rate), length)
  window = waveform[start:start + num_samples]
  window = tf.pad(window, [[0, num_samples - tf.shape(window)[0]]])
  return tf.ensure_shape(window, [num_samples]), length > 0


def select_captions(captions: tf.Tensor, num_captions: int,
                    seed: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
  """Up to `num_captions` of a video's captions, padded.

  Args:
    captions: tf.string [C], C >= 0.
    num_captions: K, candidates per clip.
    seed: stateless seed (int32/int64 [2]): a uniformly random subset of
      min(C, K) captions in random order; None: the first min(C, K).

  Returns:
    (tf.string [K] with '' padding, tf.bool [K] True on real captions).
  """
  if not isinstance(num_captions, int) or num_captions < 1:
    raise ValueError(f"num_captions must be a Python int >= 1, got {num_captions!r}.")
  captions = tf.reshape(tf.convert_to_tensor(captions, tf.string), [-1])
  count = tf.shape(captions, out_type=tf.int32)[0]
  if seed is not None:
    seed = sampling.check_seed(seed)
    order = tf.argsort(tf.random.stateless_uniform([count], seed))
    captions = tf.gather(captions, order)
  chosen = captions[:num_captions]
  kept = tf.shape(chosen)[0]
  chosen = tf.pad(chosen, [[0, num_captions - kept]], constant_values="")
  return (tf.ensure_shape(chosen, [num_captions]),
          tf.sequence_mask(kept, num_captions))
