"""Turns a listing of videos into sharded records + manifest.json + report.json.

`prepare_videos(listing, output_dir, ...)` writes into OUT:

  {split}-{k:05d}-of-{N:05d}.tfrecord   one SequenceExample per video
                                        (`jvrl.data.records` layout)
  labels.txt                            class i on line i (all splits share it)
  manifest.json                         per written video: file, split, shard,
                                        label, label_index, frames, fps,
                                        seconds, height, width, has_audio,
                                        audio_samples, flags (+ start/end,
                                        caption; + segments, annotated_segments
                                        for untrimmed videos; + timed_captions
                                        for videos with timed sentences);
                                        per split: glob,
                                        shards, videos, frames
  report.json                           every failure, skipped video and
                                        warning with its reason (segment
                                        warnings with their segment and
                                        action), and their counts
  .parts/                               options.json + one sidecar per
                                        finished shard (what makes reruns
                                        resume; keep it)

Videos are decoded in `workers` processes (`parallel.ordered_map`) and
written by this process, shard after shard (`shards`). A rerun into the same
OUT skips finished shards and redoes unfinished ones, so an interrupted run
continues without losing or duplicating a video; it refuses an OUT that was
started with other options or another input listing. The manifest and report
are rebuilt from the sidecars at the end of every run, and
`listed == written + failed + skipped` always holds.

Untrimmed videos with temporal annotations (`inputs.UNTRIMMED_FORMATS`) are
written whole with their segments (`video_record`); the classes of labels.txt
are their segments' classes. With a fixed class order (`label_order`, or the
format's own, e.g. ActivityNet's taxonomy), a segment of another class is
dropped and reported, not an error. A video the annotations name no segment
of is skipped (`no_annotation`) unless `unannotated='write'`. The summary
counts the segments stored, clipped and dropped, and its command trains TSP.
"""
import collections
import dataclasses
import functools
import glob
import hashlib
import json
import os
from typing import Any, Callable, Optional, Sequence

from absl import logging

from jvrl.data import records
from jvrl.data.prepare import inputs
from jvrl.data.prepare import labels as labels_lib
from jvrl.data.prepare import parallel
from jvrl.data.prepare import problems as problems_lib
from jvrl.data.prepare import progress as progress_lib
from jvrl.data.prepare import shards
from jvrl.data.prepare import video_record

MANIFEST_FILE = "manifest.json"
REPORT_FILE = "report.json"
OPTIONS_FILE = "options.json"
FORMAT_VERSION = 1
_EVAL_TEST_SPLITS = ("test", "val", "validation")
# Untrimmed records (TSP): THUMOS14 trains on its validation videos, tests on 'test'.
_TSP_TRAIN_SPLITS = ("train", "validation", "val")
_TSP_EVAL_TEST_SPLITS = ("validation", "val", "test")
UNANNOTATED_CHOICES = ("skip", "write")


@dataclasses.dataclass
class PrepareSummary:
  """What a run produced (all counts cover the whole OUT, resumed shards included).

  Attributes:
    output_dir: OUT.
    listed: distinct videos named by the input (found or not).
    written: videos in the records.
    failed: videos not in the records (each in report.json with its reason).
    warnings: warnings about written videos and the input (report.json).
    failure_reasons, warning_reasons: category -> count.
    skipped: videos left out by choice (`no_annotation`; report.json).
    skipped_reasons: category -> count.
    segments: for untrimmed videos (else None): 'annotated' (segments of the
      written videos) = 'stored' (of which 'clipped') + 'dropped';
      'dropped_reasons' (category -> count, summing to 'dropped');
      'ambiguous' (THUMOS14's Ambiguous segments: not a class, not stored).
    splits: split -> {'pattern', 'num_shards', 'videos', 'frames', 'unlabelled'}
      ('unlabelled': videos written without a class label).
    num_labels: classes in labels.txt.
    shards_total, shards_resumed: shards in the plan; already finished before
      this run.
    frames_this_run, seconds_this_run: frames written and wall time of this run.
    timed_captions: for videos with timed sentences (HowTo100M; else None):
      the sentences stored in the written videos.
  """
  output_dir: str
  listed: int
  written: int
  failed: int
  warnings: int
  failure_reasons: dict[str, int]
  warning_reasons: dict[str, int]
  splits: dict[str, dict[str, Any]]
  num_labels: int
  shards_total: int
  shards_resumed: int
  frames_this_run: int
  seconds_this_run: float
  skipped: int = 0
  skipped_reasons: dict[str, int] = dataclasses.field(default_factory=dict)
  segments: Optional[dict[str, Any]] = None
  timed_captions: Optional[int] = None

  def _splits(self) -> tuple[str, str | None, tuple[str, ...], str]:
    """(train split, test split or None, test split names, config) of the command."""
    config, train, tests = "configs/cvrl_synthetic.py", "train", _EVAL_TEST_SPLITS
    if self.segments is not None:
      config, tests = "configs/tsp_synthetic.py", _TSP_EVAL_TEST_SPLITS
      train = next((s for s in _TSP_TRAIN_SPLITS if s in self.splits), "train")
    elif self.timed_captions is not None:
      config = "configs/vatt_base_howto100m.py"
    test = next((s for s in tests if s in self.splits and s != train), None)
    return train, test, tests, config

  def no_evaluation_reason(self) -> str:
    """Why the suggested command only trains ('' when it also evaluates): the
    evaluation needs a test split and, for trimmed clips, class labels on both."""
    train, test, tests, _ = self._splits()
    if train not in self.splits:
      return "there is no train split"
    if test is None:
      return f"there is no test split ({' / '.join(tests)}) to evaluate on"
    if self.segments is None:
      for split in (train, test):
        unlabelled = self.splits[split].get("unlabelled", 0)
        if unlabelled:
          return (f"{unlabelled} of the {self.splits[split]['videos']} '{split}' videos have "
                  "no class label, which the evaluation needs (linear probe, kNN, retrieval)")
    return ""

  def train_command(self) -> str:
    """A `python -m jvrl.main` command reading these records ('' without a train split).

    Untrimmed records (`segments` set) get TSP's config, trained on 'train'
    (THUMOS14: 'validation') and evaluated on 'validation' (THUMOS14: 'test').
    When the records cannot be evaluated (`no_evaluation_reason`), the command
    trains only (`--mode=train`) and names no eval files.
    """
    train, test, _, config = self._splits()
    if train not in self.splits:
      return ""
    flags = ["--config.data.source=records",
             f"--config.data.train_files='{self.splits[train]['pattern']}'"]
    if self.timed_captions is not None:
      flags += [f"--config.vatt.text.vocab_file={os.path.join(self.output_dir, 'vocab.txt')}",
                "--config.vatt.text.word2vec_file=<word vectors, e.g. "
                "GoogleNews-vectors-negative300.bin>"]
    if self.no_evaluation_reason():
      flags.append("--mode=train")
    else:
      flags += [f"--config.data.eval_train_files='{self.splits[train]['pattern']}'",
                f"--config.data.eval_test_files='{self.splits[test]['pattern']}'"]
    return (f"python -m jvrl.main --config={config} --workdir=/tmp/run \\\n"
            + " \\\n".join(f"    {flag}" for flag in flags))

  def format(self) -> str:
    """The human-readable summary printed at the end of a run."""
    rate = self.frames_this_run / max(self.seconds_this_run, 1e-9)
    lines = [f"Prepared {self.written} of {self.listed} videos into {self.output_dir} in "
             f"{self.seconds_this_run:.1f} s ({self.frames_this_run:,} frames this run, "
             f"{rate:,.0f} frames/s; {self.shards_resumed} of {self.shards_total} shards "
             "were already done)."]
    for split, info in self.splits.items():
      lines.append(f"  {split}: {info['videos']} videos, {info['frames']:,} frames, "
                   f"{info['num_shards']} shard{'s' if info['num_shards'] != 1 else ''}: "
                   f"{info['pattern']}")

    def reasons(counts):
      return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    lines.append(f"  {self.failed} failed (not written)"
                 + (f": {reasons(self.failure_reasons)}" if self.failed else ""))
    if self.skipped:
      lines.append(f"  {self.skipped} skipped (not written, by choice): "
                   f"{reasons(self.skipped_reasons)} (--unannotated=write writes them as all "
                   "background)")
    lines.append(f"  {self.warnings} warnings (written anyway)"
                 + (f": {reasons(self.warning_reasons)}" if self.warnings else ""))
    if self.segments is not None:
      s = self.segments
      lines.append(f"  Segments of the written videos: {s['annotated']:,} annotated, "
                   f"{s['stored']:,} stored ({s['clipped']:,} of them clipped to the video), "
                   f"{s['dropped']:,} dropped"
                   + (f": {reasons(s['dropped_reasons'])}" if s["dropped"] else "")
                   + (f"; {s['ambiguous']:,} Ambiguous (not a class) not stored"
                      if s["ambiguous"] else ""))
    lines.append(f"  Details: {os.path.join(self.output_dir, REPORT_FILE)}; per video: "
                 f"{os.path.join(self.output_dir, MANIFEST_FILE)}; {self.num_labels} classes: "
                 f"{os.path.join(self.output_dir, labels_lib.LABELS_FILE)}")
    if self.timed_captions is not None:
      train = self._splits()[0]
      lines.append(f"  Timed captions: {self.timed_captions:,} sentences in the written "
                   "videos. Build their vocabulary before training: python "
                   f"data/build_vocab.py --files='{self.splits.get(train, {}).get('pattern', '')}'"
                   f" --output={os.path.join(self.output_dir, 'vocab.txt')} --min_count=5")
    command = self.train_command()
    if command:
      reason = self.no_evaluation_reason()
      lines += ["Train TSP on them:" if self.segments is not None else "Train on them:",
                command]
      if reason:
        lines.append(f"  (training only: {reason}.)")
    return "\n".join(lines)


def _deduplicate(entries: Sequence[inputs.VideoEntry]):
  """Entries with distinct keys (first kept) and warnings for the repeats."""
  seen, unique, warnings = set(), [], []
  for entry in entries:
    if entry.key in seen:
      warnings.append(problems_lib.Problem(entry.file, entry.split, "duplicate_entry",
                                           entry.start, entry.end))
    else:
      seen.add(entry.key)
      unique.append(entry)
  return unique, warnings


def _entries_digest(entries: Sequence[inputs.VideoEntry]) -> str:
  def row(e: inputs.VideoEntry) -> list[Any]:
    out = [list(e.key), e.label, e.caption]
    if e.segments is not None:  # Untrimmed entries only: older digests stay valid.
      out += [[list(s) for s in e.segments], e.annotated_seconds]
    if e.captions is not None:  # Timed captions only, likewise.
      out += [[list(c) for c in e.captions]]
    return out
  rows = sorted(json.dumps(row(e)) for e in entries)
  return hashlib.sha1("\n".join(rows).encode("utf-8")).hexdigest()


def _check_resumable(output_dir: str, options: dict[str, Any]) -> None:
  """Writes OUT/.parts/options.json, or checks it matches when resuming."""
  path = os.path.join(shards.parts_dir(output_dir), OPTIONS_FILE)
  if os.path.isfile(path):
    with open(path, encoding="utf-8") as f:
      previous = json.load(f)
    if previous != options:
      differ = sorted(k for k in set(previous) | set(options)
                      if previous.get(k) != options.get(k))
      raise ValueError(
          f"{output_dir} holds a preparation made with different options or input "
          f"(differs in: {', '.join(differ)}). Use another --output_dir, or delete "
          f"{output_dir} to start over.")
    return
  existing = glob.glob(os.path.join(output_dir, f"*{records.RECORD_SUFFIX}")) + glob.glob(
      os.path.join(output_dir, MANIFEST_FILE))
  if existing:
    raise ValueError(f"{output_dir} already has record files or a manifest but no "
                     f"{shards.PARTS_DIR}/{OPTIONS_FILE}, so it was not made by this tool (or "
                     "its resume state was deleted). Use an empty --output_dir.")
  os.makedirs(shards.parts_dir(output_dir), exist_ok=True)
  shards.write_json(path, options)


def _remove_stale_parts(output_dir: str) -> None:
  for path in glob.glob(os.path.join(shards.parts_dir(output_dir), "*.incomplete")):
    os.remove(path)


def _write_shards(output_dir: str, todo: Sequence[shards.ShardSpec], label_of: dict[str, int],
                  options: video_record.RecordOptions, workers: int,
                  progress: progress_lib.Progress,
                  on_shard_complete: Optional[Callable[[shards.ShardSpec], None]]) -> None:
  """Decodes the videos of `todo` in parallel and writes those shards in order."""
  items = ((entry, label_of.get(entry.label, -1),
            tuple(label_of.get(s.label, -1) for s in entry.segments or ()))
           for spec in todo for entry in spec.entries)
  # Each worker's decoder gets its share of the CPUs (a pool of one-per-CPU
  # workers each decoding on every CPU only adds context switches).
  threads = max(1, parallel.default_workers() // workers)
  results = parallel.ordered_map(
      functools.partial(video_record.make_video_record, options=options,
                        decoder_threads=threads), items,
      workers=workers,
      on_crash=lambda item: video_record.failed(item[0], "decoder_crashed"))
  try:
    for spec in todo:
      writer = shards.ShardWriter(output_dir, spec)
      try:
        for _ in spec.entries:
          _, result = next(results)
          writer.add(result)
          progress.update(result.info["frames"] if result.info else 0, result.record is None)
      except BaseException:
        writer.abort()
        raise
      writer.finish()
      if on_shard_complete is not None:
        on_shard_complete(spec)
  finally:
    results.close()


def _split_info(output_dir: str, plan: Sequence[shards.ShardSpec],
                videos: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
  info = {}
  for spec in plan:
    info.setdefault(spec.split, {"pattern": records.shard_glob(output_dir, spec.split),
                                 "num_shards": spec.num_shards, "videos": 0, "frames": 0,
                                 "unlabelled": 0})
  for video in videos:
    info[video["split"]]["videos"] += 1
    info[video["split"]]["frames"] += video["frames"]
    info[video["split"]]["unlabelled"] += int(video.get("label_index", -1) < 0)
  return info


def _segment_counts(videos: Sequence[dict[str, Any]],
                    warnings: Sequence[problems_lib.Problem]) -> dict[str, Any]:
  """The segments of the written videos: annotated, stored, clipped, dropped (+ why)."""
  annotated = sum(v.get("annotated_segments", 0) for v in videos)
  stored = sum(v.get("segments", 0) for v in videos)
  reasons = collections.Counter(
      problems_lib.category(p.reason) for p in warnings if p.segment is not None)
  ambiguous = reasons.pop("ambiguous_segment", 0)
  clipped = reasons.pop("segment_clipped", 0)
  dropped = dict(sorted(reasons.items()))
  if sum(dropped.values()) != annotated - stored:  # Would mean a segment vanished.
    raise RuntimeError(f"Internal error: {annotated} segments annotated, {stored} stored, but "
                       f"{sum(dropped.values())} reported dropped.")
  return {"annotated": annotated, "stored": stored, "clipped": clipped,
          "dropped": annotated - stored, "dropped_reasons": dropped, "ambiguous": ambiguous}


def prepare_videos(
    listing: inputs.VideoListing,
    output_dir: str,
    *,
    options: video_record.RecordOptions = video_record.RecordOptions(),
    num_shards: int = 0,
    workers: Optional[int] = None,
    label_order: Optional[Sequence[str]] = None,
    show_progress: bool = True,
    on_shard_complete: Optional[Callable[[shards.ShardSpec], None]] = None,
    unannotated: str = "skip",
) -> PrepareSummary:
  """Writes the records, labels.txt, manifest.json and report.json of `listing`.

  Args:
    listing: the videos (`jvrl.data.prepare.listing.list_videos`).
    output_dir: OUT (created if needed; see the module docstring for reruns).
    options: decoding and encoding options.
    num_shards: shards per split; 0 = one per `shards.VIDEOS_PER_SHARD` videos.
    workers: decoding processes; None = every CPU; 1 = in this process.
    label_order: a fixed class order (e.g. an earlier run's labels.txt);
      default the listing's official order, else sorted names. Segments of
      a class outside it are dropped and reported (a clip label outside it
      is an error).
    show_progress: draw the progress line on stderr.
    on_shard_complete: called after each shard is published (tests use it to
      interrupt a run).
    unannotated: what to do with an untrimmed video the annotations name no
      segment of: 'skip' (reported as `no_annotation`), or 'write' (written
      with zero segments, flagged `no_segments`).

  Returns:
    The `PrepareSummary`.

  Raises:
    ValueError: nothing to prepare, labels outside `label_order`, or an OUT
      made with other options / input.
  """
  if unannotated not in UNANNOTATED_CHOICES:
    raise ValueError(f"unannotated must be one of {UNANNOTATED_CHOICES}, got {unannotated!r}.")
  output_dir = os.path.abspath(output_dir)
  entries, duplicate_warnings = _deduplicate(listing.entries)
  missing, missing_duplicates = _deduplicate(listing.missing)
  if not entries and not missing:
    raise ValueError("The input lists no video.")
  skips = []
  if unannotated == "skip":
    skips = [problems_lib.Problem(e.file, e.split, "no_annotation: the annotations name no "
                                  "segment of this video; not written")
             for e in entries + missing if e.segments == ()]
    entries = [e for e in entries if e.segments != ()]
    missing = [e for e in missing if e.segments != ()]
  order = label_order if label_order is not None else listing.label_order
  segment_labels = [s.label for e in entries + missing for s in e.segments or ()]
  labels = labels_lib.build_label_map(
      [e.label for e in entries + missing] + (segment_labels if order is None else []), order)
  label_of = labels_lib.label_index(labels)
  per_split = collections.Counter(e.split for e in entries)
  shard_counts = {split: num_shards or shards.default_num_shards(count)
                  for split, count in sorted(per_split.items())}
  plan = shards.plan_shards(entries, shard_counts)

  os.makedirs(output_dir, exist_ok=True)
  _check_resumable(output_dir, {
      "format_version": FORMAT_VERSION,
      "record_options": dataclasses.asdict(options),
      "num_shards": shard_counts,
      "labels": labels,
      "entries": _entries_digest(entries),
  })
  _remove_stale_parts(output_dir)
  todo = [spec for spec in plan if not shards.is_complete(output_dir, spec)]
  if len(todo) < len(plan):
    logging.info("Resuming in %s: %d of %d shards are already done.", output_dir,
                 len(plan) - len(todo), len(plan))
  workers = parallel.default_workers() if workers is None else max(1, workers)
  progress = progress_lib.Progress(sum(len(s.entries) for s in todo), enabled=show_progress)
  _write_shards(output_dir, todo, label_of, options, workers, progress, on_shard_complete)

  videos, problems = [], []
  for spec in plan:
    sidecar = shards.read_sidecar(output_dir, spec)
    videos += sidecar["videos"]
    problems += [problems_lib.Problem.from_dict(p) for p in sidecar["problems"]]
  problems += [problems_lib.Problem(e.file, e.split, "missing_file", e.start, e.end)
               for e in missing]
  problems += duplicate_warnings + missing_duplicates
  problems += [problems_lib.Problem(f, "", "not_a_video") for f in listing.ignored]
  problems += skips + listing.notes
  problems.sort(key=lambda p: (p.split, p.file, p.start or 0.0, p.end or 0.0,
                               p.segment is not None, p.segment or (), p.reason))
  failures = [p for p in problems if p.is_failure]
  skipped = [p for p in problems if p.is_skip]
  warnings = [p for p in problems if not p.is_failure and not p.is_skip]
  listed = len(entries) + len(missing) + len(skips)
  if len(videos) + len(failures) + len(skipped) != listed:  # A video vanished: never expected.
    raise RuntimeError(f"Internal error: {listed} videos listed but {len(videos)} written + "
                       f"{len(failures)} failed + {len(skipped)} skipped.")

  failure_reasons = collections.Counter(problems_lib.category(p.reason) for p in failures)
  skipped_reasons = collections.Counter(problems_lib.category(p.reason) for p in skipped)
  warning_reasons = collections.Counter(problems_lib.category(p.reason) for p in warnings)
  segment_counts = _segment_counts(videos, warnings) if any(
      e.segments is not None for e in listing.entries + listing.missing) else None
  timed_captions = sum(v.get("timed_captions", 0) for v in videos) if any(
      e.captions is not None for e in listing.entries + listing.missing) else None
  split_info = _split_info(output_dir, plan, videos)
  labels_lib.write_labels(os.path.join(output_dir, labels_lib.LABELS_FILE), labels)
  shards.write_json(os.path.join(output_dir, MANIFEST_FILE), {
      "format_version": FORMAT_VERSION,
      "options": dataclasses.asdict(options),
      "labels": labels,
      "splits": split_info,
      "videos": videos,
  })
  shards.write_json(os.path.join(output_dir, REPORT_FILE), {
      "counts": {"listed": listed, "written": len(videos), "failed": len(failures),
                 "skipped": len(skipped), "warnings": len(warnings),
                 "failure_reasons": dict(failure_reasons),
                 "skipped_reasons": dict(skipped_reasons),
                 "warning_reasons": dict(warning_reasons),
                 **({"segments": segment_counts} if segment_counts is not None else {})},
      "failed": [p.to_dict() for p in failures],
      "skipped": [p.to_dict() for p in skipped],
      "warnings": [p.to_dict() for p in warnings],
  })
  return PrepareSummary(
      output_dir=output_dir, listed=listed, written=len(videos), failed=len(failures),
      warnings=len(warnings), failure_reasons=dict(failure_reasons),
      warning_reasons=dict(warning_reasons), splits=split_info, num_labels=len(labels),
      shards_total=len(plan), shards_resumed=len(plan) - len(todo),
      frames_this_run=progress.frames, seconds_this_run=progress.elapsed,
      skipped=len(skipped), skipped_reasons=dict(skipped_reasons), segments=segment_counts,
      timed_captions=timed_captions)
