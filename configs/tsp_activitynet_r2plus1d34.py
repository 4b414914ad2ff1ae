r"""TSP on ActivityNet v1.3 with R(2+1)D-34, the published recipe (REFERENCE §6).

  # Records: every video at 15 fps, short side 128 (TSP re-encodes to 30 fps and
  # samples 16 frames at 15 fps; preparing at 15 fps makes that frame_stride 1).
  python data/prepare_videos.py --format=activitynet \
      --annotations=activity_net.v1-3.min.json --video_root=/data/anet/videos \
      --output_dir=/data/anet_records --fps=15 --short_side=128
  python -m jvrl.main --config=configs/tsp_activitynet_r2plus1d34.py --workdir=/runs/tsp_anet \
      --config.tsp.initial_encoder=/runs/r2plus1d34_k400/export/encoder \
      --config.data.train_files='/data/anet_records/train-*.tfrecord' \
      --config.data.eval_train_files='/data/anet_records/train-*.tfrecord' \
      --config.data.eval_test_files='/data/anet_records/validation-*.tfrecord'

then `python -m jvrl.extract_features --workdir=/runs/tsp_anet --files=... --stride=16`
gives TSP's features for G-TAD / BMN / BMT.

Recipe (TSP's train/train.py, ActivityNet): R(2+1)D-34 from Kinetics-400
weights (`config.tsp.initial_encoder`, exported in jvrl's format); units =
every fg / bg segment x 5 clips (15,410 fg + 15,956 bg training segments);
16-frame clips at 15 fps, resize 128 (short side; TSP: 128x171), random crop
112, flip 0.5, no colour augmentation; action head (200 classes) +
temporal-region head on [feature || max-GVF], loss 1.0 + 1.0; SGD momentum 0.9,
weight decay 0.005; learning rates stem 0 (frozen), backbone 1e-4, heads
0.002, each x 2 GPUs (batch 32 per GPU = 64); 8 epochs; linear warm-up over 2
epochs; x0.01 at epochs 4 and 6.
Deviations: pixels in [0, 1] (TSP normalises with Kinetics mean / std;
weights ported from PyTorch need that normalisation); no selection of the
best epoch by validation accuracy (jvrl keeps the last); weight decay on
conv / dense kernels only (PyTorch's SGD also decays BN and biases); the
frozen stem's BN statistics still update (as in TSP, whose model is in train
mode). jvrl has no Kinetics-400 R(2+1)D-34 weights of its own.

Machine: written for accelerators (TSP used 2 GPUs); not run here. Should
reach (TSP paper, with G-TAD on these features): ActivityNet average mAP
+1.72 over the same localization model on TAC features.
"""
import ml_collections

from configs import tsp_synthetic

# TSP's ActivityNet v1.3 training segments (REFERENCE §6) x 5 clips per segment.
TRAIN_SEGMENTS = 15_410 + 15_956
NUM_CLASSES = 200


def get_config(num_classes: int = NUM_CLASSES, train_segments: int = TRAIN_SEGMENTS,
               head_learning_rate: float = 0.002) -> ml_collections.ConfigDict:
  """TSP's recipe; the THUMOS14 recipe reuses it with its own sizes and head rate."""
  config = tsp_synthetic.get_config()
  config.data.source = "records"
  config.data.video_fps = 15.0
  config.data.clip_length = 16
  config.data.frame_stride = 1       # records prepared at 15 fps
  config.data.crop_size = 112
  config.data.shuffle_buffer = 4096

  config.model_name = "r2plus1d_34"
  config.model = dict(width_multiplier=1.0, strided_conv="native", conv_impl="native",
                      input_transform="rgb", dtype="bfloat16", bn_epsilon=1e-3)

  config.tsp.update(dict(
      variant="tsp", num_classes=num_classes, action_weight=1.0, region_weight=1.0,
      clips_per_segment=5, gvf_pooling="max", gvf_clip_stride=16, compare_tac=False,
      initial_encoder=""))  # set --config.tsp.initial_encoder (Kinetics-400 weights)
  config.tsp.augment.update(dict(resize_short_side=128, flip_prob=0.5))

  gpus, per_gpu_batch, epochs = 2, 32, 8
  batch_size = gpus * per_gpu_batch
  steps_per_epoch = -(-train_segments * config.tsp.clips_per_segment // batch_size)
  config.train.update(dict(batch_size=batch_size, num_steps=epochs * steps_per_epoch,
                           log_every=100, checkpoint_every=steps_per_epoch,
                           keep_checkpoints=3))
  config.optimizer = dict(
      name="sgd", learning_rate=head_learning_rate * gpus, momentum=0.9, nesterov=False,
      weight_decay=0.005, schedule="step", warmup_steps=2 * steps_per_epoch,
      decay_boundaries=(4 * steps_per_epoch, 6 * steps_per_epoch), decay_factor=0.01,
      # backbone 1e-4 x gpus = 0.05 x the heads' rate; the stem frozen.
      lr_multipliers=((r"^encoder/stem_", 0.0), (r"^encoder/", 1e-4 / head_learning_rate)))
  config.mesh = dict(data=-1)

  config.eval.update(dict(resize_short_side=128, crop_size=112, batch_size=256))
  config.eval.localization.update(dict(clip_stride=16, num_classes=num_classes,
                                       probe_steps=1000, head_steps=2000))
  return config
