"""Video records in the DeepMind Video Reader convention (REFERENCE §5).

One `tf.train.SequenceExample` per video:

  feature_lists
    'image/encoded'            one JPEG-encoded frame per entry (bytes_list
                               with one value). The parser also accepts all
                               frames packed into one entry.
    'WAVEFORM/feature/floats'  mono audio samples in [-1, 1]. jvrl writes ONE
                               entry holding every sample (float_list); the
                               parser also accepts several entries (e.g. one
                               per video frame) and concatenates them in order.
    'flow/encoded'             optional optical flow: entry t (t = 0 .. L-2)
                               is the flow from frame t to frame t+1 as a
                               bytes_list of TWO grayscale JPEGs, u (to the
                               right) then v (down), each component clipped
                               to +-'flow/bound' pixels (20) and quantised
                               linearly onto 0..255 (`flow_quantization`:
                               q = round((f + bound) * 255 / (2 * bound))).
  context
    'clip/label/index'         int64 class index (first value used).
    'clip/label/text'          bytes, class name.
    'caption/string'           bytes_list, one or more captions.
    'caption/start/timestamp'  int64 lists, microseconds from the record's
    'caption/end/timestamp'    first frame (frame i is at i / fps): each
                               caption's time span (e.g. HowTo100M's ASR
                               sentences), one entry per caption, in caption
                               order (optional: captions without times are
                               the video's captions as a whole).
    'video/filename'           bytes, the source video's name.
    'clip/start/timestamp'     int64 microseconds (optional).
    'clip/end/timestamp'       int64 microseconds (optional).
    'video/fps'                float frames per second (optional).
    'WAVEFORM/sample_rate'     int64 audio samples per second (optional).
    'segment/start/timestamp'  int64 list, microseconds: the temporal
    'segment/end/timestamp'    annotations of an UNTRIMMED video (TSP,
    'segment/label/index'      ActivityNet / THUMOS14), one entry per action
    'segment/label/text'       instance: start, end, class index (int64
                               list) and class name (bytes list), all four
                               lists of equal length (optional).
    'flow/bound'               float, the flow's clipping bound in pixels.
    'flow/method'              bytes, how the flow was computed: 'tvl1',
                               'farneback' (OpenCV, data/prepare_videos.py
                               --flow) or 'exact' (the built-in synthetic
                               videos); both with 'flow/encoded' only.

`parse_sequence_example` turns one serialized record into jvrl's
parsed-example contract (see its docstring); every field is optional in the
record and parses to a documented default, so records written by other tools
work too.
"""
import os
import uuid
from typing import Iterable, NamedTuple, Optional, Sequence, Union

import numpy as np

from jvrl.data.tf_setup import tf

FRAMES_KEY = "image/encoded"
WAVEFORM_KEY = "WAVEFORM/feature/floats"
LABEL_INDEX_KEY = "clip/label/index"
LABEL_TEXT_KEY = "clip/label/text"
CAPTION_KEY = "caption/string"
CAPTION_START_KEY = "caption/start/timestamp"
CAPTION_END_KEY = "caption/end/timestamp"
FILENAME_KEY = "video/filename"
START_TIMESTAMP_KEY = "clip/start/timestamp"
END_TIMESTAMP_KEY = "clip/end/timestamp"
FPS_KEY = "video/fps"
SAMPLE_RATE_KEY = "WAVEFORM/sample_rate"
SEGMENT_START_KEY = "segment/start/timestamp"
SEGMENT_END_KEY = "segment/end/timestamp"
SEGMENT_LABEL_INDEX_KEY = "segment/label/index"
SEGMENT_LABEL_TEXT_KEY = "segment/label/text"
FLOW_KEY = "flow/encoded"
FLOW_BOUND_KEY = "flow/bound"
FLOW_METHOD_KEY = "flow/method"

RECORD_SUFFIX = ".tfrecord"
_INCOMPLETE_SUFFIX = ".incomplete"

Example = Union[tf.train.SequenceExample, bytes]


class Segment(NamedTuple):
  """One annotated action instance of an untrimmed video.

  Attributes:
    start_us, end_us: its time span in microseconds from the video's start.
    label: class index (>= 0).
    label_text: class name.
  """
  start_us: int
  end_us: int
  label: int
  label_text: str = ""


@tf.function(reduce_retracing=True)
def _encode_jpeg_batch(frames: tf.Tensor, quality: int) -> tf.Tensor:
  return tf.map_fn(lambda frame: tf.io.encode_jpeg(frame, quality=quality), frames,
                   fn_output_signature=tf.string)


def encode_jpeg_frames(frames: np.ndarray, quality: int = 90) -> list[bytes]:
  """JPEG-encodes every frame of a video.

  Args:
    frames: uint8 [T, H, W, 3] RGB frames.
    quality: JPEG quality in [1, 100].

  Returns:
    T byte strings, one JPEG per frame, in order.
  """
  frames = np.asarray(frames)
  if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
    raise ValueError(
        f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}.")
  if not 1 <= quality <= 100:
    raise ValueError(f"quality must be in [1, 100], got {quality}.")
  if frames.shape[0] == 0:
    return []
  return list(_encode_jpeg_batch(tf.constant(frames), int(quality)).numpy())


def _bytes_feature(values: Sequence[bytes]) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _int64_feature(value: int) -> tf.train.Feature:
  return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _to_bytes(text: Union[str, bytes]) -> bytes:
  return text if isinstance(text, bytes) else text.encode("utf-8")


def make_sequence_example(
    *,
    jpeg_frames: Sequence[bytes],
    label: int = -1,
    label_text: Union[str, bytes] = "",
    captions: Sequence[Union[str, bytes]] = (),
    waveform: Optional[np.ndarray] = None,
    filename: Union[str, bytes] = "",
    fps: Optional[float] = None,
    sample_rate: Optional[int] = None,
    start_us: Optional[int] = None,
    end_us: Optional[int] = None,
    segments: Sequence[Segment] = (),
    caption_start_us: Sequence[int] = (),
    caption_end_us: Sequence[int] = (),
    flow_jpegs: Sequence[tuple[bytes, bytes]] = (),
    flow_bound: float = 20.0,
    flow_method: str = "",
) -> tf.train.SequenceExample:
  """Builds the SequenceExample of one video (layout in the module docstring).

  Args:
    jpeg_frames: one JPEG byte string per frame (see `encode_jpeg_frames`).
    label: class index, -1 for unlabelled (then no label index is stored).
    label_text: class name ('' = not stored).
    captions: zero or more captions.
    waveform: optional mono audio, float [S] (typically in [-1, 1]); stored as
      one feature-list entry holding all S samples.
    filename: the source video's name ('' = not stored).
    fps: optional frame rate (> 0).
    sample_rate: optional audio sample rate in Hz (> 0).
    start_us, end_us: optional clip start/end timestamps in microseconds.
    segments: temporal annotations of an untrimmed video (`Segment`s), stored
      as the four 'segment/...' lists; () = none stored.
    caption_start_us, caption_end_us: each caption's time span in
      microseconds (timed captions, e.g. ASR sentences); both () (not stored)
      or both as long as `captions`.
    flow_jpegs: optional optical flow, one (u JPEG, v JPEG) pair per frame
      but the last (`flow_quantization.encode_flow_jpegs`); () = none stored.
    flow_bound, flow_method: stored with the flow ('flow/bound', 'flow/method').

  Returns:
    The `tf.train.SequenceExample`.
  """
  if isinstance(jpeg_frames, (bytes, str)):
    raise ValueError("jpeg_frames must be a sequence of JPEG byte strings, one per frame.")
  if isinstance(captions, (bytes, str)):
    raise ValueError("captions must be a sequence of strings, not a single string.")
  if fps is not None and not fps > 0:
    raise ValueError(f"fps must be > 0, got {fps}.")
  if sample_rate is not None and not sample_rate > 0:
    raise ValueError(f"sample_rate must be > 0, got {sample_rate}.")
  check_caption_times(captions, caption_start_us, caption_end_us)

  example = tf.train.SequenceExample()
  context = example.context.feature
  if label >= 0:
    context[LABEL_INDEX_KEY].CopyFrom(_int64_feature(label))
  if label_text:
    context[LABEL_TEXT_KEY].CopyFrom(_bytes_feature([_to_bytes(label_text)]))
  if captions:
    context[CAPTION_KEY].CopyFrom(_bytes_feature([_to_bytes(c) for c in captions]))
  if caption_start_us:
    context[CAPTION_START_KEY].int64_list.value.extend(int(t) for t in caption_start_us)
    context[CAPTION_END_KEY].int64_list.value.extend(int(t) for t in caption_end_us)
  if filename:
    context[FILENAME_KEY].CopyFrom(_bytes_feature([_to_bytes(filename)]))
  if start_us is not None:
    context[START_TIMESTAMP_KEY].CopyFrom(_int64_feature(start_us))
  if end_us is not None:
    context[END_TIMESTAMP_KEY].CopyFrom(_int64_feature(end_us))
  if fps is not None:
    context[FPS_KEY].float_list.value.append(float(fps))
  if sample_rate is not None:
    context[SAMPLE_RATE_KEY].CopyFrom(_int64_feature(sample_rate))
  if segments:
    segments = [Segment(*s) for s in segments]
    context[SEGMENT_START_KEY].int64_list.value.extend(int(s.start_us) for s in segments)
    context[SEGMENT_END_KEY].int64_list.value.extend(int(s.end_us) for s in segments)
    context[SEGMENT_LABEL_INDEX_KEY].int64_list.value.extend(int(s.label) for s in segments)
    context[SEGMENT_LABEL_TEXT_KEY].CopyFrom(
        _bytes_feature([_to_bytes(s.label_text) for s in segments]))

  frame_list = example.feature_lists.feature_list[FRAMES_KEY]
  for jpeg in jpeg_frames:
    frame_list.feature.add().bytes_list.value.append(jpeg)
  if flow_jpegs:
    if len(flow_jpegs) != len(jpeg_frames) - 1:
      raise ValueError(f"{len(jpeg_frames)} frames need {len(jpeg_frames) - 1} flow pairs "
                       f"(frame t -> t+1), got {len(flow_jpegs)}.")
    flow_list = example.feature_lists.feature_list[FLOW_KEY]
    for pair in flow_jpegs:
      flow_list.feature.add().bytes_list.value.extend(list(pair))
    context[FLOW_BOUND_KEY].float_list.value.append(float(flow_bound))
    if flow_method:
      context[FLOW_METHOD_KEY].CopyFrom(_bytes_feature([_to_bytes(flow_method)]))

  if waveform is not None:
    samples = np.asarray(waveform, dtype=np.float32)
    if samples.ndim != 1:
      raise ValueError(f"waveform must be mono, shape [S], got shape {samples.shape}.")
    entry = example.feature_lists.feature_list[WAVEFORM_KEY].feature.add()
    entry.float_list.value.extend(samples.tolist())
  return example


def check_caption_times(captions: Sequence, starts: Sequence[int],
                        ends: Sequence[int]) -> None:
  """Raises ValueError unless the caption times are both absent or one per caption."""
  if len(starts) != len(ends) or (starts and len(starts) != len(captions)):
    raise ValueError(f"caption_start_us and caption_end_us must both be empty or both hold one "
                     f"time per caption: {len(captions)} captions, {len(starts)} starts, "
                     f"{len(ends)} ends.")


def _serialize(example: Example) -> bytes:
  if isinstance(example, bytes):
    return example
  if isinstance(example, tf.train.SequenceExample):
    return example.SerializeToString()
  raise ValueError(
      f"examples must be tf.train.SequenceExample or serialized bytes, got {type(example)}.")


def shard_path(output_dir: str, prefix: str, index: int, num_shards: int) -> str:
  """Path of shard `index` of `num_shards`: `{prefix}-{i:05d}-of-{n:05d}.tfrecord`."""
  return os.path.join(output_dir, f"{prefix}-{index:05d}-of-{num_shards:05d}{RECORD_SUFFIX}")


def shard_glob(output_dir: str, prefix: str) -> str:
  """Glob matching every complete shard written with `prefix` in `output_dir`."""
  return os.path.join(output_dir, f"{prefix}-*-of-*{RECORD_SUFFIX}")


class RecordWriter:
  """Writes examples round-robin into `num_shards` TFRecord shards, atomically.

  Example `i` goes to shard `i % num_shards`, so reading the shards
  interleaved (cycle_length = num_shards, block_length = 1) gives back the
  write order. Shards are written under temporary names
  (`<final name>.incomplete`, which no shard glob matches) and renamed to
  their final names only by `close()`, so a half-written set never looks
  complete. Use as a context manager: leaving the block with an exception
  deletes the temporary files.
  """

  def __init__(self, output_dir: str, num_shards: int, prefix: str):
    """Opens `num_shards` temporary shard files in `output_dir` (created if needed)."""
    if num_shards < 1:
      raise ValueError(f"num_shards must be >= 1, got {num_shards}.")
    if not prefix or "/" in prefix:
      raise ValueError(f"prefix must be a non-empty file-name prefix, got {prefix!r}.")
    tf.io.gfile.makedirs(output_dir)
    self.paths = [shard_path(output_dir, prefix, i, num_shards) for i in range(num_shards)]
    token = uuid.uuid4().hex[:8]
    self._temp_paths = [f"{p}.{token}{_INCOMPLETE_SUFFIX}" for p in self.paths]
    self._writers = [tf.io.TFRecordWriter(p) for p in self._temp_paths]
    self._num_written = 0

  @property
  def num_written(self) -> int:
    """Number of examples written so far."""
    return self._num_written

  def write(self, example: Example) -> None:
    """Appends one example (SequenceExample or serialized bytes) to the next shard."""
    if self._writers is None:
      raise ValueError("write() called on a closed RecordWriter.")
    writer = self._writers[self._num_written % len(self._writers)]
    writer.write(_serialize(example))
    self._num_written += 1

  def close(self) -> list[str]:
    """Flushes every shard and renames it to its final name; returns the paths."""
    if self._writers is None:
      return self.paths
    for writer in self._writers:
      writer.close()
    self._writers = None
    for temp_path, path in zip(self._temp_paths, self.paths):
      tf.io.gfile.rename(temp_path, path, overwrite=True)
    return self.paths

  def abort(self) -> None:
    """Closes and deletes the temporary shards; no final file is created."""
    if self._writers is not None:
      for writer in self._writers:
        writer.close()
      self._writers = None
    for temp_path in self._temp_paths:
      if tf.io.gfile.exists(temp_path):
        tf.io.gfile.remove(temp_path)

  def __enter__(self) -> "RecordWriter":
    return self

  def __exit__(self, exc_type, exc_value, traceback) -> None:
    if exc_type is None:
      self.close()
    else:
      self.abort()


def write_sharded_records(
    examples: Iterable[Example], output_dir: str, num_shards: int, prefix: str) -> list[str]:
  """Writes `examples` round-robin into `num_shards` shards (see `RecordWriter`).

  Args:
    examples: SequenceExamples or their serialized bytes.
    output_dir: directory of the shards (created if needed).
    num_shards: number of shard files (>= 1; shards may be empty).
    prefix: file-name prefix, e.g. 'train'.

  Returns:
    The shard paths, `{output_dir}/{prefix}-{i:05d}-of-{n:05d}.tfrecord`.
  """
  with RecordWriter(output_dir, num_shards, prefix) as writer:
    for example in examples:
      writer.write(example)
  return writer.paths


def _first_or_default(values: tf.Tensor, default) -> tf.Tensor:
  """First element of a 1-D tensor, or `default` when it is empty."""
  return tf.cond(tf.size(values) > 0, lambda: values[0],
                 lambda: tf.constant(default, values.dtype))


_CONTEXT_FEATURES = {
    LABEL_INDEX_KEY: tf.io.RaggedFeature(tf.int64),
    LABEL_TEXT_KEY: tf.io.RaggedFeature(tf.string),
    CAPTION_KEY: tf.io.RaggedFeature(tf.string),
    CAPTION_START_KEY: tf.io.RaggedFeature(tf.int64),
    CAPTION_END_KEY: tf.io.RaggedFeature(tf.int64),
    FILENAME_KEY: tf.io.RaggedFeature(tf.string),
    FPS_KEY: tf.io.RaggedFeature(tf.float32),
    SEGMENT_START_KEY: tf.io.RaggedFeature(tf.int64),
    SEGMENT_END_KEY: tf.io.RaggedFeature(tf.int64),
    SEGMENT_LABEL_INDEX_KEY: tf.io.RaggedFeature(tf.int64),
    SEGMENT_LABEL_TEXT_KEY: tf.io.RaggedFeature(tf.string),
    FLOW_BOUND_KEY: tf.io.RaggedFeature(tf.float32),
}
_SEQUENCE_FEATURES = {
    FRAMES_KEY: tf.io.RaggedFeature(tf.string),
    WAVEFORM_KEY: tf.io.RaggedFeature(tf.float32),
    FLOW_KEY: tf.io.RaggedFeature(tf.string),
}


def _flat_values(value) -> tf.Tensor:
  if isinstance(value, tf.RaggedTensor):
    return value.flat_values
  return tf.reshape(value, [-1])


def parse_sequence_example(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
  """Parses one serialized video record into jvrl's parsed-example contract.

  A graph function, usable in `tf.data.Dataset.map`. Returns:

    'frames':      tf.string [L]    JPEG bytes, one per frame (not decoded).
    'num_frames':  tf.int32 []      L.
    'label':       tf.int32 []      first 'clip/label/index', -1 when absent.
    'label_text':  tf.string []     first 'clip/label/text', '' when absent.
    'captions':    tf.string [C]    every 'caption/string' (C may be 0).
    'caption_start_us', 'caption_end_us':
                   tf.int64 [C]     'caption/start|end/timestamp', aligned
                                    with the captions; -1 where the record
                                    gives no time (every caption of a record
                                    without caption times).
    'waveform':    tf.float32 [S]   all waveform entries concatenated (S may
                                    be 0 when the record has no audio).
    'filename':    tf.string []     'video/filename', '' when absent.
    'fps':         tf.float32 []    'video/fps', 0.0 when absent.
    'segment_start_us', 'segment_end_us':
                   tf.int64 [N]     'segment/start|end/timestamp' (N may be 0).
    'segment_labels':
                   tf.int32 [N]     'segment/label/index' (-1 where the list
                                    is shorter than the start times').
    'segment_label_texts':
                   tf.string [N]    'segment/label/text' ('' where missing).
    'flow':        tf.string [F, 2] 'flow/encoded': (u, v) JPEGs of the flow
                                    from frame t to t+1; F = L - 1, or 0 when
                                    the record holds no flow.
    'flow_bound':  tf.float32 []    'flow/bound', 0.0 when absent.

  Frames stored one per entry and frames packed into one entry both give [L].

  Args:
    serialized: tf.string scalar, a serialized `tf.train.SequenceExample`.
  """
  context, sequences = tf.io.parse_single_sequence_example(
      serialized, context_features=_CONTEXT_FEATURES,
      sequence_features=_SEQUENCE_FEATURES)
  frames = _flat_values(sequences[FRAMES_KEY])
  captions = _flat_values(context[CAPTION_KEY])
  num_captions = tf.shape(captions)[0]
  return {
      "frames": frames,
      "num_frames": tf.shape(frames, out_type=tf.int32)[0],
      "label": tf.cast(_first_or_default(_flat_values(context[LABEL_INDEX_KEY]), -1), tf.int32),
      "label_text": _first_or_default(_flat_values(context[LABEL_TEXT_KEY]), ""),
      "captions": captions,
      "caption_start_us": _padded_to(_flat_values(context[CAPTION_START_KEY]), num_captions,
                                     -1),
      "caption_end_us": _padded_to(_flat_values(context[CAPTION_END_KEY]), num_captions, -1),
      "waveform": _flat_values(sequences[WAVEFORM_KEY]),
      "filename": _first_or_default(_flat_values(context[FILENAME_KEY]), ""),
      "fps": _first_or_default(_flat_values(context[FPS_KEY]), 0.0),
      **_parse_segments(context),
      "flow": tf.reshape(_flat_values(sequences[FLOW_KEY]), [-1, 2]),
      "flow_bound": _first_or_default(_flat_values(context[FLOW_BOUND_KEY]), 0.0),
  }


def _padded_to(values: tf.Tensor, length: tf.Tensor, default) -> tf.Tensor:
  """`values` cut or padded with `default` to `length` entries."""
  values = values[:length]
  padding = tf.fill([length - tf.shape(values)[0]], tf.constant(default, values.dtype))
  return tf.concat([values, padding], axis=0)


def _parse_segments(context: dict) -> dict[str, tf.Tensor]:
  """The segment lists, aligned to the start times' length (see the parser)."""
  starts = _flat_values(context[SEGMENT_START_KEY])
  count = tf.shape(starts)[0]
  return {
      "segment_start_us": starts,
      "segment_end_us": _padded_to(_flat_values(context[SEGMENT_END_KEY]), count, -1),
      "segment_labels": tf.cast(_padded_to(
          _flat_values(context[SEGMENT_LABEL_INDEX_KEY]), count, -1), tf.int32),
      "segment_label_texts": _padded_to(_flat_values(context[SEGMENT_LABEL_TEXT_KEY]), count,
                                        ""),
  }
