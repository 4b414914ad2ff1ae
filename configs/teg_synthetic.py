r"""TeG (REFERENCE §4) on the built-in synthetic dataset (CPU).

A short clip (8 frames at 32x32, the evaluation's clip) inside a long clip
(16 frames at stride 2, 31 of the video's 32 frames, cropped to 24x24); a fine loss matches the short
clip's per-timestep embeddings with the time-aligned timesteps of the long
clip's pre-pool feature map, a coarse loss pulls their pooled embeddings
together (jvrl/objectives/teg/). Backbone, crop, batch, steps, optimiser,
seed and evaluation as the CVRL main job (configs/cvrl_synthetic.py); the
main job's R3D keeps 8 frames per feature-map timestep, so the long clip has
2 timesteps and the short clip 1, placed at either.

  python -m jvrl.main --config=configs/teg_synthetic.py --workdir=/tmp/jvrl_teg

Why the long clip is 24x24: the fine loss needs >= 2 feature-map timesteps
(16 frames for this R3D), and 16 x 24^2 + 8 x 32^2 pixels per video cost about
CVRL's 2 x 8 x 32^2, so TeG fits the main job's 15-minute budget (with the
long clip at 32x32 a step took ~1.5-2x CVRL's here). Machine: 2-core CPU.
Numbers next to CVRL: not measured yet;
`python -m benchmarks.methods` runs the comparison (README.md, "The contrastive family").
"""
import ml_collections

from configs import cvrl_synthetic


def get_config() -> ml_collections.ConfigDict:
  """Returns the experiment config (see the module docstring)."""
  config = cvrl_synthetic.get_config()
  config.objective = "teg"
  config.teg = dict(
      long_clip_length=16,   # frames of the long clip (the short one: config.data.clip_length)
      long_crop_size=24,     # its crop side (0: config.data.crop_size)
      fine_weight=1.0,       # per-timestep, time-aligned contrast
      coarse_weight=1.0,     # pooled short vs long contrast
  )
  return config
