r"""SimCLR on video (REFERENCE §4) on the built-in synthetic dataset (CPU).

CVRL's objective with no temporal gap: both views are two augmentations of
ONE clip (`config.cvrl.positive_gap='none'`), everything else as the CVRL main
job (configs/cvrl_synthetic.py: backbone, 8-frame 32x32 clips, batch 16, 1800
AdamW steps, seed, evaluation), so the pair differs only in what the temporal
gap adds. The CVRL paper's "SimCLR inflated" video baseline.

  python -m jvrl.main --config=configs/simclr_synthetic.py --workdir=/tmp/jvrl_simclr

Machine: 2-core CPU; about the CVRL main job's wall time (same step cost).
Numbers next to CVRL: not measured yet;
`python -m benchmarks.methods` runs the comparison (README.md, "The contrastive family").
"""
import ml_collections

from configs import cvrl_synthetic


def get_config() -> ml_collections.ConfigDict:
  """Returns the experiment config (see the module docstring)."""
  config = cvrl_synthetic.get_config()
  config.cvrl.positive_gap = "none"  # 'cvrl': CVRL's decreasing gap distribution
  return config
