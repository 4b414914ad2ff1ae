r"""Supervised reference on the built-in synthetic dataset (uses the labels).

The same encoder, data, clip size, optimiser and evaluation as
configs/cvrl_synthetic.py, but trained with labels (softmax cross-entropy on
one augmented clip per video). It tells what the encoder can reach on these
videos in this budget: the ceiling the self-supervised objectives aim at.

  python -m jvrl.main --config=configs/supervised_synthetic.py --workdir=/tmp/jvrl_sup
"""
import ml_collections

from configs import cvrl_synthetic


def get_config() -> ml_collections.ConfigDict:
  """Returns the experiment config (see the module docstring)."""
  config = cvrl_synthetic.get_config()
  config.objective = "supervised"
  del config.cvrl
  config.supervised = dict(num_classes=10)  # the synthetic dataset's classes
  return config
