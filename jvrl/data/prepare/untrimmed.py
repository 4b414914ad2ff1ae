"""Lists UNTRIMMED videos with temporal annotations as `VideoEntry`s (TSP, REFERENCE §6).

Every video is kept whole (never trimmed). Its annotated action instances
become `VideoEntry.segments` (seconds, class name); `video_record` checks them
against the decoded video (`segments.check_segments`: clipped to the video,
or dropped and reported) and stores them in the record's context next to
`video/fps`. A video the annotations name no segment of gets `segments=()`
(`no_annotation`: `prepare` skips it unless asked to write it).

Formats (`list_untrimmed(fmt, ...)`):

  'activitynet'   ActivityNet v1.3's official JSON (`annotations`, e.g.
                  activity_net.v1-3.min.json): {"database": {<youtube id>:
                  {"subset", "duration", "annotations": [{"segment": [start,
                  end], "label"}, ...]}, ...}, "taxonomy": [...]}. Each video
                  is looked up under `video_root` (recursively) as
                  `v_<id>.<ext>`, else `<id>.<ext>` (any video extension);
                  the others are `missing`. Subsets -> splits: 'training' ->
                  'train', 'validation' -> 'validation' (point TSP's
                  evaluation files at it), 'testing' -> 'test' (its
                  annotations are withheld, so these videos have no segment
                  and are skipped as `no_annotation` by default: their
                  actions are unknown, not absent). Classes: the leaf nodes
                  of the JSON's taxonomy (the 200 of v1.3), sorted; without a
                  taxonomy, the labels its annotations use, sorted. An
                  annotation label outside the taxonomy is reported per
                  segment (`segment_unknown_class`) and not stored. The
                  `duration` it gives is compared with the decoded one.
  'thumos14'      THUMOS14's official per-class files under `annotation_dir`
                  (one or more comma-separated folders, searched
                  recursively): `<Class>_val.txt` -> split 'validation',
                  `<Class>_test.txt` -> 'test', each line `video_name start
                  end` in seconds. Classes: the class files' names (the 20),
                  sorted. `Ambiguous_val.txt` / `Ambiguous_test.txt` are not
                  a class: each of their lines is reported
                  (`ambiguous_segment`) and nothing of them is stored. Videos
                  are `video_validation_*.<ext>` / `video_test_*.<ext>` under
                  `video_root` (recursively); a named video without a file is
                  `missing`. Videos of an annotated split that no class file
                  names (THUMOS14's videos without any of the 20 actions) get
                  no segment (`no_annotation`; TSP, like the official
                  THUMOS14 data, trains on the annotated videos only). Other
                  files under `video_root` are not THUMOS14 videos and are
                  not listed. TSP trains on 'validation' and evaluates on
                  'test'.
  'segments_csv'  a CSV with a header `path,label,start,end[,split]` and one
                  row per SEGMENT (start, end in seconds): all rows of one
                  (path, split) are ONE untrimmed video with several segments
                  (unlike the 'csv' format, whose start,end TRIM a clip, one
                  record per row). Relative paths are resolved against
                  `video_root` (default: the CSV's folder); rows without a
                  split go to `split`. Classes: the labels, sorted.
"""
import json
import os
import re
from typing import Any, Optional

from jvrl.data.prepare import inputs
from jvrl.data.prepare import problems as problems_lib
from jvrl.data.prepare import segments as segments_lib

ACTIVITYNET_SPLITS = {"training": "train", "validation": "validation", "testing": "test"}
THUMOS14_SPLITS = {"val": "validation", "test": "test"}
THUMOS14_AMBIGUOUS = "Ambiguous"
_THUMOS14_FILE = re.compile(r"^(?P<label>.+)_(?P<split>val|test)\.txt$")
_THUMOS14_VIDEO = re.compile(r"^video_(?P<split>validation|test)_\d+$")
_THUMOS14_VIDEO_SPLITS = {"validation": "validation", "test": "test"}


def _segment(start: Any, end: Any, label: str, where: str) -> segments_lib.AnnotatedSegment:
  if not isinstance(label, str) or not label.strip():
    raise ValueError(f"{where}: a segment needs a class label, got {label!r}.")
  return segments_lib.AnnotatedSegment(inputs.seconds_value(start, "start", where),
                                       inputs.seconds_value(end, "end", where), label.strip())


def _taxonomy_leaves(taxonomy: Any, where: str) -> Optional[list[str]]:
  """Names of the taxonomy's leaf nodes, sorted; None when there is no taxonomy."""
  if not taxonomy:
    return None
  try:
    parents = {node["parentId"] for node in taxonomy}
    return sorted({node["nodeName"] for node in taxonomy if node["nodeId"] not in parents})
  except (KeyError, TypeError):
    raise ValueError(f"{where}: 'taxonomy' must be a list of nodes with nodeId, nodeName "
                     "and parentId.") from None


def list_activitynet(annotations: str, video_root: str) -> inputs.VideoListing:
  """Videos of ActivityNet v1.3's JSON found under `video_root` (module docstring)."""
  if not os.path.isfile(annotations):
    raise ValueError(f"ActivityNet annotation file {annotations!r} does not exist.")
  with open(annotations, encoding="utf-8") as f:
    try:
      content = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f"{annotations}: not valid JSON ({e}).") from None
  database = content.get("database") if isinstance(content, dict) else None
  if not isinstance(database, dict):
    raise ValueError(f"{annotations}: expected ActivityNet's {{'database': {{<video id>: ...}}}}"
                     " JSON.")
  index = inputs.stem_index(video_root)
  entries, missing = [], []
  for video_id, video in database.items():
    where = f"{annotations}: video {video_id!r}"
    if not isinstance(video, dict):
      raise ValueError(f"{where}: expected an object with subset, duration, annotations.")
    split = ACTIVITYNET_SPLITS.get(video.get("subset"))
    if split is None:
      raise ValueError(f"{where}: subset must be one of {sorted(ACTIVITYNET_SPLITS)}, got "
                       f"{video.get('subset')!r}.")
    segments = []
    for annotation in video.get("annotations") or []:
      bounds = annotation.get("segment")
      if not isinstance(bounds, (list, tuple)) or len(bounds) != 2:
        raise ValueError(f"{where}: an annotation's 'segment' must be [start, end], got "
                         f"{bounds!r}.")
      segments.append(_segment(bounds[0], bounds[1], annotation.get("label"), where))
    duration = video.get("duration")
    fields = dict(segments=tuple(segments),
                  annotated_seconds=None if duration is None else inputs.seconds_value(
                      duration, "duration", where))
    path = index.get(f"v_{video_id}") or index.get(video_id)
    if path is not None:
      entries.append(inputs.make_entry(path, inputs.relative(path, video_root), split,
                                       **fields))
    else:
      missing.append(inputs.make_entry(os.path.join(video_root, f"v_{video_id}"), video_id,
                                       split, **fields))
  return inputs.VideoListing(entries=entries, missing=missing, label_order=_taxonomy_leaves(
      content.get("taxonomy"), annotations))


def _read_thumos14_files(annotation_dir: str) -> list[tuple[str, str, str]]:
  """(path, class, split) of every THUMOS14 annotation file, sorted by path."""
  found = []
  for folder in (d.strip() for d in annotation_dir.split(",") if d.strip()):
    if not os.path.isdir(folder):
      raise ValueError(f"THUMOS14 annotation folder {folder!r} does not exist.")
    for path in inputs.walk_files(folder):
      match = _THUMOS14_FILE.match(os.path.basename(path))
      if match:
        found.append((path, match["label"], THUMOS14_SPLITS[match["split"]]))
  if not any(label != THUMOS14_AMBIGUOUS for _, label, _ in found):
    raise ValueError(f"No THUMOS14 class file (<Class>_val.txt / <Class>_test.txt) in "
                     f"{annotation_dir!r}.")
  return sorted(found)


def list_thumos14(annotation_dir: str, video_root: str) -> inputs.VideoListing:
  """THUMOS14 videos with their per-class segments (module docstring)."""
  files = _read_thumos14_files(annotation_dir)
  videos = {stem: path for stem, path in inputs.stem_index(video_root).items()
            if _THUMOS14_VIDEO.match(stem)}
  annotated: dict[tuple[str, str], list[segments_lib.AnnotatedSegment]] = {}
  ambiguous = []
  for path, label, split in files:
    with open(path, encoding="utf-8") as f:
      for number, line in enumerate(f, 1):
        if not line.strip():
          continue
        where = f"{path}:{number}"
        parts = line.split()
        if len(parts) != 3:
          raise ValueError(f"{where}: expected 'video_name start end', got {line.strip()!r}.")
        segment = _segment(parts[1], parts[2], label, where)
        if label == THUMOS14_AMBIGUOUS:
          ambiguous.append((parts[0], split, segment, f"{os.path.basename(path)}:{number}"))
        else:
          annotated.setdefault((split, parts[0]), []).append(segment)

  def file_of(name: str) -> str:
    return inputs.relative(videos[name], video_root) if name in videos else name

  entries, missing = [], []
  for (split, name), segments in sorted(annotated.items()):
    if name in videos:
      entries.append(inputs.make_entry(videos[name], file_of(name), split,
                                       segments=tuple(segments)))
    else:
      missing.append(inputs.make_entry(os.path.join(video_root, name), name, split,
                                       segments=tuple(segments)))
  splits = {split for _, _, split in files}
  for name, path in sorted(videos.items()):
    split = _THUMOS14_VIDEO_SPLITS[_THUMOS14_VIDEO.match(name)["split"]]
    if split in splits and (split, name) not in annotated:
      entries.append(inputs.make_entry(path, file_of(name), split, segments=()))
  notes = [problems_lib.Problem(
      file_of(name), split, f"ambiguous_segment: {where}: THUMOS14's Ambiguous is not a "
      "class; not stored", segment=tuple(segment)) for name, split, segment, where in ambiguous]
  labels = sorted({label for _, label, _ in files if label != THUMOS14_AMBIGUOUS})
  return inputs.VideoListing(entries=entries, missing=missing, label_order=labels, notes=notes)


def list_segments_csv(csv_path: str, split: str = "train",
                      video_root: str = "") -> inputs.VideoListing:
  """Untrimmed videos of a `path,label,start,end[,split]` CSV, one row per segment."""
  header, rows = inputs.read_csv(csv_path)
  required = ("path", "label", "start", "end")
  if not set(required).issubset(header):
    raise ValueError(f"{csv_path}: a segments CSV needs the columns {','.join(required)} "
                     f"(optional: split), one row per segment; got {header}.")
  root = video_root or os.path.dirname(os.path.abspath(csv_path))
  videos: dict[tuple[str, str], tuple[str, list[segments_lib.AnnotatedSegment]]] = {}
  for line, row in rows:
    where = f"{csv_path}:{line}"
    if not row["path"]:
      raise ValueError(f"{where}: empty path.")
    path, file = inputs.csv_video_path(row["path"], root)
    row_split = inputs.check_split_name(row.get("split") or split)
    segment = _segment(row["start"], row["end"], row["label"], where)
    videos.setdefault((row_split, file), (path, []))[1].append(segment)
  return inputs.split_existing([
      inputs.make_entry(path, file, row_split, segments=tuple(segments))
      for (row_split, file), (path, segments) in videos.items()])


def list_untrimmed(fmt: str, *, input_path: str = "", split: str = "train",
                   video_root: str = "", annotations: str = "",
                   annotation_dir: str = "") -> inputs.VideoListing:
  """Lists the videos of an untrimmed format (see the module docstring).

  Args:
    fmt: 'activitynet', 'thumos14' or 'segments_csv'.
    input_path: the segments CSV (segments_csv).
    split: split of CSV rows without a split column (segments_csv).
    video_root: the folder of the videos (required for activitynet and
      thumos14; default the CSV's folder for segments_csv).
    annotations: ActivityNet's JSON (activitynet).
    annotation_dir: THUMOS14's annotation folder(s), comma-separated (thumos14).

  Returns:
    The `inputs.VideoListing`; every entry has `segments` set.
  """
  if fmt == "segments_csv":
    if not input_path:
      raise ValueError("format 'segments_csv' needs --input=<CSV: path,label,start,end"
                       "[,split]>.")
    return list_segments_csv(input_path, split, video_root)
  if fmt == "activitynet" and not annotations:
    raise ValueError("format 'activitynet' needs --annotations=<activity_net.v1-3.min.json>.")
  if fmt == "thumos14" and not annotation_dir:
    raise ValueError("format 'thumos14' needs --annotation_dir=<folder(s) of "
                     "<Class>_val.txt / <Class>_test.txt>.")
  if fmt not in ("activitynet", "thumos14"):
    raise ValueError(f"Not an untrimmed format: {fmt!r}.")
  if not video_root or not os.path.isdir(video_root):
    raise ValueError(f"format {fmt!r} needs --video_root=<folder of the videos>; got "
                     f"{video_root!r}.")
  if fmt == "activitynet":
    return list_activitynet(annotations, video_root)
  return list_thumos14(annotation_dir, video_root)
