r"""Frame-level SimCLR (REFERENCE §4, the image baseline) on the synthetic dataset (CPU).

SimCLR on single frames: each training view is ONE frame, both views are two
augmentations of the same frame (`config.cvrl.view_frames=1`,
`positive_gap='none'`), through the main job's 3-D encoder on T=1 (the
"inflated image network" baseline of the CVRL paper). Single frames have no
residual frames, so the encoder sees RGB (`input_transform='rgb'`) in
training and in evaluation (8-frame clips, as every method). Budget and
evaluation as configs/cvrl_synthetic.py.

  python -m jvrl.main --config=configs/simclr_frame_synthetic.py --workdir=/tmp/jvrl_simclr_frame

The synthetic classes are defined by motion only and no single frame gives
the class away, so this baseline is expected near chance here: it measures
what appearance alone buys. Machine: 2-core CPU; training steps are ~8x
cheaper than CVRL's (1 frame per view instead of 8). Numbers next to CVRL: not measured yet;
`python -m benchmarks.methods` runs the comparison (README.md, "The contrastive family").
"""
import ml_collections

from configs import cvrl_synthetic


def get_config() -> ml_collections.ConfigDict:
  """Returns the experiment config (see the module docstring)."""
  config = cvrl_synthetic.get_config()
  config.cvrl.positive_gap = "none"
  config.cvrl.view_frames = 1        # 0: config.data.clip_length frames per view
  config.model.input_transform = "rgb"
  return config
