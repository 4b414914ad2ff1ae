r"""PRP pretraining on UCF101 (split 1) with PRP's one-block-per-stage R(2+1)D.

The recipe, command and deviations of configs/prp_ucf101_c3d.py, with
`model_name='r2plus1d_prp'` (R2Plus1DNet((1,1,1,1)): per-conv mid widths,
factorised shortcuts, 14.4M parameters):

  python -m jvrl.main --config=configs/prp_ucf101_r2plus1d.py --workdir=/runs/prp_r21d ...

Not run here. Should reach (PRP, UCF101 split 1): retrieval R@1/5/10/20/50 =
20.3 / 34.0 / 41.9 / 51.7 / 64.2; fine-tuning top-1 72.1 (UCF101) / 35.0
(HMDB51), with the fine-tuning protocol of configs/prp_ucf101_c3d.py.
"""
import ml_collections

from configs import prp_ucf101_c3d


def get_config() -> ml_collections.ConfigDict:
  """PRP's UCF101 recipe with `r2plus1d_prp`."""
  return prp_ucf101_c3d.get_config("r2plus1d_prp")
