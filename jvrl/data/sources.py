"""Where examples come from: the built-in synthetic set, TFRecords, or TFDS.

`config.data.source` selects the source:

  'synthetic'            the built-in motion dataset (`jvrl.data.synthetic`),
                         configured by `config.data.synthetic` (a dict of
                         `SyntheticConfig` fields plus an optional `cache_dir`;
                         '' = $JVRL_CACHE_DIR or ~/.cache/jvrl), generated on
                         first use and cached.
  'records'              SequenceExample TFRecords (`jvrl.data.records` layout)
                         matched by `config.data.train_files`,
                         `config.data.eval_train_files`,
                         `config.data.eval_test_files` (comma-separated globs).
  'tfds:NAME[/CONFIG]'   a TensorFlow Datasets video dataset, e.g.
                         'tfds:ucf101/ucf101_1_256'. `config.data.tfds_splits`
                         maps train/eval_train/eval_test to TFDS split strings
                         (default train -> 'train', eval_train -> 'train',
                         eval_test -> 'test'); `config.data.tfds_data_dir` is
                         optional.

Every source yields the parsed-example contract of
`records.parse_sequence_example`, with one difference: `frames` is tf.string
[L] (JPEG bytes) for records/synthetic and DECODED tf.uint8 [L, H, W, 3] for
TFDS; `decode.decode_frames` accepts both.
"""
from typing import Any, Mapping

from absl import logging
import tensorflow_datasets as tfds

from jvrl.data import records
from jvrl.data import synthetic
from jvrl.data.tf_setup import tf

SPLITS = synthetic.SPLITS  # ("train", "eval_train", "eval_test")
DEFAULT_TFDS_SPLITS = {"train": "train", "eval_train": "train", "eval_test": "test"}
TFDS_PREFIX = "tfds:"
_MAX_CYCLE_LENGTH = 16  # Files read concurrently per process.


def _field(data_config: Any, name: str, default: Any = None) -> Any:
  """`data_config.name` for a ConfigDict or a dict, `default` when absent."""
  value = data_config.get(name, default) if hasattr(data_config, "get") else getattr(
      data_config, name, default)
  return default if value is None else value


def _as_dict(value: Any) -> dict:
  if value is None:
    return {}
  if hasattr(value, "to_dict"):
    return value.to_dict()
  return dict(value)


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")


def _source(data_config: Any) -> str:
  source = _field(data_config, "source", "synthetic")
  if source not in ("synthetic", "records") and not source.startswith(TFDS_PREFIX):
    raise ValueError(f"config.data.source must be 'synthetic', 'records' or "
                     f"'tfds:NAME[/CONFIG]', got {source!r}.")
  return source


def synthetic_split_globs(data_config: Any) -> dict[str, str]:
  """Generates (once) the synthetic dataset of `config.data.synthetic`; split -> glob."""
  settings = _as_dict(_field(data_config, "synthetic", {}))
  cache_dir = settings.pop("cache_dir", "") or None
  cfg = synthetic.synthetic_config_from_dict(settings)
  return synthetic.ensure_synthetic_dataset(cfg, cache_dir)


def list_split_files(data_config: Any, split: str) -> list[str]:
  """Sorted record files of `split` for the 'synthetic' and 'records' sources.

  Args:
    data_config: `config.data`.
    split: one of `SPLITS`.

  Returns:
    The files matched by the split's comma-separated globs, sorted, no duplicates.

  Raises:
    ValueError: for a TFDS source, an empty pattern, or a glob matching nothing
      (the message names the pattern and the config field to set).
  """
  _check_split(split)
  source = _source(data_config)
  if source == "synthetic":
    patterns, field = synthetic_split_globs(data_config)[split], "config.data.synthetic"
  elif source == "records":
    field = f"config.data.{split}_files"
    patterns = _field(data_config, f"{split}_files", "")
  else:
    raise ValueError(f"Source {source!r} has no record files; list_split_files supports "
                     "'synthetic' and 'records'.")
  globs = [p.strip() for p in patterns.split(",") if p.strip()]
  if not globs:
    raise ValueError(f"No file pattern for split {split!r}: set {field} to one or more "
                     "comma-separated globs of TFRecord files.")
  files = set()
  for pattern in globs:
    matched = tf.io.gfile.glob(pattern)
    if not matched:
      raise ValueError(f"Pattern {pattern!r} for split {split!r} matches no file; check "
                       f"{field}.")
    files.update(matched)
  return sorted(files)


def _record_dataset(files: list[str], *, shuffle_files: bool, seed: int, process_index: int,
                    process_count: int) -> tf.data.Dataset:
  """Serialized records of this process's share of `files`."""
  shard_examples = len(files) < process_count
  if shard_examples:
    logging.warning("%d files < %d processes: every process reads all files and keeps "
                    "every %d-th example.", len(files), process_count, process_count)
  else:
    files = files[process_index::process_count]
  file_names = tf.data.Dataset.from_tensor_slices(files)
  if shuffle_files:
    file_names = file_names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
  dataset = file_names.interleave(
      tf.data.TFRecordDataset, cycle_length=min(len(files), _MAX_CYCLE_LENGTH), block_length=1,
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  if shard_examples:
    dataset = dataset.shard(process_count, process_index)
  return dataset


def _tfds_split(data_config: Any, split: str) -> str:
  splits = {**DEFAULT_TFDS_SPLITS, **_as_dict(_field(data_config, "tfds_splits", {}))}
  return splits[split]


def _tfds_to_contract(features: Mapping[str, tf.Tensor],
                      label_names: tuple[str, ...]) -> dict[str, tf.Tensor]:
  """Maps one TFDS video example to the parsed-example contract (frames decoded)."""
  frames = features["video"]
  label = tf.cast(features["label"], tf.int32) if "label" in features else tf.constant(-1)
  if label_names and "label" in features:
    label_text = tf.gather(tf.constant(label_names), tf.maximum(label, 0))
    label_text = tf.where(label >= 0, label_text, "")
  else:
    label_text = tf.constant("")
  if "audio" in features:
    audio = features["audio"]
    scale = 1.0 / 32768.0 if audio.dtype == tf.int16 else 1.0
    audio = tf.cast(audio, tf.float32) * scale
    # Multi-channel [S, C] audio is mixed down to mono.
    waveform = tf.reduce_mean(audio, axis=-1) if audio.shape.rank == 2 else tf.reshape(
        audio, [-1])
  else:
    waveform = tf.zeros([0], tf.float32)
  caption_key = next((k for k in ("captions", "caption") if k in features), None)
  captions = (tf.reshape(features[caption_key], [-1]) if caption_key
              else tf.zeros([0], tf.string))
  filename_key = next((k for k in ("video/filename", "filename", "id") if k in features), None)
  filename = features[filename_key] if filename_key else tf.constant("")
  if filename.dtype != tf.string:
    filename = tf.strings.as_string(filename)
  return {
      "frames": frames,
      "num_frames": tf.shape(frames, out_type=tf.int32)[0],
      "label": label,
      "label_text": label_text,
      "captions": captions,
      "waveform": waveform,
      "filename": filename,
  }


def _tfds_dataset(data_config: Any, split: str, *, shuffle_files: bool, seed: int,
                  process_index: int, process_count: int) -> tf.data.Dataset:
  name = _source(data_config)[len(TFDS_PREFIX):]
  tfds_split = _tfds_split(data_config, split)
  if process_count > 1:
    tfds_split = tfds.even_splits(tfds_split, n=process_count)[process_index]
  dataset, info = tfds.load(
      name, split=tfds_split, data_dir=_field(data_config, "tfds_data_dir", "") or None,
      shuffle_files=shuffle_files, with_info=True,
      read_config=tfds.ReadConfig(shuffle_seed=seed))
  if "video" not in info.features:
    raise ValueError(f"TFDS dataset {name!r} has no 'video' feature (features: "
                     f"{sorted(info.features.keys())}); jvrl expects a video dataset.")
  label_feature = info.features["label"] if "label" in info.features else None
  label_names = tuple(getattr(label_feature, "names", None) or ())
  return dataset.map(lambda f: _tfds_to_contract(f, label_names),
                     num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def make_example_dataset(data_config: Any, split: str, *, shuffle_files: bool, seed: int,
                         process_index: int = 0, process_count: int = 1) -> tf.data.Dataset:
  """One pass over this process's examples of `split`, in the parsed-example contract.

  Records/synthetic: files are split across processes when there are at least
  as many files as processes (else every process reads all files and keeps
  every `process_count`-th example); file reads are interleaved in a
  deterministic order. TFDS: `tfds.even_splits` gives each process its part.

  Args:
    data_config: `config.data` (see the module docstring).
    split: one of `SPLITS`.
    shuffle_files: shuffle the file order (each epoch, reproducibly from `seed`).
    seed: seed of the file shuffle.
    process_index, process_count: this process's place among the hosts.

  Returns:
    A tf.data.Dataset of dicts: 'frames' (tf.string [L] JPEG bytes, or tf.uint8
    [L, H, W, 3] for TFDS), 'num_frames', 'label', 'label_text', 'captions',
    'waveform', 'filename' (see `records.parse_sequence_example`).
  """
  _check_split(split)
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index must be in [0, process_count={process_count}), got "
                     f"{process_index}.")
  if _source(data_config).startswith(TFDS_PREFIX):
    return _tfds_dataset(data_config, split, shuffle_files=shuffle_files, seed=seed,
                         process_index=process_index, process_count=process_count)
  files = list_split_files(data_config, split)
  dataset = _record_dataset(files, shuffle_files=shuffle_files, seed=seed,
                            process_index=process_index, process_count=process_count)
  return dataset.map(records.parse_sequence_example, num_parallel_calls=tf.data.AUTOTUNE,
                     deterministic=True)
