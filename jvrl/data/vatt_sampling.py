"""Inputs aligned with a video clip: its audio window and its candidate captions (VATT).

The audio window covers the clip's time span: a clip of T frames every s
frames starting at frame f of a video at `fps` frames per second spans
T*s/fps seconds from f/fps, so its window starts at sample
round(f / fps * sample_rate) and holds round(T * s / fps * sample_rate)
samples (REFERENCE §2: 32 frames at 10 fps <-> 3.2 s of audio). Samples past
the end of the waveform are zeros; a video without audio (0 samples) gives
an all-zero window marked absent, so the loss can mask it.

Captions: MIL-NCE contrasts a clip with a bag of up to K candidate captions
(`select_clip_captions`), padded with '' and marked absent:

* timed captions (records with 'caption/start|end/timestamp', e.g.
  HowTo100M's ASR sentences): the sentence overlapping the clip most (the
  nearest one when none overlaps) and its temporal neighbours, K in all
  (VATT: K = 5, the sentence and 4 neighbours; `max_context_sentences=4` in
  google-research vatt/configs/dataset.py). The neighbours are added one at
  a time on the side that keeps the bag's time span shortest, as MIL-NCE's
  `HT100M_DataLoader._find_nearest_candidates`
  (antoine77340/MIL-NCE_HowTo100M, video_loader.py), VATT's data source.
  Deviations: MIL-NCE draws a sentence uniformly and then a clip inside it;
  jvrl draws the clip uniformly in the video (as for every objective) and
  then finds its sentence. A video with fewer than K sentences gets a bag
  padded with absent captions (MIL-NCE repeats the last sentence, DMVR pads
  with empty captions that are encoded anyway).
* captions without times (the built-in synthetic videos, older records): the
  video's own captions, a random subset of up to K in training, the first K
  in evaluation (`select_captions`).

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


def _nearest_sentence(starts: tf.Tensor, ends: tf.Tensor, clip_start: tf.Tensor,
                      clip_end: tf.Tensor) -> tf.Tensor:
  """Index of the sentence overlapping [clip_start, clip_end) most; if none
  overlaps, of the nearest one (the first of equals)."""
  overlap = tf.minimum(ends, clip_end) - tf.maximum(starts, clip_start)
  gap = tf.maximum(starts - clip_end, clip_start - ends)
  score = tf.where(tf.reduce_any(overlap > 0), overlap, -gap)
  return tf.argmax(score, output_type=tf.int32)


def timed_caption_bag(captions: tf.Tensor, start_us: tf.Tensor, end_us: tf.Tensor,
                      clip_start_s: tf.Tensor, clip_end_s: tf.Tensor,
                      num_captions: int) -> tuple[tf.Tensor, tf.Tensor]:
  """The MIL-NCE bag of a clip from timed sentences (module docstring).

  Args:
    captions: tf.string [C] sentences, C >= 0.
    start_us, end_us: int [C] their time spans in microseconds.
    clip_start_s, clip_end_s: the clip's time span in seconds.
    num_captions: K, sentences per bag.

  Returns:
    (tf.string [K]: the sentence nearest the clip and its neighbours, in time
    order, '' padding; tf.bool [K] True on real sentences).
  """
  if not isinstance(num_captions, int) or num_captions < 1:
    raise ValueError(f"num_captions must be a Python int >= 1, got {num_captions!r}.")
  captions = tf.reshape(tf.convert_to_tensor(captions, tf.string), [-1])
  order = tf.argsort(tf.reshape(start_us, [-1]), stable=True)
  captions = tf.gather(captions, order)
  starts = tf.cast(tf.gather(tf.reshape(start_us, [-1]), order), tf.float64) / 1e6
  ends = tf.cast(tf.gather(tf.reshape(end_us, [-1]), order), tf.float64) / 1e6
  count = tf.shape(captions, out_type=tf.int32)[0]
  # Padded by one entry so that every gather below is in range when C = 0.
  starts_padded = tf.concat([starts, [0.0]], axis=0)
  ends_padded = tf.concat([ends, [0.0]], axis=0)
  clip_start_s = tf.cast(clip_start_s, tf.float64)
  clip_end_s = tf.cast(clip_end_s, tf.float64)
  center = tf.cond(count > 0,
                   lambda: _nearest_sentence(starts, ends, clip_start_s, clip_end_s),
                   lambda: tf.constant(0, tf.int32))
  low, high = center, center
  for _ in range(num_captions - 1):
    at_first, at_last = tf.equal(low, 0), tf.greater_equal(high, count - 1)
    left_span = ends_padded[high] - starts_padded[tf.maximum(low - 1, 0)]
    right_span = ends_padded[tf.minimum(high + 1, count)] - starts_padded[low]
    grow_left = ~at_first & (at_last | (left_span < right_span))
    grow_right = ~at_last & ~grow_left
    low = tf.where(grow_left, low - 1, low)
    high = tf.where(grow_right, high + 1, high)
  kept = tf.minimum(high - low + 1, count)
  chosen = tf.gather(tf.concat([captions, [""]], axis=0),
                     tf.minimum(low + tf.range(num_captions), count))
  real = tf.sequence_mask(kept, num_captions)
  chosen = tf.where(real, chosen, "")
  return tf.ensure_shape(chosen, [num_captions]), tf.ensure_shape(real, [num_captions])


def has_caption_times(start_us: tf.Tensor, end_us: tf.Tensor) -> tf.Tensor:
  """True when there is at least one caption and every caption has a valid time span."""
  start_us, end_us = tf.reshape(start_us, [-1]), tf.reshape(end_us, [-1])
  return (tf.size(start_us) > 0) & tf.reduce_all((start_us >= 0) & (end_us >= start_us))


def select_clip_captions(example_captions: tf.Tensor, start_us: tf.Tensor, end_us: tf.Tensor,
                         start_frame: tf.Tensor, span_frames: int, fps: float,
                         num_captions: int,
                         seed: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
  """The candidate captions of a clip: its timed bag, or the video's captions.

  Args:
    example_captions: tf.string [C], the video's captions.
    start_us, end_us: int64 [C], their times (-1: none; the parsed-example
      contract's 'caption_start_us' / 'caption_end_us').
    start_frame: the clip's first frame; it spans `span_frames` frames
      (clip length x stride) at `fps`.
    num_captions: K.
    seed: for videos without caption times (`select_captions`).

  Returns:
    (tf.string [K], tf.bool [K]): `timed_caption_bag` when every caption has
    a time, else `select_captions(example_captions, K, seed)`.
  """
  clip_start = tf.cast(start_frame, tf.float64) / float(fps)
  clip_end = clip_start + span_frames / float(fps)
  return tf.cond(
      has_caption_times(start_us, end_us),
      lambda: timed_caption_bag(example_captions, start_us, end_us, clip_start, clip_end,
                                num_captions),
      lambda: select_captions(example_captions, num_captions, seed))
