"""Lists videos with timed captions (HowTo100M's ASR sentences) as `VideoEntry`s (VATT).

Every video is kept whole (never trimmed); its sentences become
`VideoEntry.captions` (start and end in seconds from the video's first frame,
text), which `video_record` stores in the record's context as
'caption/string' + 'caption/start/timestamp' + 'caption/end/timestamp'
(microseconds, in time order). VATT's sampler then builds each training
clip's MIL-NCE bag from the sentence at the clip and its temporal neighbours
(`jvrl.data.vatt_sampling`).

Format 'howto100m' (`list_howto100m(input_path, video_root, split)`), the
input being one of:

  a CSV file      header `video_id,start,end,text[,split]` (or `path` instead
                  of `video_id`), one row per SENTENCE: all rows of one video
                  make ONE record;
  a folder        of per-video CSVs `<video_id>.csv` with header
                  `start,end,text` (HowTo100M's caption CSVs as MIL-NCE's
                  loader reads them);
  a JSON file     HowTo100M's `caption.json` / `raw_caption.json`:
                  {<video_id>: {"start": [...], "end": [...], "text": [...]}}.

Times are seconds. A `video_id` is looked up under `video_root` (recursively)
as `<video_id>.<any video extension>`; a `path` is relative to `video_root`.
Videos not found are `missing`. Rows without a split go to `split`.
Sentences with empty text are left out (HowTo100M's processed captions have
some); a start or end that is not a finite number, or an end before the
start, is an error naming the file and line. There are no class labels.
"""
import json
import os
from typing import Any, Iterable

from jvrl.data.prepare import inputs

FORMAT = "howto100m"


def _sentence(start: Any, end: Any, text: Any, where: str) -> inputs.TimedCaption | None:
  """One checked sentence, or None when its text is empty."""
  text = "" if text is None else str(text).strip()
  start_s = inputs.seconds_value(start, "start", where)
  end_s = inputs.seconds_value(end, "end", where)
  if end_s < start_s:
    raise ValueError(f"{where}: the sentence ends ({end_s}) before it starts ({start_s}).")
  return inputs.TimedCaption(start_s, end_s, text) if text else None


def _from_combined_csv(csv_path: str, split: str) -> Iterable[tuple[str, str, str, list]]:
  """(key kind, key, split, sentences) per video of a `video_id|path,start,end,text` CSV."""
  header, rows = inputs.read_csv(csv_path)
  key = "video_id" if "video_id" in header else "path"
  required = {key, "start", "end", "text"}
  if not required.issubset(header):
    raise ValueError(f"{csv_path}: a timed-captions CSV needs the columns "
                     "video_id (or path),start,end,text (optional: split), one row per "
                     f"sentence; got {header}.")
  videos: dict[tuple[str, str], list] = {}
  for line, row in rows:
    where = f"{csv_path}:{line}"
    if not row[key]:
      raise ValueError(f"{where}: empty {key}.")
    row_split = inputs.check_split_name(row.get("split") or split)
    sentences = videos.setdefault((row_split, row[key]), [])
    sentence = _sentence(row["start"], row["end"], row["text"], where)
    if sentence is not None:
      sentences.append(sentence)
  for (row_split, name), sentences in videos.items():
    yield key, name, row_split, sentences


def _from_csv_folder(folder: str, split: str) -> Iterable[tuple[str, str, str, list]]:
  """One video per `<video_id>.csv` (header start,end,text) in `folder`, sorted."""
  names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".csv"))
  if not names:
    raise ValueError(f"No <video_id>.csv caption file in {folder!r}.")
  for name in names:
    path = os.path.join(folder, name)
    header, rows = inputs.read_csv(path)
    if not {"start", "end", "text"}.issubset(header):
      raise ValueError(f"{path}: a per-video caption CSV needs the columns start,end,text; "
                       f"got {header}.")
    sentences = [_sentence(row["start"], row["end"], row["text"], f"{path}:{line}")
                 for line, row in rows]
    yield "video_id", os.path.splitext(name)[0], split, [s for s in sentences if s]


def _from_json(json_path: str, split: str) -> Iterable[tuple[str, str, str, list]]:
  """One video per key of HowTo100M's caption JSON."""
  with open(json_path, encoding="utf-8") as f:
    try:
      content = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f"{json_path}: not valid JSON ({e}).") from None
  if not isinstance(content, dict):
    raise ValueError(f"{json_path}: expected HowTo100M's {{<video_id>: {{'start': [...], "
                     "'end': [...], 'text': [...]}}}} JSON.")
  for video_id, captions in content.items():
    where = f"{json_path}: video {video_id!r}"
    if not isinstance(captions, dict) or not all(
        isinstance(captions.get(k), list) for k in ("start", "end", "text")):
      raise ValueError(f"{where}: expected lists 'start', 'end' and 'text'.")
    starts, ends, texts = captions["start"], captions["end"], captions["text"]
    if not len(starts) == len(ends) == len(texts):
      raise ValueError(f"{where}: 'start', 'end' and 'text' have different lengths "
                       f"({len(starts)}, {len(ends)}, {len(texts)}).")
    sentences = [_sentence(s, e, t, f"{where}, sentence {i}")
                 for i, (s, e, t) in enumerate(zip(starts, ends, texts))]
    yield "video_id", str(video_id), split, [s for s in sentences if s]


def list_howto100m(input_path: str, video_root: str, split: str = "train") -> inputs.VideoListing:
  """Whole videos with their timed sentences (module docstring).

  Args:
    input_path: the combined CSV, the folder of per-video CSVs, or the JSON.
    video_root: the folder of the videos (searched recursively).
    split: split of videos whose rows name none.

  Returns:
    The `inputs.VideoListing`; every entry has `captions` set (in time order).
  """
  if not input_path:
    raise ValueError("format 'howto100m' needs --input=<caption CSV, folder of <video_id>.csv "
                     "files, or caption.json>.")
  if not video_root or not os.path.isdir(video_root):
    raise ValueError(f"format 'howto100m' needs --video_root=<folder of the videos>; got "
                     f"{video_root!r}.")
  inputs.check_split_name(split)
  if os.path.isdir(input_path):
    videos = _from_csv_folder(input_path, split)
  elif input_path.lower().endswith(".json"):
    videos = _from_json(input_path, split)
  elif os.path.isfile(input_path):
    videos = _from_combined_csv(input_path, split)
  else:
    raise ValueError(f"Input {input_path!r} does not exist.")
  index = None
  entries, missing = [], []
  for key, name, video_split, sentences in videos:
    captions = tuple(sorted(sentences, key=lambda s: (s.start, s.end)))
    if key == "path":
      path, file = inputs.csv_video_path(name, video_root)
    else:
      if index is None:
        index = inputs.stem_index(video_root)
      path = index.get(name)
      file = inputs.relative(path, video_root) if path else name
      path = path or os.path.join(video_root, name)
    entry = inputs.make_entry(path, file, video_split, captions=captions)
    (entries if os.path.isfile(path) else missing).append(entry)
  return inputs.VideoListing(entries=entries, missing=missing)
