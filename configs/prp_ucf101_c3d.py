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
lr 0.01 (rate classifier 10x), momentum 0.9, weight decay 5e-4 on every
parameter (PyTorch's SGD over model.parameters(): `weight_decay_mask='all'`),
batch 8, 300 epochs, reduce-on-plateau (factor 0.1, lr >= 1e-7; PyTorch's
patience 50 cuts after the 51st epoch without improvement, optax's after the
`plateau_patience`-th, hence 51). Batch sizes other than 8 scale the learning
rate linearly (`optimizer.lr_batch_scaling=8`). The rate-1 target frames that
do not exist are filled with their neighbours' mean and left out of the loss,
as in the released code (train_predict.py `Motion_MSEloss_NoFakeGt` with
`recon_flags`). The motion map comes from the decoded window's frames
{0, 5, 10, 15} of each 16-frame chunk (`jvrl.losses.prp`).

Fine-tuning (PRP's ft_classfy.py): the encoder plus a new 101-way classifier,
SGD lr 0.001 at batch 8 (`lr_batch_scaling=8`), momentum 0.9, weight decay
5e-4 on every parameter, 160 epochs, lr x0.1 from the 100th epoch on (PyTorch
0.4's StepLR(step_size=100) stepped at the start of each epoch: the 100th
already runs at 1e-4, so the boundary is after 99 epochs), no plateau; one
16-frame clip per video per epoch, random 112 crop of 128-short-side frames,
no flip; 800 training videos held out (`eval.finetune.validation_videos`,
chosen by name, never from the test split) and scored after every epoch; the
state of the best validation accuracy is tested (10 evenly spaced clips,
centre crop, logits averaged: test_classify.py). For HMDB51 point the eval_*
files at HMDB51 records and set --config.eval.finetune.num_classes=51,
validation_videos=400 and steps / validation_every / decay_boundaries for its
3570 training videos.

Deviations: pretraining's plateau is measured on the TRAINING loss averaged
over each epoch (PRP: on 800 held-out training videos; jvrl's held-out split
belongs to fine-tuning only); videos too short for a rate loop instead of
being replaced by another video; fine-tuning's validation scores the centre
clip and centre crop of each held-out video (PRP: one random clip and crop,
the training transform) and counts every video (PRP's ClassifyDataSet drops
the last one of each list).

Machine: written for one accelerator (PRP used one GPU); not run here (this
repository was only run on CPU). Should reach (PRP, UCF101 split 1): UCF101
retrieval R@1/5/10/20/50 = 23.2 / 38.1 / 46.0 / 55.7 / 68.4 with the
evaluation below (10 clips, max-pooled (1,2,2) conv5 features, cosine,
test -> train) and fine-tuning top-1 69.1 (UCF101) / 34.5 (HMDB51) with the
fine-tuning above. jvrl's linear probe and kNN numbers have no published PRP
counterpart.
"""
import ml_collections

from configs import prp_synthetic

UCF101_TRAIN_VIDEOS = 9537  # split 1
FINETUNE_VALIDATION_VIDEOS = 800  # ft_classfy.py: random_split(train, (len - 800, 800))


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
      weight_decay_mask="all", lr_multipliers=((r"rate_head/classifier/", 10.0),),
      plateau_factor=0.1, plateau_patience=51, plateau_accumulation_steps=steps_per_epoch,
      plateau_rtol=1e-4, plateau_cooldown=0, plateau_min_scale=1e-5)  # 1e-7 / 0.01

  config.eval.num_clips = 10
  config.eval.num_crops = 1
  config.eval.resize_short_side = 128
  config.eval.crop_size = 112
  config.eval.batch_size = 32
  config.eval.feature_pooling = "max_122"  # 9216-d for 512 x 2 x 7 x 7 (PRP's protocol)
  config.eval.retrieval_ks = (1, 5, 10, 20, 50)
  finetune_batch = 8
  finetune_epoch = (UCF101_TRAIN_VIDEOS - FINETUNE_VALIDATION_VIDEOS) // finetune_batch
  config.eval.finetune = dict(
      steps=160 * finetune_epoch, batch_size=finetune_batch, num_classes=101,
      resize_short_side=128, flip_prob=0.0, num_clips=10, num_crops=1,
      optimizer=dict(name="sgd", learning_rate=0.001, lr_batch_scaling=8, warmup_steps=0,
                     schedule="step", decay_boundaries=(99 * finetune_epoch,),
                     decay_factor=0.1, momentum=0.9, weight_decay=5e-4,
                     weight_decay_mask="all", lr_multipliers=(), plateau_factor=0.0),
      validation_videos=FINETUNE_VALIDATION_VIDEOS, validation_every=finetune_epoch,
      validation_clips=1, random_init_baseline=True)
  return config
