"""tf.data pipelines: parsed examples -> batches of numpy arrays for one process.

Training: source -> repeat -> [objective's expansion of a video into its
training units, e.g. TSP's segments] -> shuffle -> per-example seed ->
objective's preprocess (sampling, decoding, augmentation) -> batch ->
prefetch. An "example" below is a video, or a unit when the objective
expands videos.
Evaluation (shared by every objective): source -> evenly spaced clips x
spatial crops per video -> batch, padded to a full batch with a `mask` so that
no video is ever dropped.

Randomness is stateless: example number `i` of process `p` is preprocessed
with seed (config.seed, i * process_count + p), so a run is reproducible for a
fixed seed and file order, whatever tf.data's parallelism. The preprocess
function also receives the training step whose batch the example feeds,
`TRAIN_STEP_FIELD` = i // local batch size (a pure function of the position,
so a schedule read from it, ConCur's curriculum, survives an exact resume).

Training batches also carry host-only bookkeeping (`HOST_FIELDS`): each
example's number `i` in this process's stream (the input position a
checkpoint stores) and the corrupt records skipped before it.
`host_batches` strips them off and returns them as a `BatchInfo`.
"""
import dataclasses
import re
from typing import Any, Callable, Iterator, Mapping

import ml_collections
import numpy as np

from jvrl import errors
from jvrl.data import augment
from jvrl.data import decode
from jvrl.data import flow_clips
from jvrl.data import records
from jvrl.data import sampling
from jvrl.data import sources
from jvrl.data.tf_setup import tf

# (parsed example dict, stateless seed tf.int64[2]) -> dict of tf tensors for
# one training example: an objective's `preprocess_train` (the type
# `jvrl.objectives.base.TrainPreprocessFn` names; defined here, below the
# objectives, so that data never imports them).
TrainPreprocessFn = Callable[[Mapping[str, Any], Any], dict]
# parsed example -> tf.data.Dataset of training units (e.g. TSP: one video ->
# its segments, each several times); the units then go through the
# preprocess function instead of the videos (`Objective.expand_example`).
ExpandExampleFn = Callable[[Mapping[str, Any]], Any]


def _parallel_calls(data_config: ml_collections.ConfigDict) -> int:
  calls = data_config.get("num_parallel_calls", -1)
  return tf.data.AUTOTUNE if calls is None or calls < 0 else calls


def make_train_dataset(
    config: ml_collections.ConfigDict,
    preprocess: TrainPreprocessFn,
    local_batch_size: int,
    *,
    process_index: int = 0,
    process_count: int = 1,
    start_example: int = 0,
    host_fields: bool = False,
    expand_example: ExpandExampleFn | None = None,
) -> tf.data.Dataset:
  """Endless dataset of this process's training batches (dicts of tensors).

  Args:
    config: the experiment config (uses `config.data` and `config.seed`). The
      examples come from the split `config.data.train_split` ('train' when
      absent; fine-tuning trains on 'eval_train').
    preprocess: the objective's `preprocess_train`.
    local_batch_size: examples per batch on this process (global batch /
      process count).
    process_index, process_count: this process's place among the hosts.
    start_example: the position to start from: the number of this process's
      example stream already consumed (a resumed run passes the position its
      checkpoint stored). Those examples are skipped before any decoding, and
      every later example keeps its original seed, so a resumed run sees
      exactly the batches an uninterrupted one would.

  `expand_example` (the objective's `expand_example`, or None): each video
  becomes the units it returns, in order, before the shuffle; positions and
  seeds then count units, so resume stays exact.

  With `config.data.mixture` the 'train' examples come from several sources
  (`sources.make_mixture_dataset`); `start_example` then counts examples of
  the mixed stream, which is deterministic for a seed, so resume stays exact.

  With `host_fields=True` (the trainer's input), each batch also holds
  `HOST_FIELDS` (see `host_batches`); by default a batch holds exactly the
  objective's fields. With `config.data.on_corrupt_record='skip'`, an example
  whose preprocessing fails (e.g. an undecodable frame) is dropped as well and
  shows up as a gap in '_index'.
  """
  split = config.data.get("train_split", "train")
  if split == "train" and sources.mixture_members(config.data):
    # Several sources (`sources.make_mixture_dataset`): positions and seeds count
    # the mixed stream's examples, which a given seed replays exactly.
    examples = sources.make_mixture_dataset(config.data, split, seed=config.seed,
                                            process_index=process_index,
                                            process_count=process_count)
  else:
    examples = sources.make_example_dataset(
        config.data, split, shuffle_files=True, seed=config.seed,
        process_index=process_index, process_count=process_count)
  return _training_batches(config, examples, preprocess, local_batch_size,
                           process_index=process_index, process_count=process_count,
                           start_example=start_example, host_fields=host_fields,
                           expand_example=expand_example)


def train_element_spec(config: ml_collections.ConfigDict, preprocess: TrainPreprocessFn,
                       local_batch_size: int,
                       expand_example: ExpandExampleFn | None = None) -> dict:
  """The element_spec of `make_train_dataset`'s batches, without reading any data.

  What restoring a train state to evaluate it needs (shapes to build the
  abstract state): the training pipeline is traced on a stand-in for the
  parsed-example contract, so an evaluation never needs the training files.
  """
  stand_in = tf.data.Dataset.from_tensors(tf.constant(b"")).map(records.parse_sequence_example)
  return _training_batches(config, stand_in, preprocess, local_batch_size,
                           expand_example=expand_example).element_spec


def _training_batches(config: ml_collections.ConfigDict, examples: tf.data.Dataset,
                      preprocess: TrainPreprocessFn, local_batch_size: int, *,
                      process_index: int = 0, process_count: int = 1, start_example: int = 0,
                      host_fields: bool = False,
                      expand_example: ExpandExampleFn | None = None) -> tf.data.Dataset:
  """`make_train_dataset` from the parsed examples of one pass over the split."""
  examples = examples.repeat()
  if expand_example is not None:
    examples = examples.flat_map(expand_example)
  if config.data.shuffle_buffer > 1:
    examples = examples.shuffle(config.data.shuffle_buffer, seed=config.seed)
  seed_offset = tf.constant(process_index, tf.int64)

  def with_seed(index, example):
    seed = tf.stack([tf.constant(config.seed, tf.int64),
                     index * process_count + seed_offset])
    contract = {k: v for k, v in example.items() if not k.startswith("_")}
    contract[TRAIN_STEP_FIELD] = index // local_batch_size
    out = dict(preprocess(contract, seed))
    if not host_fields:
      return out
    out[INDEX_FIELD] = index
    out[CORRUPT_SKIPPED_FIELD] = example.get(CORRUPT_SKIPPED_FIELD, tf.constant(0, tf.int32))
    out[CORRUPT_FILE_FIELD] = example.get(CORRUPT_FILE_FIELD, tf.constant(""))
    return out

  dataset = examples.enumerate().skip(start_example).map(
      with_seed, num_parallel_calls=_parallel_calls(config.data), deterministic=True)
  if config.data.get("on_corrupt_record", "fail") == "skip":
    dataset = dataset.ignore_errors()
  dataset = dataset.batch(local_batch_size, drop_remainder=True)
  return dataset.prefetch(tf.data.AUTOTUNE)


# int64 scalar added to every training example before its preprocessing: the
# step of the batch it lands in (without skipped examples).
TRAIN_STEP_FIELD = "train_step"
INDEX_FIELD = "_index"
CORRUPT_SKIPPED_FIELD = "_corrupt_skipped"
CORRUPT_FILE_FIELD = "_corrupt_file"
HOST_FIELDS = (INDEX_FIELD, CORRUPT_SKIPPED_FIELD, CORRUPT_FILE_FIELD)


class CorruptRecordError(ValueError):
  """A corrupt or truncated record with `config.data.on_corrupt_record='fail'`."""


class InvalidInputError(errors.UserError):
  """An example that the objective's preprocessing refused (e.g. a label outside
  [0, num_classes)); the message names the setting to change."""


# Starts the message of a check inside a preprocessing function
# (`tf.debugging.Assert`) that `host_batches` turns into an `InvalidInputError`.
INVALID_INPUT_MESSAGE = "Invalid training input:"


@dataclasses.dataclass(frozen=True)
class BatchInfo:
  """What a training batch says about this process's input stream.

  Attributes:
    next_example: the stream position after this batch (what a checkpoint
      taken after consuming it stores).
    corrupt_records: unreadable records skipped just before this batch.
    failed_examples: examples dropped because their preprocessing failed.
    corrupt_files: the files of those records.
  """
  next_example: int
  corrupt_records: int = 0
  failed_examples: int = 0
  corrupt_files: tuple[str, ...] = ()


def explain_input_error(error: Exception) -> str | None:
  """The one-line message of a corrupt-record error from tf.data, else None."""
  match = re.search(re.escape(sources.CORRUPT_RECORD_MESSAGE) + r"[^\]\n]*", str(error))
  return match.group(0).replace("\\'", "'") if match else None


def host_batches(dataset: tf.data.Dataset, start_example: int = 0
                 ) -> Iterator[tuple[dict[str, np.ndarray], BatchInfo]]:
  """Numpy batches of a `make_train_dataset` without `HOST_FIELDS`, with their `BatchInfo`.

  Args:
    dataset: from `make_train_dataset(..., start_example=start_example)`.
    start_example: the same start position.

  Raises:
    CorruptRecordError: a corrupt record in 'fail' mode (names the file).
    InvalidInputError: the preprocessing refused an example
      (`INVALID_INPUT_MESSAGE`).
  """
  expected = start_example
  iterator = dataset.as_numpy_iterator()
  while True:
    try:
      batch = next(iterator)
    except StopIteration:
      return
    except tf.errors.OpError as error:
      invalid = re.search(re.escape(INVALID_INPUT_MESSAGE) + r"[^\]\n]*", str(error))
      if invalid:
        raise InvalidInputError(invalid.group(0).replace("\\'", "'")) from None
      message = explain_input_error(error)
      if message is None:
        raise
      raise CorruptRecordError(message) from None
    index = batch.pop(INDEX_FIELD)
    skipped = batch.pop(CORRUPT_SKIPPED_FIELD)
    files = batch.pop(CORRUPT_FILE_FIELD)
    failed = int(index[-1]) + 1 - expected - len(index)
    expected = int(index[-1]) + 1
    corrupt_files = tuple(sorted({f.decode() for f in files[skipped > 0]}))
    yield batch, BatchInfo(next_example=expected, corrupt_records=int(skipped.sum()),
                           failed_examples=failed, corrupt_files=corrupt_files)


def eval_clip_shape(config: ml_collections.ConfigDict) -> tuple[int, int]:
  """(clip length, frame stride) of the evaluation's clips: `config.eval.clip_length` /
  `config.eval.frame_stride` where set (not None), else pretraining's `config.data` ones
  (CVRL evaluates 32-frame clips of an encoder pretrained on 16)."""
  eval_config = config.get("eval") or {}
  clip_length = eval_config.get("clip_length")
  stride = eval_config.get("frame_stride")
  return (config.data.clip_length if clip_length is None else clip_length,
          config.data.frame_stride if stride is None else stride)


MODALITIES = ("rgb", "flow")


def make_eval_views_fn(config: ml_collections.ConfigDict, modality: str = "rgb"):
  """Returns the per-video test-view function shared by every objective.

  Each video gives `num_clips` evenly spaced clips (of `eval_clip_shape`) x
  `num_crops` spatial crops after resizing the short side: uint8
  [V, T, S, S, 3] with V = num_clips * num_crops, plus its label, label text
  and filename (so evaluation outputs can name the videos they come from).
  With `modality='flow'`, 'video' holds the optical flow of the same frames and
  crops instead (uint8 [V, T, S, S, 2], `flow_clips.eval_flow_views`).
  """
  if modality not in MODALITIES:
    raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}.")
  clip_length, stride = eval_clip_shape(config)
  num_clips = config.eval.num_clips
  num_crops = config.eval.num_crops
  crop_size = config.eval.crop_size
  resize_to = config.eval.resize_short_side

  def flow_views(example: Mapping[str, Any]) -> dict:
    return {
        "video": flow_clips.eval_flow_views(
            example, clip_length=clip_length, frame_stride=stride, num_clips=num_clips,
            num_crops=num_crops, resize_short_side=resize_to, crop_size=crop_size),
        "label": tf.cast(example["label"], tf.int32),
        "label_text": example["label_text"],
        "filename": example["filename"],
    }

  def views(example: Mapping[str, Any]) -> dict:
    num_frames = example["num_frames"]
    starts = sampling.evenly_spaced_clip_starts(num_frames, clip_length, stride, num_clips)

    def frame_indices_of_clip(start):
      return sampling.clip_frame_indices(start, clip_length, stride, num_frames)

    indices = tf.reshape(tf.map_fn(frame_indices_of_clip, starts), [-1])
    frames = decode.resize_short_side(decode.decode_frames(example["frames"], indices), resize_to)
    # Crops are taken once over all clips' frames: the same window for each clip.
    crops = augment.spatial_crops(frames / 255.0, crop_size, num_crops)
    crops = tf.reshape(crops, [num_crops, num_clips, clip_length, crop_size, crop_size, 3])
    crops = tf.reshape(tf.transpose(crops, [1, 0, 2, 3, 4, 5]),
                       [num_clips * num_crops, clip_length, crop_size, crop_size, 3])
    return {
        "video": tf.cast(tf.round(tf.clip_by_value(crops, 0.0, 1.0) * 255.0), tf.uint8),
        "label": tf.cast(example["label"], tf.int32),
        "label_text": example["label_text"],
        "filename": example["filename"],
    }

  return flow_views if modality == "flow" else views


def make_eval_dataset(
    config: ml_collections.ConfigDict,
    split: str,
    local_batch_size: int,
    *,
    process_index: int = 0,
    process_count: int = 1,
    modality: str = "rgb",
) -> tf.data.Dataset:
  """One pass over `split` in full batches; `mask` is False on padding rows.
  `modality='flow'`: the videos' optical flow instead of their frames."""
  examples = sources.make_example_dataset(
      config.data, split, shuffle_files=False, seed=config.seed,
      process_index=process_index, process_count=process_count)
  views = make_eval_views_fn(config, modality)

  def with_mask(example):
    out = views(example)
    out["mask"] = tf.constant(True)
    return out

  dataset = examples.map(with_mask, num_parallel_calls=_parallel_calls(config.data),
                         deterministic=True)
  return batch_and_pad(dataset, local_batch_size)


def batch_and_pad(dataset: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
  """Batches of exactly `batch_size` rows, the last one zero-padded (`pad_batch`),
  prefetched: an evaluation pass that drops no example."""
  def pad_to_full_batch(batch):
    return pad_batch(batch, batch_size)

  return dataset.batch(batch_size).map(pad_to_full_batch).prefetch(tf.data.AUTOTUNE)


def pad_batch(batch: Mapping[str, tf.Tensor], batch_size: int) -> dict:
  """Zero-pads every tensor of a (possibly short) batch to `batch_size` rows."""
  def pad(x):
    missing = batch_size - tf.shape(x)[0]
    paddings = tf.concat([[[0, missing]], tf.zeros([tf.rank(x) - 1, 2], tf.int32)], axis=0)
    padded = tf.pad(x, paddings)
    return tf.ensure_shape(padded, [batch_size] + x.shape[1:].as_list())
  return {k: pad(v) for k, v in batch.items()}

