r"""VATT-Base (video Base, audio Base, text Small) on HowTo100M + AudioSet: published recipe.

  # HowTo100M: whole videos with their timed ASR sentences (caption.json), 10 fps, 48 kHz.
  python data/prepare_videos.py --format=howto100m --input=/data/howto100m/caption.json \
      --video_root=/data/howto100m/videos --fps=10 --audio_rate=48000 \
      --output_dir=/data/howto100m
  # AudioSet: video + audio, no text (its text is masked in the loss); at 10 fps too.
  python data/prepare_videos.py --input=/data/audioset/videos --fps=10 --audio_rate=48000 \
      --output_dir=/data/audioset
  python data/build_vocab.py --files='/data/howto100m/train-*.tfrecord' \
      --output=/data/howto100m/vocab.txt --min_count=5 --max_size=65536
  python -m jvrl.main --config=configs/vatt_base_howto100m.py --workdir=gs://.../vatt_base \
      --config.data.train_files='/data/howto100m/train-*.tfrecord' \
      --config.data.mixture.audioset.train_files='/data/audioset/train-*.tfrecord' \
      --config.vatt.text.vocab_file=/data/howto100m/vocab.txt \
      --config.vatt.text.word2vec_file=/data/GoogleNews-vectors-negative300.bin \
      --config.data.eval_train_files='/data/ucf101/train-*.tfrecord' \
      --config.data.eval_test_files='/data/ucf101/test-*.tfrecord'
  # Without AudioSet: --config.data.mixture.audioset.weight=0 (HowTo100M alone).

What it reproduces (google-research/vatt: configs/experiment.py `Pretrain`,
configs/dataset.py `Pretrain`, configs/multimodal.py `TxFACModel`, REFERENCE §2):
* Data: HowTo100M and AudioSet mixed 1:1 (`PreTrainLoader` samples the two
  datasets with `sample_from_datasets`, no weights), AudioSet's text masked.
  Each HowTo100M clip's MIL-NCE bag is the ASR sentence at the clip and its 4
  temporal neighbours (`max_context_sentences=4`; records from
  `prepare_videos.py --format=howto100m`).
* Inputs: 32 frames at 10 fps, VGG-style crop (scale jitter p 0.8,
  resize the short side to 224, random 224 crop), horizontal flip p 0.5, frames
  in [-1, 1]; the 3.2 s of 48 kHz audio aligned with the clip (153,600
  samples) plus Gaussian noise of 0.01 x its peak; 16 words per sentence.
* Model: 4x16x16 voxel patches (8x14x14 = 1568 tokens), 128-sample waveform
  patches (1200 tokens), DropToken keeping 50%, pre-norm transformers (video
  and audio Base 12/768/12/3072, text 6/512/8/2048), dropout 0.1; text: frozen
  300-d word2vec vectors -> Dense(512, no bias) + GELU; fine (512-d,
  video-audio) and coarse (256-d, video-text) spaces. Mixed precision:
  bfloat16 compute, float32 parameters.
* Loss: VATT's asymmetric NCE (video-audio) + MIL-NCE (video-text), both
  directions in one softmax, temperature 0.07, total = (L_va + L_vt) / 2.
* Optimiser: Adam (0.9, 0.999, eps 1e-7), linear warmup to 1e-4 over 5k steps,
  half-period cosine to 5e-5 at 500k steps; batch 2048 (paper, unconfirmed).
Machine: written for a pod (e.g. 256 accelerators x 8 clips). Should reach
(VATT code README, K400 fine-tuned top-1): 79.6 for Base after fine-tuning;
jvrl reports frozen-feature linear probe / kNN and zero-shot retrieval
instead (no fine-tuning yet). NOT reproduced here: this repository was only
run on CPU (configs/vatt_synthetic.py).
Deviations (README, "VATT: what the recipes reproduce"): the text transformer is
jvrl's pre-norm transformer with learned positions (VATT: T5-Small with
relative position buckets; its aggregation token is a 300-d embedding before
the projection); the vocabulary is built from the training captions (VATT:
its fixed 2^16-word howto100m_en list), words without a vector are zeros;
each clip is drawn uniformly in the video and then finds its sentence (VATT /
MIL-NCE draw a sentence, then a clip inside it); bags of videos with fewer
than 5 sentences are padded with absent captions; AudioSet is read at 10 fps
(VATT: 25 fps with stride 2); DropToken draws a subset per example (VATT: one
per batch).
"""
import ml_collections

from configs import vatt_synthetic


def make_config(video_size: str = "base", audio_size: str = "base",
                text_size: str = "small") -> ml_collections.ConfigDict:
  """The HowTo100M + AudioSet recipe with the given tower sizes (module docstring)."""
  config = vatt_synthetic.get_config()
  config.data.source = "records"
  # HowTo100M is config.data's own train source; AudioSet is a second member
  # (VATT mixes the two 1:1; weight 0 trains on HowTo100M alone).
  config.data.mixture = dict(
      howto100m=dict(weight=1.0),
      audioset=dict(weight=1.0, source="records", train_files=""),
  )
  config.data.clip_length = 32
  config.data.frame_stride = 1        # records at 10 fps
  config.data.crop_size = 224
  config.data.video_fps = 10.0
  config.data.audio_sample_rate = 48000
  config.data.shuffle_buffer = 4096
  config.augment = dict(style="vgg", min_resize=224, scale_jitter_prob=0.8,
                        scale_range=(0.8, 1.2), flip_prob=0.5, audio_noise=0.01)

  config.model_name = "vatt_video"
  config.model = dict(size=video_size, patch_size=(4, 16, 16), pos_buckets=(8, 14, 14),
                      drop_token_keep_ratio=0.5, dropout_rate=0.1, dtype="bfloat16")
  config.vatt.loss_form = "asymmetric"
  config.vatt.num_captions = 5        # the sentence and its 4 temporal neighbours
  config.vatt.audio_model = dict(size=audio_size, patch_size=128, pos_buckets=1200,
                                 drop_token_keep_ratio=0.5, dropout_rate=0.1)
  config.vatt.text_model = dict(size=text_size, dropout_rate=0.1)
  config.vatt.text = dict(vocab_file="", vocab_min_count=5, vocab_max_size=65536,
                          max_length=16, word_embeddings="frozen_word2vec",
                          word2vec_file="", word_dim=300)

  config.train = dict(batch_size=2048, num_steps=500_000, log_every=100,
                      checkpoint_every=5000, keep_checkpoints=3)
  config.optimizer = dict(name="adamw", learning_rate=1e-4, warmup_steps=5000,
                          schedule="cosine", end_learning_rate=5e-5, b1=0.9, b2=0.999,
                          eps=1e-7, weight_decay=0.0, grad_clip_norm=0.0)

  config.eval.num_clips = 4
  config.eval.num_crops = 3
  config.eval.resize_short_side = 256
  config.eval.crop_size = 224
  config.eval.batch_size = 64
  return config


def get_config() -> ml_collections.ConfigDict:
  """VATT-Base: video Base, audio Base, text Small."""
  return make_config("base")
