r"""STOR / CSTP (REFERENCE §4) on the built-in synthetic dataset (CPU).

Contrast of two clips of one video plus two heads that classify the pair's
temporal overlap rate and spatial (crop-box) overlap rate, 5 classes each
(1.0, 0.8, 0.6, 0.4, 0.2), as CSTP; the clips are read at their own start
frames (CSTP's loaders read clip 2 at clip 1's start). Everything else as the
CVRL main job (configs/cvrl_synthetic.py: backbone, 8-frame 32x32 clips,
batch 16, 1800 AdamW steps, seed, evaluation, CVRL's NT-Xent as the contrast).

  python -m jvrl.main --config=configs/stor_synthetic.py --workdir=/tmp/jvrl_stor

PRP's playback-rate head: --config.stor.playback_rates='(1, 2)' (the 32-frame
synthetic videos fit rates 1 and 2 at stride 2). Machine: 2-core CPU, about
the CVRL main job's wall time. Numbers next to CVRL: not measured yet;
`python -m benchmarks.methods` runs the comparison (README.md, "The contrastive family").
"""
import ml_collections

from configs import cvrl_synthetic


def get_config() -> ml_collections.ConfigDict:
  """Returns the experiment config (see the module docstring)."""
  config = cvrl_synthetic.get_config()
  config.objective = "stor"
  config.stor = dict(
      temporal_overlaps=(1.0, 0.8, 0.6, 0.4, 0.2),  # class i: clips share this share of frames
      spatial_overlaps=(1.0, 0.8, 0.6, 0.4, 0.2),   # class i: boxes share this share of area
      playback_rates=(),             # () off; e.g. (1, 2): PRP's rate head on each clip
      contrast_weight=1.0,           # CSTP: 0.1 on its BYOL loss
      temporal_weight=1.0,
      spatial_weight=1.0,
      playback_weight=1.0,
      head_hidden_dim=0,             # 0: CSTP's single Dense layer on [f1 || f2]
  )
  return config
