r"""ConCur (REFERENCE §4) on the built-in synthetic dataset (CPU).

CVRL's contrast with a curriculum on the temporal distance between the two
positive clips (the allowed maximum grows linearly from 0 to the whole video
over the first half of training) plus a head that classifies that distance
into 4 bins; everything else as the CVRL main job (configs/cvrl_synthetic.py:
backbone, 8-frame 32x32 clips, batch 16, 1800 AdamW steps, seed, evaluation).

  python -m jvrl.main --config=configs/concur_synthetic.py --workdir=/tmp/jvrl_concur

The curriculum reads each example's training step from the input pipeline
(never Python state): an interrupted run resumes exactly. Machine: 2-core
CPU, about the CVRL main job's wall time (same step cost; the distance head
is one small MLP). Numbers next to CVRL: not measured yet;
`python -m benchmarks.methods` runs the comparison (README.md, "The contrastive family").
"""
import ml_collections

from configs import cvrl_synthetic


def get_config() -> ml_collections.ConfigDict:
  """Returns the experiment config (see the module docstring)."""
  config = cvrl_synthetic.get_config()
  config.objective = "concur"
  config.concur = dict(
      schedule="linear",            # or 'stages' (num_stages equal steps, then the whole video)
      start_fraction=0.0,           # allowed gap range at step 0, a fraction of the video's
      end_step_fraction=0.5,        # the whole range from 0.5 * train.num_steps on
      num_stages=4,
      gap_distribution="uniform",   # within the allowed range; 'cvrl': decreasing density
      distance_bins=4,              # distance classes: equal bins of the video's gap range
      distance_weight=1.0,          # loss = NT-Xent + distance_weight * CE(distance)
      head_hidden_dim=128,          # distance head: MLP on [f1 || f2] (0: one Dense layer)
  )
  return config
