r"""CVRL + FAME (REFERENCE §4) on the built-in synthetic dataset (CPU).

The CVRL main job (configs/cvrl_synthetic.py: backbone, 8-frame 32x32 clips,
batch 16, 1800 AdamW steps, seed, evaluation) with FAME's foreground-
background merging on the device: view 1's moving foreground (top half of
the blurred, colour-refined frame-difference map) is pasted onto the
background of another clip of the global batch, and contrasted with its own
clip's view 2 (jvrl/objectives/fame.py). The synthetic backgrounds drift
slowly (a camera-like nuisance motion), the bias FAME targets.

  python -m jvrl.main --config=configs/fame_synthetic.py --workdir=/tmp/jvrl_fame

Machine: 2-core CPU, about the CVRL main job's wall time (FAME costs a few
small ops per step). Numbers next to CVRL: not measured yet;
`python -m benchmarks.methods` runs the comparison (README.md, "The contrastive family").
"""
import ml_collections

from configs import cvrl_synthetic


def get_config() -> ml_collections.ConfigDict:
  """Returns the experiment config (see the module docstring)."""
  config = cvrl_synthetic.get_config()
  config.device_augment = ("fame",)   # on-device batch augmentations, applied in order
  config.fame = dict(
      keys=("view1",),                # FAME merges the query view only
      beta=0.5,                       # foreground share of the pixels (FAME: 0.5)
      color_refinement=True,          # the reference's HSV-histogram refinement
  )
  return config
