r"""VATT-Base (video Base, audio Base, text Small) on HowTo100M: published recipe (REFERENCE §2).

  python data/prepare_videos.py ... --fps=10 --audio_rate=48000 --output_dir=/data/howto100m
  python data/build_vocab.py --files='/data/howto100m/train-*.tfrecord' \
      --output=/data/howto100m/vocab.txt --min_count=5
  python -m jvrl.main --config=configs/vatt_base_howto100m.py --workdir=gs://.../vatt_base \
      --config.data.train_files='/data/howto100m/train-*.tfrecord' \
      --config.vatt.text.vocab_file=/data/howto100m/vocab.txt \
      --config.data.eval_train_files='/data/ucf101/train-*.tfrecord' \
      --config.data.eval_test_files='/data/ucf101/test-*.tfrecord'

Records: one SequenceExample per clip, frames at 10 fps (`--fps=10`), mono
48 kHz waveform, the clip's captions (its ASR sentence and its temporal
neighbours, up to 5; jvrl's MIL-NCE bag is the record's captions).
Inputs (REFERENCE §2): 32 frames at 10 fps, 224 crop, frames in [-1, 1]; the
3.2 s of 48 kHz audio aligned with the clip (153,600 samples); 16 text tokens.
Model: 4x16x16 voxel patches (8x14x14 = 1568 tokens), 128-sample waveform
patches (1200 tokens), DropToken keeping 50%, pre-norm transformers (video and
audio Base 12/768/12/3072, text Small 6/512/8/2048), dropout 0.1, fine (512-d,
video-audio) and coarse (256-d, video-text) spaces, NCE + MIL-NCE at
temperature 0.07, total = (L_va + L_vt) / 2. Mixed precision: bfloat16
compute, float32 parameters.
Optimiser (REFERENCE §2): Adam (0.9, 0.999), linear warmup to 1e-4 over 5k
steps, half-period cosine to 5e-5 at 500k steps; batch 2048 (paper,
unconfirmed).
Machine: written for a pod (e.g. 256 accelerators x 8 clips). Should reach
(VATT code README, K400 fine-tuned top-1): 79.6 for Base after fine-tuning;
jvrl reports frozen-feature linear probe / kNN and zero-shot retrieval
instead (no fine-tuning yet). NOT reproduced here: this repository was only
run on CPU (configs/vatt_synthetic.py).
Deviations: the word embeddings are learned (VATT: frozen 300-d word2vec);
augmentation is jvrl's random resized crop + flip (not checked against VATT's).
"""
import ml_collections

from configs import vatt_synthetic


def make_config(video_size: str = "base", audio_size: str = "base",
                text_size: str = "small") -> ml_collections.ConfigDict:
  """The HowTo100M recipe with the given tower sizes (see the module docstring)."""
  config = vatt_synthetic.get_config()
  config.data.source = "records"
  config.data.clip_length = 32
  config.data.frame_stride = 1        # records at 10 fps
  config.data.crop_size = 224
  config.data.video_fps = 10.0
  config.data.audio_sample_rate = 48000
  config.data.shuffle_buffer = 4096
  config.augment = dict(area_range=(0.3, 1.0), aspect_ratio_range=(0.5, 2.0), flip_prob=0.5)

  config.model_name = "vatt_video"
  config.model = dict(size=video_size, patch_size=(4, 16, 16), pos_buckets=(8, 14, 14),
                      drop_token_keep_ratio=0.5, dropout_rate=0.1, dtype="bfloat16")
  config.vatt.num_captions = 5
  config.vatt.audio_model = dict(size=audio_size, patch_size=128, pos_buckets=1200,
                                 drop_token_keep_ratio=0.5, dropout_rate=0.1)
  config.vatt.text_model = dict(size=text_size, dropout_rate=0.1)
  config.vatt.text = dict(vocab_file="", vocab_min_count=5, vocab_max_size=0, max_length=16,
                          word_dim=300)

  config.train = dict(batch_size=2048, num_steps=500_000, log_every=100,
                      checkpoint_every=5000, keep_checkpoints=3)
  config.optimizer = dict(name="adamw", learning_rate=1e-4, warmup_steps=5000,
                          schedule="cosine", end_learning_rate=5e-5, b1=0.9, b2=0.999,
                          eps=1e-8, weight_decay=0.0, grad_clip_norm=0.0)

  config.eval.num_clips = 4
  config.eval.num_crops = 3
  config.eval.resize_short_side = 256
  config.eval.crop_size = 224
  config.eval.batch_size = 64
  return config


def get_config() -> ml_collections.ConfigDict:
  """VATT-Base: video Base, audio Base, text Small."""
  return make_config("base")
