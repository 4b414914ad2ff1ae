"""Lists the videos of an input collection as `VideoEntry`s.

Formats (`listing.list_videos(..., fmt=...)`):

  'folder'    ROOT/<class>/.../<video>: the class is the first sub-folder
              (files directly in ROOT are unlabelled). Every video goes to
              the split `split`. Files without a video extension are listed
              as `ignored`, hidden files and folders are skipped.
  'csv'       a CSV with a header: `path` (required; relative paths are
              resolved against `video_root`, default the CSV's folder) and
              optional `label`, `caption`, `start`, `end` (seconds; a clip of
              the video) and `split` (default `split`).
  'ucf101'    ROOT = the UCF-101 video folder; `split_file` = the
              `ucfTrainTestlist` folder (with `split_number` 1-3), or
              comma-separated `trainlist0N.txt` / `testlist0N.txt` files.
              Splits 'train' and 'test'; the class order is that of
              `classInd.txt` when it is next to the lists (so label indices
              are the official ones minus 1).
  'hmdb51'    ROOT = the HMDB51 video folder (ROOT/<class>/<video>.avi);
              `split_file` = the `testTrainMulti_7030_splits` folder (with
              `split_number`), or comma-separated / glob `<class>_test_splitN.txt`
              files. Id 1 -> 'train', 2 -> 'test', 0 -> not used.
  'kinetics'  a Kinetics annotation CSV (`label,youtube_id,time_start,time_end,
              split[,is_cc]`; label and split optional) against `video_root`
              (default the CSV's folder), searched recursively for either the
              trimmed clip `<youtube_id>_<start:06d>_<end:06d>.<ext>` (used
              whole) or the full video `<youtube_id>.<ext>` (trimmed to
              [time_start, time_end)).
  'auto'      a folder -> 'folder'; a CSV with a `youtube_id` column ->
              'kinetics'; another CSV -> 'csv'; `annotations` given ->
              'activitynet', `annotation_dir` given -> 'thumos14'.

Untrimmed videos with temporal annotations (`untrimmed.py`; TSP): every video
is kept whole and its annotated segments go into its record:

  'activitynet'   ActivityNet v1.3's JSON (`annotations`) against `video_root`.
  'thumos14'      THUMOS14's per-class files (`annotation_dir`) against
                  `video_root`.
  'segments_csv'  a CSV `path,label,start,end[,split]` with one row per
                  SEGMENT: the rows of one video are ONE record (while the
                  'csv' format's start,end TRIM a clip, one record per row).

Videos with timed captions (`timed_captions.py`; VATT): every video is kept
whole and its sentences (start, end, text) go into its record:

  'howto100m'     a CSV `video_id|path,start,end,text[,split]` (one row per
                  SENTENCE), a folder of per-video `<video_id>.csv` files
                  (`start,end,text`), or HowTo100M's caption.json, against
                  `video_root`.

Entries named by a CSV or split file whose video does not exist are returned
in `VideoListing.missing`, so that the caller can report them.
"""
import csv
import dataclasses
import glob
import math
import os
import re
from typing import Any, NamedTuple, Optional

from jvrl.data.prepare import problems as problems_lib
from jvrl.data.prepare import segments as segments_lib

VIDEO_EXTENSIONS = frozenset((
    ".mp4", ".m4v", ".mov", ".avi", ".webm", ".mkv", ".mpg", ".mpeg", ".flv", ".3gp",
    ".ogv", ".wmv", ".ts", ".mts"))
UNTRIMMED_FORMATS = ("activitynet", "thumos14", "segments_csv")
TIMED_CAPTION_FORMATS = ("howto100m",)
FORMATS = (("auto", "folder", "csv", "ucf101", "hmdb51", "kinetics") + UNTRIMMED_FORMATS
           + TIMED_CAPTION_FORMATS)
_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_.]+$")


class TimedCaption(NamedTuple):
  """One sentence of a video's narration (e.g. HowTo100M's ASR).

  Attributes:
    start, end: its time span in seconds from the video's first frame.
    text: the sentence.
  """
  start: float
  end: float
  text: str


@dataclasses.dataclass(frozen=True)
class VideoEntry:
  """One video (or one clip of a video) to turn into a record.

  Attributes:
    path: where to read it.
    file: its name in the records, manifest and report: relative to the input
      root, '/'-separated.
    split: output split, e.g. 'train' (file prefix of its shards).
    label: class name, '' when unlabelled.
    caption: a caption, '' when none.
    start, end: the clip to keep, in seconds from the video's first frame
      (None = from the beginning / to the end).
    segments: the temporal annotations of an untrimmed video (kept whole),
      in annotation order; () = an untrimmed video the annotations name no
      segment of; None = not an annotated untrimmed video (no segment
      lists in its record).
    annotated_seconds: the video's duration according to its annotation
      (ActivityNet), compared with the decoded duration; None = not given.
    captions: the timed sentences of a video kept whole, in time order;
      None = none (the record's captions are then `caption`, untimed).
  """
  path: str
  file: str
  split: str
  label: str = ""
  caption: str = ""
  start: Optional[float] = None
  end: Optional[float] = None
  segments: Optional[tuple[segments_lib.AnnotatedSegment, ...]] = None
  annotated_seconds: Optional[float] = None
  captions: Optional[tuple[TimedCaption, ...]] = None

  @property
  def key(self) -> tuple:
    """What identifies the entry: (split, file, start, end)."""
    return (self.split, self.file, self.start, self.end)


@dataclasses.dataclass
class VideoListing:
  """The result of listing an input.

  Attributes:
    entries: videos that exist, in input order.
    missing: videos named by the input that do not exist.
    ignored: files of an input folder that are not videos (relative names).
    label_order: the official class order when the format has one (UCF101's
      classInd.txt, ActivityNet's taxonomy, THUMOS14's class files), else
      None (labels are then sorted).
    notes: problems found in the annotations while listing (THUMOS14's
      Ambiguous segments), for the report.
  """
  entries: list[VideoEntry]
  missing: list[VideoEntry]
  ignored: list[str] = dataclasses.field(default_factory=list)
  label_order: Optional[list[str]] = None
  notes: list[problems_lib.Problem] = dataclasses.field(default_factory=list)


def check_split_name(split: str) -> str:
  """Returns `split` if usable as a shard-file prefix (letters, digits, '_', '.')."""
  if not _SPLIT_NAME.match(split or ""):
    raise ValueError(f"Split names may contain only letters, digits, '_' and '.', got "
                     f"{split!r}.")
  return split


def is_video_file(name: str) -> bool:
  """True when `name` has one of `VIDEO_EXTENSIONS` (case-insensitive)."""
  return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def relative(path: str, root: str) -> str:
  """`path` relative to `root`, '/'-separated (a video's name in the records)."""
  return os.path.relpath(path, root).replace(os.sep, "/")


def walk_files(root: str) -> list[str]:
  """Every non-hidden file under `root` (hidden folders skipped), sorted by path."""
  paths = []
  for directory, subdirs, files in os.walk(root):
    subdirs[:] = [d for d in subdirs if not d.startswith(".")]
    paths.extend(os.path.join(directory, name) for name in files if not name.startswith("."))
  return sorted(paths, key=lambda p: relative(p, root))


def make_entry(path: str, file: str, split: str, **kwargs) -> VideoEntry:
  """A `VideoEntry` whose split name is checked (`check_split_name`)."""
  return VideoEntry(path=path, file=file, split=check_split_name(split), **kwargs)


def split_existing(entries: list[VideoEntry], **kwargs) -> VideoListing:
  """A `VideoListing` of `entries`, those whose file does not exist as `missing`."""
  exists = [e for e in entries if os.path.isfile(e.path)]
  missing = [e for e in entries if not os.path.isfile(e.path)]
  return VideoListing(entries=exists, missing=missing, **kwargs)


def list_folder(root: str, split: str = "train") -> VideoListing:
  """Videos of `root/<class>/...`; see the module docstring."""
  if not os.path.isdir(root):
    raise ValueError(f"Input folder {root!r} does not exist.")
  entries, ignored = [], []
  for path in walk_files(root):
    file = relative(path, root)
    if not is_video_file(path):
      ignored.append(file)
      continue
    parts = file.split("/")
    entries.append(make_entry(path, file, split, label=parts[0] if len(parts) > 1 else ""))
  return VideoListing(entries=entries, missing=[], ignored=ignored)


def seconds_value(value: Any, what: str, where: str) -> float:
  """`value` as a finite number of seconds, or a ValueError naming `where` and `what`
  (annotation times of untrimmed videos and timed captions)."""
  try:
    seconds = float(value)
  except (TypeError, ValueError):
    raise ValueError(f"{where}: {what} must be a number of seconds, got {value!r}.") from None
  if not math.isfinite(seconds):
    raise ValueError(f"{where}: {what} must be a finite number of seconds, got {value!r}.")
  return seconds


def _optional_float(value: Optional[str], what: str, where: str) -> Optional[float]:
  if value is None or not value.strip():
    return None
  try:
    return float(value)
  except ValueError:
    raise ValueError(f"{where}: {what} must be a number of seconds, got {value!r}.") from None


def read_csv(csv_path: str) -> tuple[list[str], list[tuple[int, dict]]]:
  """Header (stripped, lower-case) and (line number, row) pairs of a CSV."""
  if not os.path.isfile(csv_path):
    raise ValueError(f"CSV file {csv_path!r} does not exist.")
  with open(csv_path, newline="", encoding="utf-8-sig") as f:
    reader = csv.reader(f)
    header = [h.strip().lower() for h in next(reader, [])]
    rows = []
    for row in reader:
      if not any(cell.strip() for cell in row):
        continue
      if len(row) != len(header):
        raise ValueError(f"{csv_path}:{reader.line_num}: expected {len(header)} columns "
                         f"({','.join(header)}), got {len(row)}.")
      rows.append((reader.line_num, {h: cell.strip() for h, cell in zip(header, row)}))
  return header, rows


def csv_video_path(path: str, root: str) -> tuple[str, str]:
  """(path to read, name in the records) of a CSV's `path` cell; relative to `root`."""
  full = os.path.join(root, path)
  file = relative(full, root) if os.path.isabs(path) else os.path.normpath(path).replace(
      os.sep, "/")
  return full, file


def list_csv(csv_path: str, split: str = "train", video_root: str = "") -> VideoListing:
  """Videos of a `path,label[,caption][,start,end][,split]` CSV (module docstring)."""
  header, rows = read_csv(csv_path)
  if "path" not in header:
    raise ValueError(f"{csv_path}: the header must name a 'path' column (optional: label, "
                     f"caption, start, end, split); got {header}.")
  root = video_root or os.path.dirname(os.path.abspath(csv_path))
  entries = []
  for line, row in rows:
    where = f"{csv_path}:{line}"
    if not row["path"]:
      raise ValueError(f"{where}: empty path.")
    start = _optional_float(row.get("start"), "start", where)
    end = _optional_float(row.get("end"), "end", where)
    path, file = csv_video_path(row["path"], root)
    entries.append(make_entry(path, file, row.get("split") or split, label=row.get("label", ""),
                          caption=row.get("caption", ""), start=start, end=end))
  return split_existing(entries)


def _expand(split_file: str) -> list[str]:
  """Comma-separated paths or globs -> sorted existing files."""
  files = []
  for pattern in (p.strip() for p in split_file.split(",") if p.strip()):
    matched = sorted(glob.glob(pattern))
    if not matched:
      raise ValueError(f"Split file {pattern!r} matches no file.")
    files.extend(matched)
  return files


def _read_lines(path: str) -> list[str]:
  with open(path, encoding="utf-8") as f:
    return [line.strip() for line in f if line.strip()]


def list_ucf101(video_root: str, split_file: str, split_number: int = 1) -> VideoListing:
  """UCF101 videos of the official train/test lists (module docstring)."""
  if os.path.isdir(split_file):
    lists = [("train", os.path.join(split_file, f"trainlist{split_number:02d}.txt")),
             ("test", os.path.join(split_file, f"testlist{split_number:02d}.txt"))]
    for _, path in lists:
      if not os.path.isfile(path):
        raise ValueError(f"UCF101 split list {path!r} does not exist.")
  else:
    lists = []
    for path in _expand(split_file):
      name = os.path.basename(path).lower()
      if not name.startswith(("trainlist", "testlist")):
        raise ValueError(f"UCF101 split files are trainlistNN.txt / testlistNN.txt, got {path!r}.")
      lists.append(("train" if name.startswith("trainlist") else "test", path))
  class_ind = os.path.join(os.path.dirname(lists[0][1]), "classInd.txt")
  label_order = None
  if os.path.isfile(class_ind):
    label_order = [line.split()[1] for line in _read_lines(class_ind)]
  entries = []
  for split, list_path in lists:
    for line in _read_lines(list_path):
      file = line.split()[0].replace("\\", "/")
      entries.append(make_entry(os.path.join(video_root, file), file, split,
                            label=file.split("/")[0]))
  return split_existing(entries, label_order=label_order)


_HMDB_LIST = re.compile(r"^(?P<label>.+)_test_split(?P<number>\d+)\.txt$")


def list_hmdb51(video_root: str, split_file: str, split_number: int = 1) -> VideoListing:
  """HMDB51 videos of the official split files (module docstring)."""
  if os.path.isdir(split_file):
    files = sorted(glob.glob(os.path.join(split_file, f"*_test_split{split_number}.txt")))
    if not files:
      raise ValueError(f"No *_test_split{split_number}.txt file in {split_file!r}.")
  else:
    files = _expand(split_file)
  entries = []
  for list_path in files:
    match = _HMDB_LIST.match(os.path.basename(list_path))
    if not match:
      raise ValueError(f"HMDB51 split files are <class>_test_splitN.txt, got {list_path!r}.")
    label = match["label"]
    for line in _read_lines(list_path):
      name, _, split_id = line.partition(" ")
      split = {"1": "train", "2": "test"}.get(split_id.strip())
      if split is None:
        continue  # Id 0: not part of this split.
      file = f"{label}/{name}"
      entries.append(make_entry(os.path.join(video_root, file), file, split, label=label))
  return split_existing(entries)


def stem_index(root: str) -> dict[str, str]:
  """File stem -> path of every video under `root` (first in sorted order wins)."""
  index = {}
  for path in walk_files(root):
    if is_video_file(path):
      index.setdefault(os.path.splitext(os.path.basename(path))[0], path)
  return index


def list_kinetics(csv_path: str, video_root: str = "", split: str = "train") -> VideoListing:
  """Clips of a Kinetics annotation CSV found under `video_root` (module docstring)."""
  header, rows = read_csv(csv_path)
  required = {"youtube_id", "time_start", "time_end"}
  if not required.issubset(header):
    raise ValueError(f"{csv_path}: a Kinetics CSV needs columns {sorted(required)} (and "
                     f"optional label, split); got {header}.")
  root = video_root or os.path.dirname(os.path.abspath(csv_path))
  index = stem_index(root)
  entries, missing = [], []
  for line, row in rows:
    where = f"{csv_path}:{line}"
    start = _optional_float(row["time_start"], "time_start", where)
    end = _optional_float(row["time_end"], "time_end", where)
    if start is None or end is None:
      raise ValueError(f"{where}: time_start and time_end are required.")
    youtube_id = row["youtube_id"]
    clip_stem = f"{youtube_id}_{int(start):06d}_{int(end):06d}"
    common = dict(label=row.get("label", ""))
    row_split = row.get("split") or split
    if clip_stem in index:
      path = index[clip_stem]
      entries.append(make_entry(path, relative(path, root), row_split, **common))
    elif youtube_id in index:
      path = index[youtube_id]
      entries.append(make_entry(path, relative(path, root), row_split, start=start, end=end,
                            **common))
    else:
      missing.append(make_entry(os.path.join(root, clip_stem), clip_stem, row_split, start=start,
                            end=end, **common))
  return VideoListing(entries=entries, missing=missing)


def detect_format(input_path: str) -> str:
  """'folder' for a directory, 'kinetics' or 'csv' for a CSV (see module docstring)."""
  if os.path.isdir(input_path):
    return "folder"
  if os.path.isfile(input_path):
    header, _ = read_csv(input_path)
    return "kinetics" if "youtube_id" in header else "csv"
  raise ValueError(f"Input {input_path!r} does not exist.")
