r"""CVRL + STC-mix's video mixing (REFERENCE §4) on the built-in synthetic dataset (CPU).

The CVRL main job (configs/cvrl_synthetic.py: backbone, 8-frame 32x32 clips,
batch 16, 1800 AdamW steps, seed, evaluation) with space-time cutmix on the
device: for half of the clips, a space-time box of another clip of the global
batch (a share 1 - lambda of the voxels, lambda ~ Beta(1, 1)) is pasted into
view 1, and NT-Xent's target for that view becomes lambda on its own positive
and 1 - lambda on the partner's (jvrl/objectives/stc_mix.py). STC-mix's second
stage (cutmix across RGB and flow / pose features) needs a second modality
and is not run here.

  python -m jvrl.main --config=configs/stc_mix_synthetic.py --workdir=/tmp/jvrl_stc_mix

Machine: 2-core CPU, about the CVRL main job's wall time. Numbers next to CVRL: not measured yet;
`python -m benchmarks.methods` runs the comparison (README.md, "The contrastive family").
"""
import ml_collections

from configs import cvrl_synthetic


def get_config() -> ml_collections.ConfigDict:
  """Returns the experiment config (see the module docstring)."""
  config = cvrl_synthetic.get_config()
  config.device_augment = ("stc_mix",)  # on-device batch augmentations, applied in order
  config.stc_mix = dict(
      keys=("view1",),   # the mixed (anchor) view; its targets become mixed
      alpha=1.0,         # lambda ~ Beta(alpha, alpha), CutMix's 1.0
      prob=0.5,          # share of the clips mixed at each step
  )
  return config
