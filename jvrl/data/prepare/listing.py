"""Lists the videos of a preparation input in any supported format.

The one entry point over the listings of `inputs` (folders, CSVs, UCF101,
HMDB51, Kinetics), `untrimmed` (ActivityNet, THUMOS14, segments CSV) and
`timed_captions` (HowTo100M), which build on `inputs`; see `inputs` for the
formats.
"""
import os

from jvrl.data.prepare import inputs
from jvrl.data.prepare import timed_captions
from jvrl.data.prepare import untrimmed


def list_videos(input_path: str, *, fmt: str = "auto", split: str = "train",
                split_file: str = "", split_number: int = 1,
                video_root: str = "", annotations: str = "",
                annotation_dir: str = "") -> inputs.VideoListing:
  """Lists the videos of `input_path` in format `fmt` (see the module docstring).

  Args:
    input_path: a folder (folder, ucf101, hmdb51) or a CSV (csv, kinetics,
      segments_csv); the captions (howto100m: CSV, folder or JSON); not used
      by activitynet and thumos14.
    fmt: one of `inputs.FORMATS`.
    split: split of every video for 'folder', and of CSV rows without a split.
    split_file: the official split lists (ucf101, hmdb51).
    split_number: which official split (1-3) when `split_file` is a folder.
    video_root: where relative CSV paths / Kinetics clips are (default: the
      CSV's folder); the folder of the ActivityNet / THUMOS14 / HowTo100M
      videos.
    annotations: ActivityNet's JSON (activitynet).
    annotation_dir: THUMOS14's annotation folder(s), comma-separated
      (thumos14).

  Returns:
    The `inputs.VideoListing`.
  """
  if fmt not in inputs.FORMATS:
    raise ValueError(f"format must be one of {inputs.FORMATS}, got {fmt!r}.")
  for flag, value, owner in (("annotations", annotations, "activitynet"),
                             ("annotation_dir", annotation_dir, "thumos14")):
    if value and fmt == "auto":
      fmt = owner
    elif value and fmt != owner:
      raise ValueError(f"--{flag} is read by --format={owner} only, not {fmt!r}.")
  if fmt == timed_captions.FORMAT:
    return timed_captions.list_howto100m(input_path, video_root, split)
  if fmt in inputs.UNTRIMMED_FORMATS:
    return untrimmed.list_untrimmed(fmt, input_path=input_path, split=split,
                                    video_root=video_root, annotations=annotations,
                                    annotation_dir=annotation_dir)
  if not input_path:
    raise ValueError(f"format {fmt!r} needs --input (a folder or a CSV).")
  if fmt == "auto":
    fmt = inputs.detect_format(input_path)
  if fmt in ("ucf101", "hmdb51"):
    if not split_file:
      raise ValueError(f"format {fmt!r} needs --split_file (the official split lists).")
    if not os.path.isdir(input_path):
      raise ValueError(f"For {fmt}, --input is the folder of videos; {input_path!r} is not a "
                       "folder.")
    lister = inputs.list_ucf101 if fmt == "ucf101" else inputs.list_hmdb51
    return lister(input_path, split_file, split_number)
  if fmt == "folder":
    return inputs.list_folder(input_path, split)
  if fmt == "csv":
    return inputs.list_csv(input_path, split, video_root)
  return inputs.list_kinetics(input_path, video_root, split)
