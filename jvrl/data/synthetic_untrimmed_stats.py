"""Statistics of the untrimmed synthetic dataset: what its design promises, measured.

  python -c "from jvrl.data import synthetic_untrimmed as su, synthetic_untrimmed_stats as st; \\
    print(st.split_statistics(su.UntrimmedSyntheticConfig(), 'eval_test'))"

`statistics` summarises rendered videos (`render_untrimmed_video`'s dicts):
segment counts, the fraction of foreground (action) frames, the motion energy
of foreground and background frames, and how often a segment boundary falls
on an appearance cut compared with chance. `split_statistics` renders (no
records are read or written) the videos of one split and summarises them.
"""
from typing import Any, Iterable, Optional

import numpy as np

from jvrl.data import synthetic_untrimmed


def frame_differences(frames: np.ndarray) -> np.ndarray:
  """Mean absolute difference of consecutive uint8 frames: float [T - 1], 0-255 units."""
  signed = frames.astype(np.int16)
  return np.abs(signed[1:] - signed[:-1]).mean(axis=(1, 2, 3))


def statistics(videos: Iterable[dict[str, Any]], min_stretch_frames: int = 1) -> dict[str, Any]:
  """Summarises rendered untrimmed videos.

  Motion energy is the mean absolute frame difference (0-255 units) over the
  frame pairs (t - 1, t) whose frames both belong to one action segment
  ('fg') or one background stretch ('bg') and that do not straddle an
  appearance cut (a cut changes every pixel, in fg and bg alike).

  Args:
    videos: dicts of `synthetic_untrimmed.render_untrimmed_video`.
    min_stretch_frames: background stretches shorter than this are not
      counted in 'bg_segments' (TSP drops segments shorter than one clip).

  Returns:
    'num_videos', 'num_frames': totals.
    'fg_segments', 'bg_segments': action segments and background stretches.
    'class_counts': int [max class + 1], action segments per class.
    'fg_fraction': fraction of the frames inside action segments.
    'fg_motion_energy', 'bg_motion_energy': see above.
    'boundaries': segment starts and ends other than the video's first and
      last frame; 'boundary_cut_fraction': the fraction of them that fall on an
      appearance cut; 'boundary_cut_chance': that fraction if boundaries were
      placed at random (cuts per possible position, averaged over boundaries).
  """
  totals = dict(num_videos=0, num_frames=0, fg_segments=0, bg_segments=0, fg_frames=0,
                boundaries=0, boundaries_on_cuts=0, chance=0.0)
  energy = {True: [], False: []}  # foreground -> pair energies
  class_counts = []
  for video in videos:
    labels = video["frame_labels"]
    num_frames = len(labels)
    cuts = set(int(c) for c in video["appearance_starts"][1:])
    totals["num_videos"] += 1
    totals["num_frames"] += num_frames
    totals["fg_frames"] += int((labels >= 0).sum())
    totals["fg_segments"] += len(video["segments"])
    class_counts += [s.label for s in video["segments"]]
    changes = [0] + [t for t in range(1, num_frames) if labels[t] != labels[t - 1]] + [num_frames]
    totals["bg_segments"] += sum(
        1 for start, end in zip(changes[:-1], changes[1:])
        if labels[start] < 0 and end - start >= min_stretch_frames)
    for boundary in changes[1:-1]:
      totals["boundaries"] += 1
      totals["boundaries_on_cuts"] += boundary in cuts
      totals["chance"] += len(cuts) / (num_frames - 1)
    differences = frame_differences(video["frames"])
    for t in range(1, num_frames):
      if labels[t] == labels[t - 1] and t not in cuts:
        energy[bool(labels[t] >= 0)].append(differences[t - 1])
  boundaries = max(totals["boundaries"], 1)
  return {
      "num_videos": totals["num_videos"],
      "num_frames": totals["num_frames"],
      "fg_segments": totals["fg_segments"],
      "bg_segments": totals["bg_segments"],
      "class_counts": np.bincount(np.array(class_counts, np.int64)),
      "fg_fraction": totals["fg_frames"] / max(totals["num_frames"], 1),
      "fg_motion_energy": float(np.mean(energy[True])) if energy[True] else float("nan"),
      "bg_motion_energy": float(np.mean(energy[False])) if energy[False] else float("nan"),
      "boundaries": totals["boundaries"],
      "boundary_cut_fraction": totals["boundaries_on_cuts"] / boundaries,
      "boundary_cut_chance": totals["chance"] / boundaries,
  }


def split_statistics(cfg: synthetic_untrimmed.UntrimmedSyntheticConfig, split: str,
                     max_videos: Optional[int] = None,
                     min_stretch_frames: int = 1) -> dict[str, Any]:
  """`statistics` of the first `max_videos` (None = all) videos of `split`, rendered."""
  labels = synthetic_untrimmed.split_segment_labels(cfg, split)[:max_videos]
  videos = (synthetic_untrimmed.render_untrimmed_video(
      synthetic_untrimmed.video_rng(cfg, split, index), cfg, video_labels)
            for index, video_labels in enumerate(labels))
  return statistics(videos, min_stretch_frames)
