"""Start-up checks of the data a run reads: refuse what would give wrong numbers.

`jvrl.main` runs `check_data` once, right after `sources.prepare_data_source`
made the data readable and before any model is built. It reads only record
metadata (per video: label, 'video/filename', frame count and the first
frame's JPEG header; never a decoded frame): from the `manifest.json` that
`data/prepare_videos.py` writes beside its records when it lists every file
of a split (exact, nothing else read), else from the records themselves, at
most `TRAIN_SAMPLE_VIDEOS` of the train split and `EVAL_SAMPLE_VIDEOS` of
each eval split, in file order (the summary line says "first N" when a split
was sampled). A sample proves what it finds (an unlabelled video, a label
beyond the classes, a shared video); a claim about ALL videos (every video
too short, no shared class) is only made from a complete read, and the
evaluation checks its labels again on every video it extracted
(`check_eval_labels`). TFDS sources are not read here.

Refused (`DataCheckError`, one line naming the setting or file):
* a split whose files hold no video (zero-byte or empty files), a file that
  is not a TFRecord file, videos without frames;
* every video of a split shorter than a clip's span (clip_length x
  frame_stride: every clip would wrap around), the training crop larger than
  every training video's frames;
* evaluation: eval videos without a class label, no eval_test class present
  in eval_train, eval_test sharing files or videos ('video/filename') with
  eval_train (retrieval would find the query itself; opt in with
  `config.eval.allow_split_overlap=True`);
* labels >= the classes a classifier is built for
  (`config.eval.finetune.num_classes`, `config.supervised.num_classes`) and
  unlabelled videos for the supervised objective.

Warned about, with counts (the run goes on): empty files beside others, some
videos shorter than a clip's span or smaller than the crop, some eval_test
classes absent from eval_train, a batch larger than its split (every batch
repeats videos: false negatives for a contrastive loss; counted from the
record headers when the sample is smaller than the batch), an allowed
overlap.
"""
import dataclasses
import json
import os
from typing import Any

import numpy as np

from jvrl import errors
from jvrl.data import decode
from jvrl.data import pipeline
from jvrl.data import records
from jvrl.data import sources
from jvrl.data.tf_setup import tf

# Videos whose metadata is read at start-up when no manifest describes them.
TRAIN_SAMPLE_VIDEOS = 256
EVAL_SAMPLE_VIDEOS = 4096
MANIFEST_FILE = "manifest.json"  # written by data/prepare_videos.py beside its records
EVAL_SPLITS = ("eval_train", "eval_test")


class DataCheckError(errors.UserError):
  """The data cannot give a meaningful result (one line naming the setting or file)."""


@dataclasses.dataclass(frozen=True)
class Expectations:
  """What an objective's experiment does with the data (`jvrl.experiments`).

  Attributes:
    classification_eval: the shared evaluation runs (linear probe, kNN,
      retrieval on clip labels), so the eval splits need class labels.
    trains_on_videos: a training example is one whole video (not, as for
      TSP, one of the units a video is expanded into), so a batch larger than
      the split repeats videos.
  """
  classification_eval: bool = True
  trains_on_videos: bool = True


@dataclasses.dataclass
class SplitSummary:
  """What the check read of one split: one entry per video, in file order.

  Attributes:
    split: the split's name.
    files: its record files.
    complete: every video was read (else the first `len(labels)`).
    labels: int [V] class index, -1 when absent.
    video_ids: [V] 'video/filename' ('' when absent).
    video_files: [V] index into `files` of each video's file.
    num_frames: int [V].
    frame_sides: int [V] shorter side of the first frame (0 without frames).
    records_per_file: videos read from each file.
    origin: 'records' or the manifest's path.
    corrupt_files: files whose end could not be read
      (`config.data.on_corrupt_record='skip'`).
  """
  split: str
  files: list[str]
  complete: bool
  labels: np.ndarray
  video_ids: list[str]
  video_files: np.ndarray
  num_frames: np.ndarray
  frame_sides: np.ndarray
  records_per_file: list[int]
  origin: str = "records"
  corrupt_files: tuple[str, ...] = ()

  @property
  def num_videos(self) -> int:
    return len(self.labels)

  def file_of(self, mask: np.ndarray) -> str:
    """The file of the first video where `mask` holds."""
    return self.files[int(self.video_files[np.flatnonzero(mask)[0]])]

  def count(self) -> str:
    """'N', or 'the first N' when the split was sampled."""
    return f"{self.num_videos}" if self.complete else f"the first {self.num_videos}"

  def describe(self) -> str:
    count = self.count()
    labelled = self.labels[self.labels >= 0]
    classes = f", {len(np.unique(labelled))} classes" if len(labelled) else ", no labels"
    return (f"{self.split}: {count} videos in {len(self.files)} file(s){classes}, "
            f"{int(self.num_frames.min()) if self.num_videos else 0}-"
            f"{int(self.num_frames.max()) if self.num_videos else 0} frames")


@dataclasses.dataclass
class DataReport:
  """The outcome of `check_data`: one summary line and the warnings (one line each)."""
  summary: str
  warnings: list[str]


def _metadata(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
  example = records.parse_sequence_example(serialized)
  frames = example["frames"]
  side = tf.cond(example["num_frames"] > 0,
                 lambda: tf.reduce_min(decode.frame_size(frames)), lambda: tf.constant(0))
  return {"label": example["label"], "filename": example["filename"],
          "num_frames": example["num_frames"], "side": side}


_METADATA_SPEC = {"label": tf.TensorSpec([], tf.int32), "filename": tf.TensorSpec([], tf.string),
                  "num_frames": tf.TensorSpec([], tf.int32), "side": tf.TensorSpec([], tf.int32)}


@tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
def _batch_metadata(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
  """`_metadata` of a batch of serialized records (traced once for every file)."""
  return tf.map_fn(_metadata, serialized, fn_output_signature=_METADATA_SPEC)


def _scan_records(split: str, files: list[str], max_videos: int | None,
                  on_corrupt_record: str) -> SplitSummary:
  """Reads the metadata of `split`'s videos from its record files (in file order)."""
  columns = {"label": [], "filename": [], "num_frames": [], "side": [], "file": []}
  per_file, complete, corrupt = [], True, []
  for index, path in enumerate(files):
    remaining = None if max_videos is None else max_videos - len(columns["label"])
    if remaining is not None and remaining <= 0:
      complete = False
      per_file.append(0)
      continue
    dataset = tf.data.TFRecordDataset(path)
    if remaining is not None:
      dataset = dataset.take(remaining + 1)
    read = 0
    try:
      for serialized in dataset.batch(256).prefetch(1):
        batch = {k: v.numpy() for k, v in _batch_metadata(serialized).items()}
        for key in ("label", "filename", "num_frames", "side"):
          columns[key].extend(batch[key].tolist())
        read += len(batch["label"])
    except tf.errors.OpError as error:
      first_line = (error.message or str(error)).strip().splitlines()[0]
      if read == 0:
        raise DataCheckError(
            f"cannot read {path} (split {split!r}) as video records: {first_line}. Give "
            "TFRecord files of tf.train.SequenceExample videos (data/prepare_videos.py "
            "writes them).") from None
      if on_corrupt_record != "skip":
        raise pipeline.CorruptRecordError(
            f"{sources.CORRUPT_RECORD_MESSAGE} {path} (after record {read}); set "
            "config.data.on_corrupt_record='skip' to skip such records.") from None
      corrupt.append(path)
    if remaining is not None and read > remaining:
      complete = False
      for key in ("label", "filename", "num_frames", "side"):
        del columns[key][len(columns["file"]) + remaining:]
      read = remaining
    columns["file"].extend([index] * read)
    per_file.append(read)
  return SplitSummary(
      split=split, files=files, complete=complete,
      labels=np.asarray(columns["label"], np.int64),
      video_ids=[f.decode("utf-8", "replace") for f in columns["filename"]],
      video_files=np.asarray(columns["file"], np.int64),
      num_frames=np.asarray(columns["num_frames"], np.int64),
      frame_sides=np.asarray(columns["side"], np.int64), records_per_file=per_file,
      corrupt_files=tuple(corrupt))


def _from_manifest(split: str, files: list[str]) -> SplitSummary | None:
  """The split's metadata from the `manifest.json` beside its files, when that lists
  every one of them (data/prepare_videos.py's output); else None."""
  by_shard: dict[tuple[str, str], list[dict]] = {}
  manifests = set()
  for directory in sorted({os.path.dirname(f) for f in files}):
    path = os.path.join(directory, MANIFEST_FILE)
    try:
      with tf.io.gfile.GFile(path) as f:
        manifest = json.load(f)
    except (OSError, ValueError, tf.errors.OpError):
      return None
    manifests.add(path)
    for video in manifest.get("videos", []):
      by_shard.setdefault((directory, str(video.get("shard"))), []).append(video)
  columns: dict[str, list] = {"label": [], "id": [], "file": [], "frames": [], "side": []}
  per_file = []
  for index, path in enumerate(files):
    key = (os.path.dirname(path), os.path.basename(path))
    if key not in by_shard and tf.io.gfile.stat(path).length > 0:
      return None  # a file the manifest does not know: read the records
    videos = by_shard.get(key, [])
    per_file.append(len(videos))
    for video in videos:
      columns["label"].append(int(video.get("label_index", -1)))
      columns["id"].append(str(video.get("file", "")))
      columns["file"].append(index)
      columns["frames"].append(int(video.get("frames", 0)))
      columns["side"].append(min(int(video.get("height", 0)), int(video.get("width", 0))))
  return SplitSummary(
      split=split, files=files, complete=True, labels=np.asarray(columns["label"], np.int64),
      video_ids=columns["id"], video_files=np.asarray(columns["file"], np.int64),
      num_frames=np.asarray(columns["frames"], np.int64),
      frame_sides=np.asarray(columns["side"], np.int64), records_per_file=per_file,
      origin=", ".join(sorted(manifests)))


def count_videos(files: list[str], limit: int) -> int:
  """The number of records in `files`, counted up to `limit` from the TFRecord framing
  alone (each record's 8-byte length; its data is skipped, not read)."""
  count = 0
  for path in files:
    with tf.io.gfile.GFile(path, "rb") as f:
      size = f.size()
      while count < limit and f.tell() + 12 <= size:
        length = int.from_bytes(f.read(8), "little")
        f.seek(f.tell() + 4 + length + 4)
        count += 1
    if count >= limit:
      break
  return count


def read_split(data_config: Any, split: str, max_videos: int | None = None) -> SplitSummary:
  """The metadata of `split`'s videos (at most `max_videos` read from records)."""
  files = sources.list_split_files(data_config, split)
  return _from_manifest(split, files) or _scan_records(
      split, files, max_videos, data_config.get("on_corrupt_record", "fail"))


def _files_setting(data_config: Any, split: str) -> str:
  source = data_config.get("source", "synthetic")
  if source == "records":
    return f"config.data.{split}_files={data_config.get(f'{split}_files', '')!r}"
  return f"the built-in {source!r} dataset's {split} split"


def _check_files(summary: SplitSummary, data_config: Any, warnings: list[str]) -> None:
  empty = [f for f, n in zip(summary.files, summary.records_per_file) if n == 0]
  if summary.complete and not summary.num_videos:
    zero_bytes = [f for f in summary.files if tf.io.gfile.stat(f).length == 0]
    raise DataCheckError(
        f"{_files_setting(data_config, summary.split)}: its {len(summary.files)} file(s) hold "
        f"no video record ({len(zero_bytes)} are zero-byte files; e.g. {summary.files[0]}): "
        "point the setting at the records of this split.")
  if summary.corrupt_files:
    warnings.append(f"{len(summary.corrupt_files)} {summary.split} file(s) end in a corrupt "
                    f"record (e.g. {summary.corrupt_files[0]}); skipped "
                    "(config.data.on_corrupt_record='skip').")
  if summary.complete and empty:
    warnings.append(f"{len(empty)} of the {len(summary.files)} {summary.split} file(s) hold no "
                    f"video record (e.g. {empty[0]}); the other files are used.")
  no_frames = summary.num_frames == 0
  if no_frames.any():
    raise DataCheckError(
        f"{int(no_frames.sum())} {summary.split} video(s) hold no frames (first in "
        f"{summary.file_of(no_frames)}): rewrite those records or leave their files out.")


def _check_clip_span(summary: SplitSummary, config: Any, warnings: list[str]) -> None:
  span = config.data.clip_length * config.data.get("frame_stride", 1)
  short = summary.num_frames < span
  setting = (f"a clip's span (config.data.clip_length={config.data.clip_length} x "
             f"config.data.frame_stride={config.data.get('frame_stride', 1)} = {span} frames)")
  if short.all() and summary.complete:
    raise DataCheckError(
        f"every one of the {summary.num_videos} {summary.split} videos is shorter than "
        f"{setting}; the longest has {int(summary.num_frames.max())} frames: every clip would "
        "wrap around. Lower config.data.clip_length or config.data.frame_stride.")
  if short.any():
    warnings.append(
        f"{int(short.sum())} of {summary.count()} {summary.split} videos are shorter than "
        f"{setting}: their clips wrap around (frames repeat from the start).")


def _check_crop(summary: SplitSummary, config: Any, warnings: list[str]) -> None:
  crop = config.data.crop_size
  small = summary.frame_sides < crop
  if small.all() and summary.complete:
    raise DataCheckError(
        f"config.data.crop_size={crop} is larger than the frames of every {summary.split} "
        f"video (largest shorter side: {int(summary.frame_sides.max())} pixels): lower it, or "
        "prepare the records with a larger --short_side.")
  if small.any():
    warnings.append(
        f"{int(small.sum())} of {summary.count()} {summary.split} videos have frames smaller "
        f"than config.data.crop_size={crop} (shorter side down to "
        f"{int(summary.frame_sides.min())}): their crops are upsampled.")


def _check_batch(summary: SplitSummary, field: str, batch_size: int,
                 warnings: list[str]) -> None:
  videos = (summary.num_videos if summary.complete
            else count_videos(summary.files, batch_size + 1))
  if batch_size > videos:
    warnings.append(
        f"{field}={batch_size} is larger than the {videos} {summary.split} videos: every "
        f"batch repeats at least {batch_size - videos} of them (for a contrastive loss the "
        "copies are false negatives); lower the batch size.")


def _check_classes(summary: SplitSummary, field: str, num_classes: int) -> None:
  unlabelled = summary.labels < 0
  if unlabelled.any():
    raise DataCheckError(
        f"{int(unlabelled.sum())} of {summary.count()} {summary.split} videos have no class "
        f"label (clip/label/index; first in {summary.file_of(unlabelled)}), but {field} trains "
        "a classifier on them: use labelled records.")
  top = int(summary.labels.max())
  if top >= num_classes:
    raise DataCheckError(
        f"{summary.split} has labels up to {top} but {field}={num_classes}: set it to at "
        f"least {top + 1} (labels must be in [0, {field.rsplit('.', 1)[-1]})).")


def check_eval_labels(train_labels: np.ndarray, test_labels: np.ndarray,
                      where: str = "") -> list[str]:
  """Checks the class labels of eval_train and eval_test; returns warnings.

  Shared by the start-up check (from metadata) and the evaluation (from the
  labels its features came with, e.g. for TFDS sources).

  Raises:
    DataCheckError: unlabelled videos (label < 0) in either split, or no
      eval_test class occurring in eval_train (every metric would be 0).
  """
  for split, labels in (("eval_train", train_labels), ("eval_test", test_labels)):
    unlabelled = int(np.sum(np.asarray(labels) < 0))
    if unlabelled:
      raise DataCheckError(
          f"{unlabelled} of {len(labels)} {split} videos have no class label "
          f"(clip/label/index){where}: the evaluation (linear probe, kNN, retrieval) needs "
          "labelled eval_train and eval_test records; prepare them with labels, or run "
          "--mode=train.")
  train_classes, test_classes = set(np.unique(train_labels)), set(np.unique(test_labels))
  missing = sorted(test_classes - train_classes)
  if missing == sorted(test_classes):
    raise DataCheckError(
        f"none of the {len(test_classes)} eval_test classes occurs in eval_train{where} (test "
        f"classes {sorted(int(c) for c in test_classes)[:5]}..., train classes "
        f"{sorted(int(c) for c in train_classes)[:5]}...): every metric would be 0. Use "
        "eval splits labelled with the same class indices (one labels.txt).")
  if missing:
    videos = int(np.isin(test_labels, missing).sum())
    return [f"{len(missing)} of {len(test_classes)} eval_test classes ({videos} of "
            f"{len(test_labels)} test videos) never occur in eval_train{where}: those videos "
            f"count as errors in every metric (classes {[int(c) for c in missing[:5]]}...)."]
  return []


def _check_overlap(train: SplitSummary, test: SplitSummary, config: Any,
                   warnings: list[str]) -> None:
  train_files = {os.path.realpath(f) for f in train.files}
  shared_files = sorted(f for f in test.files if os.path.realpath(f) in train_files)
  train_ids = {v for v in train.video_ids if v}
  shared_ids = sorted({v for v in test.video_ids if v in train_ids})
  if not shared_files and not shared_ids:
    return
  what = (f"{len(shared_files)} file(s) (e.g. {shared_files[0]})" if shared_files
          else f"{len(shared_ids)} video(s) (e.g. {shared_ids[0]!r})")
  allowed = config.eval.get("allow_split_overlap", False)
  message = (f"eval_test shares {what} with eval_train: retrieval and kNN would find the test "
             "videos themselves (recall@1 near 1.0)")
  if not allowed:
    raise DataCheckError(f"{message}. Use disjoint eval_train / eval_test records, or set "
                         "config.eval.allow_split_overlap=True to evaluate anyway.")
  warnings.append(f"{message}; config.eval.allow_split_overlap=True, so the evaluation runs.")


def _finetune_steps(config: Any) -> int:
  finetune = config.eval.get("finetune")
  return int(finetune.get("steps", 0) or 0) if finetune is not None else 0


def _supervised_classes(config: Any) -> int | None:
  objective = config.get("objective")
  members = dict(config.get("combined") or {}) if objective == "combined" else {}
  if objective == "supervised" or "supervised" in members:
    return config.supervised.num_classes
  return None


def check_data(config: Any, mode: str, expectations: Expectations = Expectations(),
               max_train_videos: int = TRAIN_SAMPLE_VIDEOS,
               max_eval_videos: int = EVAL_SAMPLE_VIDEOS) -> DataReport:
  """Checks the data `config` reads in `mode` (see the module docstring).

  Returns:
    The summary line and the warnings (one line each) for the start-up log.

  Raises:
    DataCheckError: data that cannot give a meaningful result.
  """
  source = config.data.get("source", "synthetic")
  if source.startswith(sources.TFDS_PREFIX):
    return DataReport("data checks: TFDS source, record files not read (labels are checked "
                      "when the evaluation has them)", [])
  warnings: list[str] = []
  summaries: dict[str, SplitSummary] = {}
  if mode != "eval":
    split = config.data.get("train_split", "train")
    batch = config.train.batch_size
    # A training mixture: each member's train split is checked (`sources`, "Mixtures").
    members = [member for _, _, member in sources.mixture_members(config.data)
               ] if split == "train" else []
    for data_config in members or [config.data]:
      summary = read_split(data_config, split, max_train_videos)
      summaries.setdefault(split, summary)
      _check_files(summary, data_config, warnings)
      _check_clip_span(summary, config, warnings)
      _check_crop(summary, config, warnings)
      if expectations.trains_on_videos and not members:
        _check_batch(summary, "config.train.batch_size", batch, warnings)
    classes = _supervised_classes(config)
    if classes is not None:
      _check_classes(summaries[split], "config.supervised.num_classes", classes)
  if mode != "train":
    for split in EVAL_SPLITS:
      summary = summaries.get(split) or read_split(config.data, split, max_eval_videos)
      summaries[split] = summary
      _check_files(summary, config.data, warnings)
      _check_clip_span(summary, config, warnings)
    train, test = summaries["eval_train"], summaries["eval_test"]
    _check_overlap(train, test, config, warnings)
    if expectations.classification_eval:  # label sets: the evaluation checks them again
      for summary in (train, test):
        unlabelled = summary.labels < 0
        if unlabelled.any():
          raise DataCheckError(
              f"{int(unlabelled.sum())} of {summary.count()} {summary.split} videos have no "
              f"class label (clip/label/index; first in {summary.file_of(unlabelled)}): the "
              "evaluation (linear probe, kNN, retrieval) needs labelled eval_train and "
              "eval_test records; prepare them with labels, or run --mode=train.")
      if train.complete and test.complete:
        warnings += check_eval_labels(train.labels, test.labels)
      if _finetune_steps(config):
        for summary in (train, test):
          _check_classes(summary, "config.eval.finetune.num_classes",
                         config.eval.finetune.num_classes)
        _check_batch(train, "config.eval.finetune.batch_size", config.eval.finetune.batch_size,
                     warnings)
  summary = "data checks: " + "; ".join(s.describe() for s in summaries.values())
  origins = sorted({s.origin for s in summaries.values() if s.origin != "records"})
  if origins:
    summary += f" (metadata from {', '.join(origins)})"
  return DataReport(summary, warnings)
