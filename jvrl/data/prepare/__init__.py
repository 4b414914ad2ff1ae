"""Turns collections of real videos into jvrl training records.

The pipeline, one module per step:

  inputs.py        lists the videos of a folder, a CSV, the UCF101/HMDB51
                   split files or a Kinetics annotation CSV (`VideoEntry`s,
                   plus the named-but-missing ones).
  untrimmed.py     lists untrimmed videos with temporal annotations
                   (ActivityNet JSON, THUMOS14 class files, a segments CSV):
                   whole videos whose entries carry their segments.
  segments.py      an untrimmed video's segments against its decoded
                   duration: stored, clipped or dropped, and why.
  labels.py        one label map across all splits, `labels.txt`.
  decode_video.py  PyAV decoding: frames resized to a short side, optional
                   frame-rate resampling and trimming, mono audio.
  video_record.py  one video -> its serialized SequenceExample + manifest entry
                   + problems (what a worker process runs).
  sequence_example.py  the record's protobuf bytes without TensorFlow (so
                   workers start fast and small).
  problems.py      why a video failed or was flagged (the report's entries).
  parallel.py      ordered parallel map over worker processes that survives a
                   crashing decoder.
  shards.py        which video goes to which shard; atomic, resumable shard
                   writing with a JSON sidecar per finished shard.
  progress.py      the progress line.
  prepare.py       the orchestration: `prepare_videos(...)` -> records,
                   manifest.json, report.json, labels.txt.

The command line is `data/prepare_videos.py`. Importing this package imports
nothing heavy; TensorFlow and PyAV load with the modules that need them.
"""
