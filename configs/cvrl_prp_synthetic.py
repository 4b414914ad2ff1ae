r"""CVRL + PRP jointly on one encoder, on the built-in synthetic dataset (CPU).

The two objectives of configs/cvrl_synthetic.py and configs/prp_synthetic.py
trained together: every video gives CVRL's two augmented views and PRP's
rate-sampled clip + slow-motion target; one shared encoder, each objective's
own heads; loss = cvrl weight x NT-Xent + prp weight x (reconstruction + 0.1
x rate CE). Metrics are logged as 'cvrl/...' and 'prp/...'.

  python -m jvrl.main --config=configs/cvrl_prp_synthetic.py --workdir=/tmp/jvrl_cvrl_prp

Machine: 2-core CPU. Not timed yet: a step costs about a CVRL step plus a PRP
step (three encoder passes per video); reduce train.num_steps or
train.batch_size to fit a budget. Numbers: not measured yet.
"""
import ml_collections

from configs import cvrl_synthetic
from configs import prp_synthetic


def get_config() -> ml_collections.ConfigDict:
  """Returns the experiment config (see the module docstring)."""
  config = prp_synthetic.get_config()
  cvrl = cvrl_synthetic.get_config()
  config.objective = "combined"
  config.combined = dict(cvrl=1.0, prp=1.0)  # objective -> loss weight
  config.cvrl = cvrl.cvrl
  config.augment = cvrl.augment
  # One backbone for both (PRP's decoder fits any backbone with strides 8 x 16 x 16).
  config.model_name = "r3d_prp"
  return config
