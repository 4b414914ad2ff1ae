r"""PRP pretraining on UCF101 (split 1) with C3D, the published recipe (REFERENCE §3).

  python -m jvrl.main --config=configs/prp_ucf101_c3d.py --workdir=/runs/prp_c3d \
      --config.data.train_files='/data/ucf101/trainlist01-*.tfrecord' \
      --config.data.eval_train_files='/data/ucf101/trainlist01-*.tfrecord' \
      --config.data.eval_test_files='/data/ucf101/testlist01-*.tfrecord'

Records: one SequenceExample per video, every frame kept, original 320x240
(see README, "Your own data"). configs/prp_ucf101_r3d.py and
configs/prp_ucf101_r2plus1d.py are the same recipe with PRP's other backbones.

Recipe (PRP's train_predict.py): 16-frame clips at rates 1, 2, 4, 8 (frames
resized to 128x171, centre 112x112 crop, pixels in [0, 1]), 32-frame 2x
slow-motion target, motion-attention MSE + 0.1 x rate cross-entropy; SGD
lr 0.01 (rate classifier 10x), momentum 0.9, weight decay 5e-4, batch 8,
300 epochs, reduce-on-plateau (factor 0.1, patience 50 epochs, lr >= 1e-7).
Batch sizes other than 8 scale the learning rate linearly
(`optimizer.lr_batch_scaling=8`).
Deviations: the plateau is measured on the TRAINING loss averaged over each
epoch (PRP: on 800 held-out training videos, which jvrl has no loop for);
weight decay touches conv / dense kernels only (PyTorch's SGD also decays BN
and biases); rate-1 targets mask the frames that do not exist out of the loss
(REFERENCE §3; the released code trains on their neighbour average); videos
too short for a rate loop instead of being replaced by another video.

Machine: written for one accelerator (PRP used one GPU); not run here (this
repository was only run on CPU). Should reach (PRP, UCF101 split 1): UCF101
retrieval R@1/5/10/20/50 = 23.2 / 38.1 / 46.0 / 55.7 / 68.4 with the
evaluation below (10 clips, max-pooled (1,2,2) conv5 features, cosine,
test -> train) and fine-tuning top-1 69.1 (UCF101) / 34.5 (HMDB51) with the
fine-tuning below (random 112 crop of 128-short-side frames, 10 clips
logit-averaged at test). REFERENCE gives no fine-tuning optimiser: the SGD
settings below (lr 0.001 at batch 32, 150 epochs, cosine) are jvrl's choice.
For HMDB51 point the eval_* files at HMDB51 records and set
--config.eval.finetune.num_classes=51. jvrl's linear probe and kNN numbers
have no published PRP counterpart.
"""
import ml_collections

from configs import prp_synthetic

UCF101_TRAIN_VIDEOS = 9537  # split 1


def get_config(model_name: str = "c3d") -> ml_collections.ConfigDict:
  """PRP's UCF101 recipe with backbone `model_name` ('c3d', 'r3d_prp', 'r2plus1d_prp')."""
  config = prp_synthetic.get_config()
  config.data.source = "records"
  config.data.clip_length = 16
  config.data.frame_stride = 1       # evaluation clips: 16 consecutive frames
  config.data.crop_size = 112
  config.data.shuffle_buffer = 2048

  config.prp.update(dict(
      rates=(1, 2, 4, 8), base_stride=1, short_videos="loop", crop="center",
      resize_short_side=128, flip_prob=0.0, mask_mode="motion", mask_range=(0.8, 2.0),
      reconstruction_weight=1.0, rate_weight=0.1, decoder_conv_impl="native"))

  config.model_name = model_name
  config.model = dict(width_multiplier=1.0, strided_conv="native")

  batch = 8
  steps_per_epoch = UCF101_TRAIN_VIDEOS // batch
  config.train.batch_size = batch
  config.train.num_steps = 300 * steps_per_epoch
  config.train.log_every = 100
  config.train.checkpoint_every = 10 * steps_per_epoch
  config.train.keep_checkpoints = 3
  config.optimizer = dict(
      name="sgd", learning_rate=0.01, lr_batch_scaling=8, warmup_steps=0,
      schedule="constant", momentum=0.9, nesterov=False, weight_decay=5e-4,
      lr_multipliers=((r"rate_head/classifier/", 10.0),),
      plateau_factor=0.1, plateau_patience=50, plateau_accumulation_steps=steps_per_epoch,
      plateau_rtol=1e-4, plateau_cooldown=0, plateau_min_scale=1e-5)  # 1e-7 / 0.01

  config.eval.num_clips = 10
  config.eval.num_crops = 1
  config.eval.resize_short_side = 128
  config.eval.crop_size = 112
  config.eval.batch_size = 32
  config.eval.feature_pooling = "max_122"  # 9216-d for 512 x 2 x 7 x 7 (PRP's protocol)
  config.eval.retrieval_ks = (1, 5, 10, 20, 50)
  finetune_batch = 32
  config.eval.finetune = dict(
      steps=150 * UCF101_TRAIN_VIDEOS // finetune_batch, batch_size=finetune_batch,
      num_classes=101, resize_short_side=128, flip_prob=0.5, num_clips=10, num_crops=1,
      optimizer=dict(name="sgd", learning_rate=0.001, lr_batch_scaling=0, warmup_steps=0,
                     schedule="cosine", momentum=0.9, weight_decay=5e-4, lr_multipliers=(),
                     plateau_factor=0.0),
      random_init_baseline=True)
  return config
