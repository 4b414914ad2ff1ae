r"""CoCLR (RGB + optical flow, co-training) + evaluation on the built-in synthetic videos (CPU).

Stage 1 trains an RGB and a flow stream side by side, each with MoCo's
InfoNCE (EMA key encoder, queue of negatives); stage 2 alternates the
streams (RGB, then flow, `coclr.cotrain_cycles` times), each trained with
the other's top-k neighbours as extra positives while the other is frozen.
The built-in videos carry their EXACT optical flow (`data.synthetic.flow`).
Then every stream is evaluated like every encoder (linear probe, kNN,
retrieval; the flow stream on the videos' flow), the two-stream combination
too, the stage-1 (InfoNCE) streams and randomly initialised ones the same way.

  python -m jvrl.main --config=configs/coclr_synthetic.py --workdir=/tmp/jvrl_coclr

Machine: 2-core CPU, no accelerator. Its numbers next to CVRL and random init
are not measured yet: `python -m benchmarks.methods --methods=cvrl,coclr` runs
the comparison (README.md, "Teachers, memory queues and optical flow").

Deviations from CoCLR (REFERENCE §4) for a CPU run of minutes: PRP's narrow
one-block R3D (the RGB stream on residual frames, as the CVRL main job) on
8x32x32 clips instead of S3D on 32x128x128; exact flow instead of TV-L1
(`data/prepare_videos.py --flow=tvl1` for real videos); a queue of 256
instead of 2048 (the synthetic train split has 1024 videos, and a queue
longer than ~16 steps of an 8-step-per-... schedule would hold stale keys of
a fast-changing encoder), key momentum 0.99 instead of 0.999 (hundreds of
steps, not hundreds of epochs); AdamW; no horizontal flips (they swap this
dataset's motion classes; the flip is flow-aware where used); CVRL's clip
sampler and colour augmentation for the two views.

Every field can be overridden from the command line, e.g.
  --config.train.num_steps=200 --config.coclr.cotrain_cycles=1
"""
import ml_collections

from configs import cvrl_synthetic


def get_config() -> ml_collections.ConfigDict:
  """Returns the experiment config (see the module docstring)."""
  config = cvrl_synthetic.get_config()
  config.objective = "coclr"
  del config["cvrl"]
  config.data.synthetic.flow = True  # the videos' exact optical flow, 'flow/encoded'

  config.coclr = ml_collections.ConfigDict()
  # The stage this config trains on its own; `python -m jvrl.main` runs the whole
  # experiment (jvrl/experiments/coclr.py): stage 1 with `stage='infonce'`, then the
  # co-training runs derived from it.
  config.coclr.stage = "infonce"
  config.coclr.train_stream = "rgb"   # co-training: the stream trained ('rgb' | 'flow')
  config.coclr.temperature = 0.07
  config.coclr.queue_size = 256       # (CoCLR: 2048 UCF101, 16384 K400)
  config.coclr.key_momentum = 0.99    # (CoCLR: 0.999)
  config.coclr.topk = 5
  config.coclr.projection_hidden_dim = 256  # (CoCLR: the backbone's feature size)
  config.coclr.projection_dim = 128
  # The flow encoder: config.model with these overrides (flow is motion already).
  config.coclr.flow_model = dict(input_transform="rgb")
  # The experiment: stage 1 runs config.train.num_steps steps; then
  # `cotrain_cycles` x (RGB run, flow run) of `cotrain_steps` steps each.
  config.coclr.cotrain_cycles = 1
  config.coclr.cotrain_steps = 200
  config.coclr.evaluate_infonce = True  # also evaluate the stage-1 streams

  config.train.batch_size = 16
  config.train.num_steps = 800
  config.train.log_every = 50
  config.train.checkpoint_every = 200
  config.optimizer.warmup_steps = 30
  return config
