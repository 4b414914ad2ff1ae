"""Serializes a video record without TensorFlow, for the decoding worker processes.

Importing TensorFlow costs a worker ~5 s and ~600 MB (measured here), and
building the `tf.train.SequenceExample` in the parent process instead costs
~40 ms per video there (mostly copying the waveform into a protobuf), which
would cap a many-core run at ~25 videos/s. So workers write the protobuf wire
format directly: `serialize_video_record(**fields)` returns exactly the bytes
of `records.make_sequence_example(**fields).SerializeToString(
deterministic=True)` (tests/data/prepare/test_sequence_example.py checks the
bytes), and the keys are `jvrl.data.records`' (checked there too).

Wire format used (protobuf, tensorflow/core/example/{example,feature}.proto):
  SequenceExample: 1 context (Features), 2 feature_lists (FeatureLists)
  Features: 1 map<string, Feature>   FeatureLists: 1 map<string, FeatureList>
  FeatureList: 1 repeated Feature
  Feature: 1 BytesList | 2 FloatList | 3 Int64List (each: 1 repeated value,
  floats and int64s packed). Map entries: 1 key, 2 value; sorted by key.
"""
import struct
from typing import Optional, Sequence, Union

import numpy as np

# Keys of jvrl.data.records (not imported here: it imports TensorFlow).
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

_LENGTH_DELIMITED = 2


def _varint(value: int) -> bytes:
  if value < 0:
    value += 1 << 64  # int64 two's complement, as protobuf encodes negatives.
  out = bytearray()
  while True:
    low = value & 0x7F
    value >>= 7
    if value:
      out.append(low | 0x80)
    else:
      out.append(low)
      return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
  """A length-delimited field: tag, length, payload."""
  return _varint(number << 3 | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def _to_bytes(text: Union[str, bytes]) -> bytes:
  return text if isinstance(text, bytes) else text.encode("utf-8")


def bytes_feature(values: Sequence[bytes]) -> bytes:
  """A serialized Feature holding a BytesList."""
  return _field(1, b"".join(_field(1, v) for v in values))


def float_feature(values: np.ndarray) -> bytes:
  """A serialized Feature holding a (packed) FloatList."""
  packed = np.asarray(values, dtype="<f4").tobytes()
  return _field(2, _field(1, packed) if packed else b"")


def int64_feature(value: int) -> bytes:
  """A serialized Feature holding an Int64List of one value."""
  return int64_list_feature([value])


def int64_list_feature(values: Sequence[int]) -> bytes:
  """A serialized Feature holding a (packed) Int64List."""
  packed = b"".join(_varint(int(v)) for v in values)
  return _field(3, _field(1, packed) if packed else b"")


def _map(entries: dict[str, bytes]) -> bytes:
  """A map<string, message> field 1, entries sorted by key (deterministic order)."""
  return b"".join(
      _field(1, _field(1, key.encode("utf-8")) + _field(2, value))
      for key, value in sorted(entries.items(), key=lambda kv: kv[0].encode("utf-8")))


def serialize_video_record(
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
    segments: Sequence[Sequence] = (),
    caption_start_us: Sequence[int] = (),
    caption_end_us: Sequence[int] = (),
    flow_jpegs: Sequence[tuple[bytes, bytes]] = (),
    flow_bound: float = 20.0,
    flow_method: str = "",
) -> bytes:
  """The serialized SequenceExample of one video; arguments as `records.make_sequence_example`.

  `segments` are `records.Segment`s or any (start_us, end_us, label,
  label_text) tuples (this module does not import `records`: TensorFlow).
  """
  if len(caption_start_us) != len(caption_end_us) or (
      caption_start_us and len(caption_start_us) != len(captions)):
    raise ValueError(f"caption_start_us and caption_end_us must both be empty or both hold one "
                     f"time per caption: {len(captions)} captions, {len(caption_start_us)} "
                     f"starts, {len(caption_end_us)} ends.")
  context = {}
  if label >= 0:
    context[LABEL_INDEX_KEY] = int64_feature(label)
  if label_text:
    context[LABEL_TEXT_KEY] = bytes_feature([_to_bytes(label_text)])
  if captions:
    context[CAPTION_KEY] = bytes_feature([_to_bytes(c) for c in captions])
  if caption_start_us:
    context[CAPTION_START_KEY] = int64_list_feature(caption_start_us)
    context[CAPTION_END_KEY] = int64_list_feature(caption_end_us)
  if filename:
    context[FILENAME_KEY] = bytes_feature([_to_bytes(filename)])
  if start_us is not None:
    context[START_TIMESTAMP_KEY] = int64_feature(start_us)
  if end_us is not None:
    context[END_TIMESTAMP_KEY] = int64_feature(end_us)
  if fps is not None:
    context[FPS_KEY] = _field(2, _field(1, struct.pack("<f", fps)))
  if sample_rate is not None:
    context[SAMPLE_RATE_KEY] = int64_feature(sample_rate)
  if segments:
    starts, ends, indices, texts = zip(*((s[0], s[1], s[2], s[3] if len(s) > 3 else "")
                                         for s in segments))
    context[SEGMENT_START_KEY] = int64_list_feature(starts)
    context[SEGMENT_END_KEY] = int64_list_feature(ends)
    context[SEGMENT_LABEL_INDEX_KEY] = int64_list_feature(indices)
    context[SEGMENT_LABEL_TEXT_KEY] = bytes_feature([_to_bytes(t) for t in texts])

  if flow_jpegs:
    if len(flow_jpegs) != len(jpeg_frames) - 1:
      raise ValueError(f"{len(jpeg_frames)} frames need {len(jpeg_frames) - 1} flow pairs "
                       f"(frame t -> t+1), got {len(flow_jpegs)}.")
    context[FLOW_BOUND_KEY] = _field(2, _field(1, struct.pack("<f", flow_bound)))
    if flow_method:
      context[FLOW_METHOD_KEY] = bytes_feature([_to_bytes(flow_method)])
  feature_lists = {FRAMES_KEY: b"".join(_field(1, bytes_feature([j])) for j in jpeg_frames)}
  if flow_jpegs:
    feature_lists[FLOW_KEY] = b"".join(_field(1, bytes_feature(list(p))) for p in flow_jpegs)
  if waveform is not None:
    samples = np.asarray(waveform, dtype=np.float32)
    if samples.ndim != 1:
      raise ValueError(f"waveform must be mono, shape [S], got shape {samples.shape}.")
    feature_lists[WAVEFORM_KEY] = _field(1, float_feature(samples))
  out = b""
  if context:
    out += _field(1, _map(context))
  return out + _field(2, _map(feature_lists))
