"""Where examples come from: the built-in synthetic set, TFRecords, or TFDS.

`config.data.source` selects the source:

  'synthetic'            the built-in motion dataset (`jvrl.data.synthetic`),
                         configured by `config.data.synthetic` (a dict of
                         `SyntheticConfig` fields plus an optional `cache_dir`;
                         '' = $JVRL_CACHE_DIR or ~/.cache/jvrl), generated on
                         first use and cached.
  'synthetic_untrimmed'  the built-in UNTRIMMED motion dataset with annotated
                         action segments (`jvrl.data.synthetic_untrimmed`, for
                         TSP), configured by `config.data.synthetic_untrimmed`
                         the same way.
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

Mixtures (`config.data.mixture`, e.g. VATT's HowTo100M + AudioSet): the
TRAINING split can draw from several sources. `config.data.mixture` maps a
member name to its `weight` and the `config.data` fields it changes
(`MIXTURE_MEMBER_KEYS`: source, train_files, synthetic, synthetic_untrimmed);
a member without changes reads `config.data`'s own source, e.g.

  config.data.mixture = dict(
      howto100m=dict(weight=1.0),
      audioset=dict(weight=1.0, source="records", train_files="/data/audioset/train-*"))

Members are taken in name order; weight 0 switches a member off; {} (the
default) trains on `config.data`'s source alone. Each member is read and
repeated on its own (files shuffled with the run's seed), then
`tf.data.Dataset.sample_from_datasets(weights normalised, seed=config.seed)`
draws each example from member m with probability w_m / sum(w), a
deterministic sequence for a given seed, so positions in the mixed stream
(what a checkpoint stores) replay exactly. Mixtures read the built-in or
'records' sources (TFDS gives decoded frames, which do not mix with JPEG
records). Evaluation splits, and fine-tuning's 'eval_train', never mix.

A held-out subset (`config.data.held_out`, `jvrl.data.held_out`): the split it
is carved from yields only the held-out videos or only the others.

Corrupt records ('records' and 'synthetic' sources): a record that cannot be
read (bad length or checksum, a truncated file) or parsed is handled as
`config.data.on_corrupt_record` says: 'fail' (default) stops with an error
naming the file and the record number; 'skip' drops it, prints a warning
naming the file, and counts it in the next example's '_corrupt_skipped' field
(its file in '_corrupt_file'), which the trainer adds up and logs. TFRecord
cannot find the next record after a framing error, so the rest of that file is
lost and counted as one skipped record.
"""
import sys
from typing import Any, Mapping

from absl import logging
import tensorflow_datasets as tfds

from jvrl.data import held_out as held_out_lib
from jvrl.data import records
from jvrl.data import synthetic
from jvrl.data import synthetic_untrimmed
from jvrl.data.tf_setup import tf

SPLITS = synthetic.SPLITS  # ("train", "eval_train", "eval_test")
DEFAULT_TFDS_SPLITS = {"train": "train", "eval_train": "train", "eval_test": "test"}
TFDS_PREFIX = "tfds:"
_MAX_CYCLE_LENGTH = 16  # Files read concurrently per process.
CORRUPT_RECORD_MODES = ("fail", "skip")
# Starts the error raised for a corrupt record in 'fail' mode (see
# `jvrl.data.pipeline.explain_input_error`).
CORRUPT_RECORD_MESSAGE = "Corrupt or truncated record in"
# An empty record marks the end of each file (a real video record is never
# empty; an empty one would parse to a video of zero frames).
END_MARKER = b""


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
  if source not in (*BUILT_IN, "records") and not source.startswith(TFDS_PREFIX):
    raise ValueError(f"config.data.source must be one of {list(BUILT_IN)}, 'records' or "
                     f"'tfds:NAME[/CONFIG]', got {source!r}.")
  return source


# Built-in datasets: source name -> (config from dict, ensure (cfg, cache_dir) ->
# {split: glob}, dataset directory (cfg, cache_dir) -> path).
BUILT_IN = {
    "synthetic": (synthetic.synthetic_config_from_dict, synthetic.ensure_synthetic_dataset,
                  synthetic.dataset_dir),
    "synthetic_untrimmed": (synthetic_untrimmed.untrimmed_config_from_dict,
                            synthetic_untrimmed.ensure_untrimmed_synthetic_dataset,
                            synthetic_untrimmed.dataset_dir),
}


def built_in_settings(data_config: Any) -> tuple[Any, str | None]:
  """(the built-in dataset's config, its cache dir or None) of `config.data.<source>`;
  no data is generated."""
  source = _source(data_config)
  settings = _as_dict(_field(data_config, source, {}))
  cache_dir = settings.pop("cache_dir", "") or None
  return BUILT_IN[source][0](settings), cache_dir


def synthetic_split_globs(data_config: Any) -> dict[str, str]:
  """Generates (once) the built-in dataset of `config.data.<source>`; split -> glob."""
  cfg, cache_dir = built_in_settings(data_config)
  return BUILT_IN[_source(data_config)][1](cfg, cache_dir)


def prepare_data_source(data_config: Any, splits: tuple[str, ...] = SPLITS) -> str:
  """Makes the data source ready to read and says, in one line, what the run reads.

  The first step of a run, after its config was validated (validation never
  writes): the built-in synthetic dataset is generated here on first use
  (cached afterwards); record files are listed. The returned line names the
  data for the start-up log: the built-in dataset's size and cache directory,
  the number of files matched for each split in `splits`, or the TFDS
  dataset and its split names.

  Raises:
    ValueError: an unknown source, or a records pattern matching nothing.
  """
  members = [(name, member) for name, _, member in mixture_members(data_config)]
  if members and "train" in splits:
    parts = []
    for name, member in members:
      try:
        parts.append(f"{name}: {prepare_data_source(member, ('train',))}")
      except ValueError as error:
        raise ValueError(member_error(name, error)) from None
    others = tuple(split for split in splits if split != "train")
    rest = f"; {prepare_data_source(_without_mixture(data_config), others)}" if others else ""
    weights = ", ".join(f"{name} {weight:g}" for name, weight, _ in
                        mixture_members(data_config))
    return f"a training mixture ({weights}) of [{'; '.join(parts)}]{rest}"
  source = _source(data_config)
  if source in BUILT_IN:
    cfg, cache_dir = built_in_settings(data_config)
    _, ensure, directory = BUILT_IN[source]
    ensure(cfg, cache_dir)
    sizes = ", ".join(f"{cfg.num_videos(split)} {split}" for split in SPLITS)
    name = "synthetic dataset" if source == "synthetic" else "untrimmed synthetic dataset"
    return f"the built-in {name} ({sizes} videos) in {directory(cfg, cache_dir)}"
  if source == "records":
    parts = []
    for split in splits:
      files = list_split_files(data_config, split)
      parts.append(f"{split}: {len(files)} file(s) matching "
                   f"{_field(data_config, f'{split}_files', '')!r}")
    return "records (" + "; ".join(parts) + ")"
  names = ", ".join(f"{split}={_tfds_split(data_config, split)!r}" for split in splits)
  return f"TFDS dataset {source[len(TFDS_PREFIX):]!r} ({names})"


MIXTURE_MEMBER_KEYS = ("weight", "source", "train_files", "synthetic", "synthetic_untrimmed")


def mixture_members(data_config: Any) -> list[tuple[str, float, dict]]:
  """(name, weight, member's data config) of `config.data.mixture`'s members with
  weight > 0, in name order; [] without a mixture (module docstring).

  Raises:
    ValueError: an unknown member key, a weight that is not a number >= 0,
      every weight 0, or a TFDS member.
  """
  mixture = _as_dict(_field(data_config, "mixture", {}))
  members = []
  base = {key: value for key, value in _as_dict(data_config).items() if key != "mixture"}
  for name in sorted(mixture):
    settings = _as_dict(mixture[name])
    unknown = sorted(set(settings) - set(MIXTURE_MEMBER_KEYS))
    if unknown:
      raise ValueError(f"config.data.mixture.{name} has unknown key(s) {unknown}; a member "
                       f"sets {list(MIXTURE_MEMBER_KEYS)}.")
    weight = settings.pop("weight", None)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
      raise ValueError(f"config.data.mixture.{name}.weight={weight!r} must be a number >= 0 "
                       "(0 switches the member off).")
    if weight == 0:
      continue
    member = dict(base, **settings)
    if str(_field(member, "source", "synthetic")).startswith(TFDS_PREFIX):
      raise ValueError(f"config.data.mixture.{name}: a mixture reads the built-in or 'records' "
                       "sources, not TFDS.")
    members.append((name, float(weight), member))
  if mixture and not members:
    raise ValueError("config.data.mixture: every member has weight 0; set one > 0, or "
                     "config.data.mixture={} to train on config.data's source alone.")
  return members


def member_error(name: str, error: Exception) -> str:
  """`error` about a mixture member's data, naming the member's own fields."""
  return f"config.data.mixture.{name}: " + str(error).replace(
      "config.data.train_files", f"config.data.mixture.{name}.train_files")


def make_mixture_dataset(data_config: Any, split: str, *, seed: int, process_index: int = 0,
                         process_count: int = 1) -> tf.data.Dataset:
  """The endless mixed stream of `split` (module docstring, "Mixtures").

  Every member is `make_example_dataset(member, split, shuffle_files=True)`
  repeated; `tf.data.Dataset.sample_from_datasets` with the normalised
  weights and `seed` interleaves them.
  """
  members = mixture_members(data_config)
  if not members:
    raise ValueError("make_mixture_dataset needs config.data.mixture.")
  datasets = []
  for name, _, member in members:
    try:
      datasets.append(make_example_dataset(
          member, split, shuffle_files=True, seed=seed, process_index=process_index,
          process_count=process_count).repeat())
    except ValueError as error:
      raise ValueError(member_error(name, error)) from None
  total = sum(weight for _, weight, _ in members)
  return tf.data.Dataset.sample_from_datasets(
      datasets, weights=[weight / total for _, weight, _ in members], seed=seed)


def _without_mixture(data_config: Any) -> dict:
  return {key: value for key, value in _as_dict(data_config).items() if key != "mixture"}


def list_split_files(data_config: Any, split: str) -> list[str]:
  """Sorted record files of `split` for the built-in and 'records' sources.

  Args:
    data_config: `config.data`.
    split: one of `SPLITS`.

  Returns:
    The files matched by the split's comma-separated globs, sorted, no duplicates.

  Raises:
    ValueError: for a TFDS source, an empty pattern, or a glob matching nothing
      or a directory (the message names the pattern and the config field to set).
  """
  _check_split(split)
  source = _source(data_config)
  if source in BUILT_IN:
    patterns, field = synthetic_split_globs(data_config)[split], f"config.data.{source}"
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
    directories = [path for path in matched if tf.io.gfile.isdir(path)]
    if directories:
      raise ValueError(f"Pattern {pattern!r} for split {split!r} matches the directory "
                       f"{directories[0]}, not record files: check {field} (e.g. "
                       f"'{directories[0].rstrip('/')}/*.tfrecord').")
    files.update(matched)
  return sorted(files)


def _corrupt_record_mode(data_config: Any) -> str:
  mode = _field(data_config, "on_corrupt_record", "fail")
  if mode not in CORRUPT_RECORD_MODES:
    raise ValueError(f"config.data.on_corrupt_record must be one of {CORRUPT_RECORD_MODES}, "
                     f"got {mode!r}.")
  return mode


def _file_records(path: tf.Tensor, file_index: tf.Tensor) -> tf.data.Dataset:
  """One file's records, numbered, followed by an end marker (an empty record).

  A record that cannot be read (bad length or checksum, truncated file) is an
  error element that still consumes a number; after it TFRecord cannot find
  the next record, so the file ends there. The end marker's number therefore
  reveals records lost at the end of a file.
  """
  records_ = tf.data.TFRecordDataset(path).concatenate(
      tf.data.Dataset.from_tensors(tf.constant(END_MARKER)))
  return records_.enumerate().map(lambda position, record: {
      "serialized": record, "file_index": file_index, "position": position})


def _checked_records(files: list[str], records_: tf.data.Dataset, mode: str) -> tf.data.Dataset:
  """Drops unreadable records and reports them, or fails, naming the file.

  `records_` holds parsed examples plus 'file_index', 'position' (number in
  the file) and 'is_marker'. Errors (unreadable or unparsable records) are
  dropped; a gap in a file's numbering then means records were lost. 'fail'
  raises an error naming the file and record; 'skip' prints a warning naming
  the file and counts the lost records in the next example's
  '_corrupt_skipped' (with the file in '_corrupt_file'), so the trainer can
  log them (records lost at the very end of a pass over the files are printed
  but not counted: no example follows them). End markers are removed.
  """
  file_names = tf.constant(files)
  records_ = records_.ignore_errors()

  def check(state, element):
    expected, pending, pending_file = state
    file_index, position = element["file_index"], element["position"]
    is_marker = element["is_marker"]
    skipped = position - expected[file_index]
    path = file_names[file_index]
    if mode == "fail":
      message = tf.strings.join([
          CORRUPT_RECORD_MESSAGE, " ", path, " (record ",
          tf.strings.as_string(expected[file_index]), "); set "
          "config.data.on_corrupt_record='skip' to skip such records."])
      assert_ok = tf.debugging.Assert(tf.equal(skipped, 0), [message], summarize=1)
      with tf.control_dependencies([assert_ok]):
        skipped = tf.identity(skipped)
    else:
      skipped = tf.cond(skipped > 0, lambda: _print_skipped(skipped, path, expected[file_index]),
                        lambda: skipped)
    expected = tf.tensor_scatter_nd_update(
        expected, [[file_index]], [tf.where(is_marker, tf.constant(0, tf.int64), position + 1)])
    total = pending + skipped
    total_file = tf.where(skipped > 0, path, pending_file)
    example = {k: v for k, v in element.items()
               if k not in ("file_index", "position", "is_marker")}
    example["_corrupt_skipped"] = tf.cast(tf.where(is_marker, tf.zeros_like(total), total),
                                          tf.int32)
    example["_corrupt_file"] = tf.where(is_marker, "", total_file)
    # A marker's count waits for the next real example.
    new_pending = tf.where(is_marker, total, tf.constant(0, tf.int64))
    new_pending_file = tf.where(is_marker, total_file, "")
    return (expected, new_pending, new_pending_file), (example, is_marker)

  initial = (tf.zeros([len(files)], tf.int64), tf.constant(0, tf.int64), tf.constant(""))
  checked = records_.scan(initial, check)
  return checked.filter(lambda example, is_marker: tf.logical_not(is_marker)).map(
      lambda example, is_marker: example)


def _print_skipped(skipped: tf.Tensor, path: tf.Tensor, first: tf.Tensor) -> tf.Tensor:
  printed = tf.print("jvrl: skipped", skipped, "corrupt or truncated record(s) in", path,
                     "from record", first, "(config.data.on_corrupt_record='skip').",
                     output_stream=sys.stderr)
  with tf.control_dependencies([printed]):
    return tf.identity(skipped)


def _record_dataset(data_config: Any, files: list[str], *, shuffle_files: bool, seed: int,
                    process_index: int, process_count: int) -> tf.data.Dataset:
  """Parsed examples of this process's share of `files`, corrupt records handled.

  Every example also carries '_corrupt_skipped' (records lost just before it,
  usually 0) and '_corrupt_file' (their file, or '').
  """
  mode = _corrupt_record_mode(data_config)
  shard_examples = len(files) < process_count
  if shard_examples:
    logging.warning("%d files < %d processes: every process reads all files and keeps "
                    "every %d-th example.", len(files), process_count, process_count)
  else:
    files = files[process_index::process_count]
  file_names = tf.data.Dataset.from_tensor_slices((files, tf.range(len(files), dtype=tf.int64)))
  if shuffle_files:
    file_names = file_names.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
  dataset = file_names.interleave(
      _file_records, cycle_length=min(len(files), _MAX_CYCLE_LENGTH), block_length=1,
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

  def parse(element):
    example = records.parse_sequence_example(element["serialized"])
    example.update(file_index=element["file_index"], position=element["position"],
                   is_marker=tf.equal(tf.strings.length(element["serialized"]), 0))
    return example

  dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  dataset = _checked_records(files, dataset, mode)
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
      "caption_start_us": tf.fill(tf.shape(captions), tf.constant(-1, tf.int64)),
      "caption_end_us": tf.fill(tf.shape(captions), tf.constant(-1, tf.int64)),
      "waveform": waveform,
      "filename": filename,
      "fps": tf.constant(0.0, tf.float32),
      "segment_start_us": tf.zeros([0], tf.int64),
      "segment_end_us": tf.zeros([0], tf.int64),
      "segment_labels": tf.zeros([0], tf.int32),
      "segment_label_texts": tf.zeros([0], tf.string),
      "flow": tf.zeros([0, 2], tf.string),
      "flow_bound": tf.constant(0.0, tf.float32),
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
    'waveform', 'filename', 'fps', 'segment_*', 'caption_start_us',
    'caption_end_us' (see `records.parse_sequence_example`; TFDS videos have no
    segments, no caption times and fps 0).
  """
  _check_split(split)
  if not 0 <= process_index < process_count:
    raise ValueError(f"process_index must be in [0, process_count={process_count}), got "
                     f"{process_index}.")
  if _source(data_config).startswith(TFDS_PREFIX):
    dataset = _tfds_dataset(data_config, split, shuffle_files=shuffle_files, seed=seed,
                            process_index=process_index, process_count=process_count)
  else:
    files = list_split_files(data_config, split)
    dataset = _record_dataset(data_config, files, shuffle_files=shuffle_files, seed=seed,
                              process_index=process_index, process_count=process_count)
  held_out = _field(data_config, "held_out", None)
  if held_out is not None and held_out.get("split") == split:
    held_out_lib.check_held_out_config(held_out)
    dataset = held_out_lib.filter_examples(
        dataset, held_out_lib.read_ids(held_out["ids_file"]), held_out["use"])
  return dataset
