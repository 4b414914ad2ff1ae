r"""PRP pretraining on UCF101 (split 1) with PRP's one-block-per-stage R3D.

The recipe, command and deviations of configs/prp_ucf101_c3d.py, with
`model_name='r3d_prp'` (R3DNet((1,1,1,1)), 14.4M parameters):

  python -m jvrl.main --config=configs/prp_ucf101_r3d.py --workdir=/runs/prp_r3d ...

Not run here. Should reach (PRP, UCF101 split 1): retrieval R@1/5/10/20/50 =
22.8 / 38.5 / 46.7 / 55.2 / 69.1; fine-tuning top-1 66.5 (UCF101) / 29.7
(HMDB51), with the fine-tuning protocol of configs/prp_ucf101_c3d.py.
"""
import ml_collections

from configs import prp_ucf101_c3d


def get_config() -> ml_collections.ConfigDict:
  """PRP's UCF101 recipe with `r3d_prp`."""
  return prp_ucf101_c3d.get_config("r3d_prp")
