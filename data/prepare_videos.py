r"""Turns a collection of videos into jvrl training records (jvrl/data/prepare/).

  # A folder of class sub-folders (every video into split 'train'):
  python data/prepare_videos.py --input=/data/my_videos --output_dir=/data/my_records
  # A CSV: path,label[,caption][,start,end][,split]
  python data/prepare_videos.py --input=/data/clips.csv --output_dir=/data/clips_records
  # UCF101 with its official split 1 (splits 'train' and 'test'):
  python data/prepare_videos.py --input=/data/UCF-101 --format=ucf101 \
      --split_file=/data/ucfTrainTestlist --split_number=1 --output_dir=/data/ucf101_records
  # HMDB51: --format=hmdb51 --split_file=/data/testTrainMulti_7030_splits
  # Kinetics: the annotation CSV against the folder of downloaded clips:
  python data/prepare_videos.py --input=/data/k400/train.csv --format=kinetics \
      --video_root=/data/k400/train --output_dir=/data/k400_records

Untrimmed videos with temporal annotations (for TSP): each video is kept
WHOLE and its annotated segments (start, end in microseconds, class index and
name) go into its record's context next to video/fps:

  # ActivityNet v1.3: training -> split 'train', validation -> 'validation'
  # (evaluate on it), testing -> 'test' (annotations withheld: skipped).
  python data/prepare_videos.py --format=activitynet \
      --annotations=/data/anet/activity_net.v1-3.min.json \
      --video_root=/data/anet/videos --output_dir=/data/anet_records
  # THUMOS14: <Class>_val.txt -> 'validation' (TSP trains on it), <Class>_test.txt
  # -> 'test'; Ambiguous_*.txt is reported, not a class.
  python data/prepare_videos.py --format=thumos14 \
      --annotation_dir=/data/th14/annotation_val,/data/th14/annotation_test \
      --video_root=/data/th14/videos --output_dir=/data/th14_records
  # A CSV with one row per SEGMENT: path,label,start,end[,split]. All rows of
  # a video make ONE record with several segments. (--format=csv reads
  # start,end differently: it TRIMS a clip out of the video, one record per row.)
  python data/prepare_videos.py --format=segments_csv --input=/data/segments.csv \
      --output_dir=/data/my_untrimmed_records

Videos with timed captions (for VATT, HowTo100M): each video is kept WHOLE and
its ASR sentences go into its record as 'caption/string' with
'caption/start/timestamp' / 'caption/end/timestamp' (microseconds), so every
training clip gets the sentence at its time and its neighbours as its
MIL-NCE bag:

  # One CSV, one row per sentence: video_id,start,end,text[,split] (or path
  # instead of video_id); a folder of <video_id>.csv files (start,end,text);
  # or HowTo100M's caption.json ({video_id: {start: [], end: [], text: []}}).
  python data/prepare_videos.py --format=howto100m --input=/data/howto100m/caption.json \
      --video_root=/data/howto100m/videos --fps=10 --audio_rate=48000 \
      --output_dir=/data/howto100m_records

Segments are checked against the decoded video's duration (frames / fps):
one ending after the video is clipped to it, one starting at or after its end,
of zero or negative length, of a class outside --labels_file, or repeated is
dropped; each is listed by video in report.json with its segment, action
('clipped' or 'dropped') and reason. A video whose every segment was dropped is
written with zero segments and flagged (all background for TSP); a video the
annotations name no segment of (ActivityNet 'testing', a THUMOS14 video
without any of the 20 actions) is skipped and listed (`no_annotation`) unless
--unannotated=write. classes (labels.txt): ActivityNet's taxonomy leaves,
THUMOS14's class files, the CSV's labels; sorted.

Optical flow (for two-stream methods such as CoCLR): --flow=tvl1 (OpenCV's
Dual TV-L1, as CoCLR uses) or --flow=farneback (fast) stores the flow from
every frame to the next as two grayscale JPEGs (u, v; clipped to +-20 px and
quantised onto 0..255) under 'flow/encoded' (jvrl/data/records.py); resuming
works as for the frames, and OUT refuses a rerun with another --flow.

Writes OUT/{split}-XXXXX-of-YYYYY.tfrecord, OUT/labels.txt, OUT/manifest.json
and OUT/report.json (every video that failed, was skipped or was flagged, and
every clipped or dropped segment, with the reason), then prints a summary and
the `python -m jvrl.main` flags that read the records (a training-only
command, saying why, when a split to evaluate on is missing or its videos
have no labels). Rerun the same command
after an interruption: it continues where it stopped. Exit status: 0; 1 with
--strict when any video failed; 2 when the input cannot be listed or OUT holds
another preparation.
"""
import os
import sys

from absl import app
from absl import flags

try:
  import jvrl  # noqa: F401
except ImportError:  # Run from a checkout without installing jvrl.
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=g-import-not-at-top
from jvrl.data.prepare import decode_video
from jvrl.data.prepare import inputs
from jvrl.data.prepare import listing as listing_lib
from jvrl.data.prepare import labels
from jvrl.data.prepare import video_record
# pylint: enable=g-import-not-at-top

_INPUT = flags.DEFINE_string(
    "input", "", "A folder of class sub-folders, a CSV, the UCF101/HMDB51 video folder, a "
    "Kinetics annotation CSV, a segments CSV, or howto100m's captions (CSV, folder of "
    "<video_id>.csv, or caption.json) (not used by activitynet / thumos14).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Where to write (OUT).")
_FORMAT = flags.DEFINE_enum("format", "auto", inputs.FORMATS, "Input format (auto: folder or CSV).")
_SPLIT = flags.DEFINE_string("split", "train", "Split of a folder's videos and of CSV rows "
                             "without a split column.")
_SPLIT_FILE = flags.DEFINE_string(
    "split_file", "", "UCF101/HMDB51: the folder of official split lists (or comma-separated "
    "list files / globs).")
_SPLIT_NUMBER = flags.DEFINE_integer("split_number", 1, "Official split (1-3) when "
                                     "--split_file is a folder.")
_VIDEO_ROOT = flags.DEFINE_string("video_root", "", "Folder of the videos: CSV/Kinetics/"
                                  "segments_csv (default: the CSV's folder); required by "
                                  "activitynet, thumos14 and howto100m.")
_ANNOTATIONS = flags.DEFINE_string("annotations", "", "activitynet: ActivityNet's JSON, e.g. "
                                   "activity_net.v1-3.min.json.")
_ANNOTATION_DIR = flags.DEFINE_string("annotation_dir", "", "thumos14: folder(s), "
                                      "comma-separated, of <Class>_val.txt / <Class>_test.txt "
                                      "(and Ambiguous_*.txt).")
_UNANNOTATED = flags.DEFINE_enum(
    "unannotated", "skip", ["skip", "write"], "Untrimmed formats: a video the annotations name "
    "no segment of is skipped (listed in report.json) or written with zero segments.")
_LABELS_FILE = flags.DEFINE_string("labels_file", "", "Use this labels.txt (e.g. an earlier "
                                   "run's) for the class indices (segments of other classes "
                                   "are dropped and reported).")
_NUM_SHARDS = flags.DEFINE_integer("num_shards", 0, "Shards per split (0: one per 100 videos).")
_WORKERS = flags.DEFINE_integer("workers", 0, "Decoding processes (0: every CPU; 1: no "
                                "subprocess).")
_SHORT_SIDE = flags.DEFINE_integer("short_side", 256, "Resize frames so the short side is this "
                                   "(0: native size).")
_FPS = flags.DEFINE_float("fps", 0.0, "Resample to this frame rate (0: keep every frame).")
_AUDIO_RATE = flags.DEFINE_integer("audio_rate", 48000, "Mono audio sample rate (0: no audio).")
_MIN_FRAMES = flags.DEFINE_integer("min_frames", 16, "Flag (but keep) videos with fewer frames.")
_JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", 90, "JPEG quality of the frames (1-100).")
_FLOW = flags.DEFINE_enum(
    "flow", "", ["", "tvl1", "farneback"], "Also store the optical flow between consecutive "
    "frames (OpenCV: tvl1 = Dual TV-L1 as CoCLR uses, farneback = the fast option), u and v "
    "clipped to +-20 px, quantised to 0..255, one grayscale JPEG each ('flow/encoded'). "
    "Needs opencv-contrib-python-headless (the 'data' extra).")
_STRICT = flags.DEFINE_bool("strict", False, "Exit with status 1 if any video failed.")
_PROGRESS = flags.DEFINE_bool("progress", True, "Show the progress line on stderr.")

flags.mark_flags_as_required(["output_dir"])


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  # Imported here, not at the top: worker processes are spawned and re-import
  # this file, and `prepare` loads TensorFlow (seconds and ~600 MB per worker)
  # which only this process needs.
  from jvrl.data.prepare import prepare  # pylint: disable=g-import-not-at-top
  try:
    listing = listing_lib.list_videos(
        _INPUT.value, fmt=_FORMAT.value, split=_SPLIT.value, split_file=_SPLIT_FILE.value,
        split_number=_SPLIT_NUMBER.value, video_root=_VIDEO_ROOT.value,
        annotations=_ANNOTATIONS.value, annotation_dir=_ANNOTATION_DIR.value)
    options = video_record.RecordOptions(
        decode=decode_video.DecodeOptions(short_side=_SHORT_SIDE.value, fps=_FPS.value,
                                          audio_rate=_AUDIO_RATE.value),
        jpeg_quality=_JPEG_QUALITY.value, min_frames=_MIN_FRAMES.value, flow=_FLOW.value)
    if _FLOW.value:
      from jvrl.data.prepare import optical_flow  # pylint: disable=g-import-not-at-top
      optical_flow.make_flow_fn(_FLOW.value)  # OpenCV missing: say so before any work
    summary = prepare.prepare_videos(
        listing, _OUTPUT_DIR.value, options=options, num_shards=_NUM_SHARDS.value,
        workers=_WORKERS.value or None,
        label_order=labels.read_labels(_LABELS_FILE.value) if _LABELS_FILE.value else None,
        show_progress=_PROGRESS.value, unannotated=_UNANNOTATED.value)
  except ValueError as e:
    print(f"prepare_videos: {e}", file=sys.stderr)
    return 2
  print(summary.format())
  if _STRICT.value and summary.failed:
    print(f"--strict: {summary.failed} videos failed (see report.json).", file=sys.stderr)
    return 1
  return 0


if __name__ == "__main__":
  app.run(main)
