"""VATT: video, audio and text transformers trained with multimodal contrastive losses.

REFERENCE §2. Each training example is one clip of a video, the audio window
covering the same time span (`jvrl.data.vatt_sampling`) and a bag of up to K
candidate captions (timed captions: the sentence at the clip and its temporal
neighbours; untimed: up to K of the video's captions), tokenised by the
word-level tokenizer (`jvrl.text`). The
three towers (`jvrl.models.vatt`; one shared transformer with
`config.model_name='vatt_mat'`) map them into the fine-and-coarse common
space, and the loss is

  w_va * L(video, audio) + w_vt * L(video, captions)

over the global batch (`jvrl.losses.multimodal`; VATT: w_va = w_vt = 1/2,
temperature 0.07), L being VATT's asymmetric NCE / MIL-NCE by default
(`config.vatt.loss_form`). Clips whose video has no audio or no caption are masked in
the corresponding loss, not dropped.

The video tower is the encoder that the shared evaluation probes and exports;
the evaluation layer adds, for this objective, zero-shot video<->text and
video<->audio retrieval and linear probe / kNN on the audio and text features
(`jvrl.evaluation.multimodal`).

Config (see configs/vatt_synthetic.py): `config.model_name` 'vatt_video' or
'vatt_mat' with `config.model` its options; `config.vatt` holds the losses,
heads, audio / text towers and the text settings; `config.data.video_fps` and
`config.data.audio_sample_rate` give the time base of the audio alignment
(records do not pass their rates through the parser; for the synthetic source
they must equal its `fps` and `sample_rate`).
"""
import functools
from typing import Any, Mapping, Optional

from absl import logging
import jax.numpy as jnp
import ml_collections
import numpy as np

from jvrl import models
from jvrl.data import audio_augment
from jvrl.data import augment
from jvrl.data import decode
from jvrl.data import sampling
from jvrl.data import sources
from jvrl.data import synthetic
from jvrl.data import vatt_sampling
from jvrl.data.tf_setup import tf
from jvrl.losses import multimodal
from jvrl.models.vatt import transformer
from jvrl.models.vatt import vatt
from jvrl.objectives import base
from jvrl.text import tokenizer as tokenizer_lib
from jvrl.text import vocab as vocab_lib
from jvrl.text import word_vectors as word_vectors_lib

VATT_MODELS = ("vatt_video", "vatt_mat")
# config.vatt.text.word_embeddings: a learned table, or VATT's frozen word2vec vectors.
WORD_EMBEDDINGS = ("learned", "frozen_word2vec")


def media_rates(config: ml_collections.ConfigDict) -> tuple[float, int]:
  """(video fps, audio sample rate) from `config.data`, checked against the synthetic source."""
  fps = float(config.data.video_fps)
  sample_rate = int(config.data.audio_sample_rate)
  if not fps > 0 or sample_rate < 1:
    raise ValueError(f"config.data.video_fps={fps} and config.data.audio_sample_rate="
                     f"{sample_rate} must be positive.")
  if config.data.get("source", "synthetic") == "synthetic":
    settings = dict(config.data.synthetic)
    settings.pop("cache_dir", None)
    data_cfg = synthetic.synthetic_config_from_dict(settings)
    if (data_cfg.fps, data_cfg.sample_rate) != (fps, sample_rate):
      raise ValueError(
          f"config.data.video_fps={fps} / audio_sample_rate={sample_rate} disagree with the "
          f"synthetic videos ({data_cfg.fps} fps, {data_cfg.sample_rate} Hz): set them equal.")
  return fps, sample_rate


def audio_window_samples(config: ml_collections.ConfigDict) -> int:
  """Samples per training / evaluation audio window (the clip's time span)."""
  fps, sample_rate = media_rates(config)
  return vatt_sampling.num_audio_samples(
      config.data.clip_length, config.data.frame_stride, fps, sample_rate)


def make_tokenizer(config: ml_collections.ConfigDict) -> tokenizer_lib.WordTokenizer:
  """The caption tokenizer of `config.vatt.text`.

  `vocab_file=''` is allowed for the built-in synthetic dataset only: its
  vocabulary is then built from the train split's captions once and cached
  beside the split's records (`jvrl.text.vocab.ensure_vocab_file`).
  """
  text = config.vatt.text
  train_files = []
  if not text.vocab_file:
    if config.data.get("source", "synthetic") != "synthetic":
      raise ValueError(
          "config.vatt.text.vocab_file is empty: build a vocabulary of your training "
          "captions with `python data/build_vocab.py --files=<train records> "
          "--output=vocab.txt` and set config.vatt.text.vocab_file to it.")
    train_files = sources.list_split_files(config.data, "train")
  path = vocab_lib.ensure_vocab_file(text.vocab_file, train_files, text.vocab_min_count,
                                     text.vocab_max_size or None)
  return tokenizer_lib.WordTokenizer.from_file(path, text.max_length)


def encode_captions(tokenizer: tokenizer_lib.WordTokenizer, captions: tf.Tensor,
                    caption_mask: tf.Tensor) -> dict[str, tf.Tensor]:
  """Selected captions [K] -> 'text_ids' [K, L], 'text_mask' [K, L], 'caption_mask' [K].

  A caption without any word (e.g. only punctuation) is marked absent too.
  """
  ids, token_mask = tokenizer.tf_encode(captions)
  return {"text_ids": ids, "text_mask": token_mask,
          "caption_mask": caption_mask & tf.reduce_any(token_mask, axis=1)}


# config.augment.style: VATT's pretraining crop, or jvrl's earlier random resized crop.
AUGMENT_STYLES = ("vgg", "inception")


def augment_settings(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """`config.augment` with its defaults ('inception' style, no audio noise when absent,
  jvrl's earlier behaviour), checked."""
  aug = dict(style="inception", flip_prob=0.0, audio_noise=0.0, scale_jitter_prob=0.8,
             scale_range=(0.8, 1.2), area_range=(0.3, 1.0), aspect_ratio_range=(0.5, 2.0))
  aug.update(config.augment.to_dict() if hasattr(config.augment, "to_dict") else
             dict(config.augment))
  if aug["style"] not in AUGMENT_STYLES:
    raise ValueError(f"config.augment.style={aug['style']!r} must be one of {AUGMENT_STYLES} "
                     "('vgg': VATT's scale jitter + resize + random crop; 'inception': random "
                     "resized crop).")
  if aug["style"] == "vgg":
    aug.setdefault("min_resize", config.data.crop_size)
    if aug["min_resize"] < config.data.crop_size:
      raise ValueError(f"config.augment.min_resize={aug['min_resize']} must be >= "
                       f"config.data.crop_size={config.data.crop_size}.")
  if not 0 <= aug["audio_noise"]:
    raise ValueError(f"config.augment.audio_noise={aug['audio_noise']!r} must be >= 0.")
  return aug


def augment_clip(clip: tf.Tensor, seed: tf.Tensor, crop_size: int,
                 aug: Mapping[str, Any]) -> tf.Tensor:
  """One training clip's spatial augmentation (`augment_settings`), the same on every
  frame: float [T, H, W, 3] in [0, 1] -> [T, crop_size, crop_size, 3].

  'vgg': VATT's pretraining (`augment.vgg_style_crop`: scale jitter with
  probability 0.8, resize the smallest side to `min_resize`, random crop);
  'inception': `augment.random_resized_crop`. Then a horizontal flip with
  probability `flip_prob` (VATT: 0.5; DMVR's `random_flip_left_right`).
  """
  crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  if aug["style"] == "vgg":
    clip = augment.vgg_style_crop(clip, crop_seed, crop_size, int(aug["min_resize"]),
                                  aug["scale_jitter_prob"], tuple(aug["scale_range"]))
  else:
    clip = augment.random_resized_crop(clip, crop_seed, crop_size, tuple(aug["area_range"]),
                                       tuple(aug["aspect_ratio_range"]))
  return augment.random_flip_left_right(clip, flip_seed, aug["flip_prob"])


def make_vatt_preprocess(config: ml_collections.ConfigDict,
                         tokenizer: tokenizer_lib.WordTokenizer) -> base.TrainPreprocessFn:
  """Returns the tf.data function making one (clip, audio window, captions) example.

  The clip is augmented by `augment_clip`; the audio window gets VATT's
  relative Gaussian noise (`config.augment.audio_noise`, VATT: 0.01;
  `audio_augment.add_relative_gaussian_noise`).
  """
  clip_length, stride = config.data.clip_length, config.data.frame_stride
  fps, sample_rate = media_rates(config)
  num_samples = audio_window_samples(config)
  num_captions = config.vatt.num_captions
  aug = augment_settings(config)

  def preprocess(example: Mapping[str, Any], seed: tf.Tensor) -> dict:
    start_seed, augment_seed, caption_seed, noise_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4))
    num_frames = example["num_frames"]
    start = sampling.sample_uniform_clip_start(num_frames, clip_length, stride, start_seed)
    indices = sampling.clip_frame_indices(start, clip_length, stride, num_frames)
    clip = tf.cast(decode.decode_frames(example["frames"], indices), tf.float32) / 255.0
    clip = augment_clip(clip, augment_seed, config.data.crop_size, aug)
    audio, audio_present = vatt_sampling.aligned_audio_window(
        example["waveform"], start, num_samples, fps, sample_rate)
    audio = audio_augment.add_relative_gaussian_noise(audio, noise_seed, aug["audio_noise"])
    captions, caption_mask = vatt_sampling.select_clip_captions(
        example["captions"], example["caption_start_us"], example["caption_end_us"], start,
        clip_length * stride, fps, num_captions, caption_seed)
    return {
        "video": tf.cast(tf.round(tf.clip_by_value(clip, 0.0, 1.0) * 255.0), tf.uint8),
        "audio": audio,
        "audio_mask": audio_present,
        **encode_captions(tokenizer, captions, caption_mask),
    }

  return preprocess


def word_embeddings_mode(config: ml_collections.ConfigDict) -> str:
  """`config.vatt.text.word_embeddings` ('learned' when absent), checked with its file."""
  text = config.vatt.text
  mode = text.get("word_embeddings", "learned")
  if mode not in WORD_EMBEDDINGS:
    raise ValueError(f"config.vatt.text.word_embeddings={mode!r} must be one of "
                     f"{WORD_EMBEDDINGS}.")
  path = text.get("word2vec_file", "")
  if mode == "frozen_word2vec" and not path:
    raise ValueError("config.vatt.text.word_embeddings='frozen_word2vec' needs "
                     "config.vatt.text.word2vec_file (word2vec .bin / .txt, a .npz of 'words' "
                     "and 'vectors', or a .npy aligned with the vocabulary file), e.g. "
                     "GoogleNews-vectors-negative300.bin; or set word_embeddings='learned'.")
  if mode == "frozen_word2vec" and not tf.io.gfile.exists(path):
    raise ValueError(f"config.vatt.text.word2vec_file={path!r} does not exist.")
  if mode == "learned" and path:
    raise ValueError(f"config.vatt.text.word2vec_file={path!r} is set but "
                     "config.vatt.text.word_embeddings='learned' would ignore it: set "
                     "word_embeddings='frozen_word2vec'.")
  return mode


@functools.lru_cache(maxsize=2)
def _cached_word_vectors(path: str, vocab: tuple[str, ...],
                         dim: int) -> word_vectors_lib.WordVectors:
  vectors = word_vectors_lib.load_word_vectors(path, vocab, dim)
  logging.info("Frozen word vectors from %s: %d of the %d vocabulary words have one (the "
               "others, [PAD] and [UNK] are zero vectors).", path, vectors.found,
               len(vocab) - 2)
  return vectors


def load_word_vectors(config: ml_collections.ConfigDict,
                      tokenizer: tokenizer_lib.WordTokenizer) -> Optional[np.ndarray]:
  """The frozen word-vector table [vocab, word_dim] of the config, or None (learned)."""
  if word_embeddings_mode(config) != "frozen_word2vec":
    return None
  return _cached_word_vectors(config.vatt.text.word2vec_file, tuple(tokenizer.vocab),
                              int(config.vatt.text.word_dim)).table


def make_model(config: ml_collections.ConfigDict,
               tokenizer: tokenizer_lib.WordTokenizer) -> vatt.VattModel:
  """`build_vatt_model` for `tokenizer`'s vocabulary, with its frozen word vectors if any."""
  return build_vatt_model(config, tokenizer.vocab_size, load_word_vectors(config, tokenizer))


def build_vatt_model(config: ml_collections.ConfigDict, vocab_size: int,
                     word_vectors: Optional[np.ndarray] = None) -> vatt.VattModel:
  """The three towers (or the shared one) and the heads, from the config.

  `word_vectors`: the frozen table [vocab_size, word_dim] that
  `config.vatt.text.word_embeddings='frozen_word2vec'` needs (`load_word_vectors`).
  """
  if config.model_name not in VATT_MODELS:
    raise ValueError(f"objective 'vatt' needs config.model_name in {VATT_MODELS}, got "
                     f"{config.model_name!r}.")
  model_options = config.model.to_dict()
  encoder = models.build_model(config.model_name, **model_options)
  dtype = jnp.dtype(model_options.get("dtype", "float32"))
  audio_encoder = text_encoder = None
  if config.model_name == "vatt_video":
    audio_encoder = vatt.vatt_audio(**config.vatt.audio_model.to_dict(), dtype=dtype)
    text_encoder = vatt.vatt_text(**config.vatt.text_model.to_dict(),
                                  max_length=config.vatt.text.max_length, dtype=dtype)
    audio_patch = audio_encoder.patch_size
  else:
    audio_patch = encoder.audio_patch_size
  samples = audio_window_samples(config)
  if samples % audio_patch:
    raise ValueError(f"The audio window ({samples} samples = clip_length * frame_stride / "
                     f"video_fps * audio_sample_rate) must be a multiple of the audio patch "
                     f"size {audio_patch}: change the clip or the patch size.")
  frozen = config.vatt.text.get("word_embeddings", "learned") == "frozen_word2vec"
  if frozen and word_vectors is None:
    raise ValueError("config.vatt.text.word_embeddings='frozen_word2vec' needs the word-vector "
                     "table (load_word_vectors).")
  return vatt.VattModel(
      encoder=encoder, audio_encoder=audio_encoder, text_encoder=text_encoder,
      vocab_size=vocab_size, word_dim=config.vatt.text.word_dim,
      va_dim=config.vatt.va_dim, vt_dim=config.vatt.vt_dim, dtype=dtype,
      frozen_word_vectors=vatt.FrozenTable(np.asarray(word_vectors, np.float32))
      if frozen else None)


def loss_form(config: ml_collections.ConfigDict) -> str:
  """`config.vatt.loss_form` ('asymmetric' when absent: VATT's default)."""
  form = config.vatt.get("loss_form", "asymmetric")
  if form not in multimodal.LOSS_FORMS:
    raise ValueError(f"config.vatt.loss_form={form!r} must be one of {multimodal.LOSS_FORMS} "
                     "('asymmetric': VATT's AsymmetricNCE, both directions in one softmax; "
                     "'symmetric': jvrl's earlier NCE + MIL-NCE).")
  return form


def make_vatt_loss(config: ml_collections.ConfigDict) -> base.LossFn:
  """w_va * L(video, audio) + w_vt * L(video, captions), with masks.

  L is `multimodal.asymmetric_nce_loss` for `config.vatt.loss_form=
  'asymmetric'` (VATT's `AsymmetricNCE`, its pretraining default), or the
  symmetric NCE (video-audio) and MIL-NCE (video-text) of jvrl's earlier
  versions for 'symmetric'.
  """
  temperature = config.vatt.temperature
  va_weight, vt_weight = config.vatt.va_weight, config.vatt.vt_weight
  asymmetric = loss_form(config) == "asymmetric"

  def loss_fn(outputs, batch):
    if asymmetric:
      loss_va, va = multimodal.asymmetric_nce_loss(
          outputs["video_va"], outputs["audio_va"], temperature, present=batch["audio_mask"])
      loss_vt, vt = multimodal.asymmetric_nce_loss(
          outputs["video_vt"], outputs["text_vt"], temperature,
          candidate_mask=batch["caption_mask"])
    else:
      loss_va, va = multimodal.nce_loss(outputs["video_va"], outputs["audio_va"], temperature,
                                        mask=batch["audio_mask"])
      loss_vt, vt = multimodal.mil_nce_loss(outputs["video_vt"], outputs["text_vt"],
                                            temperature, caption_mask=batch["caption_mask"])
    metrics = {"loss_va": loss_va, "loss_vt": loss_vt, "va_accuracy": va["accuracy"],
               "vt_accuracy": vt["accuracy"], "audio_present": va["valid_fraction"],
               "text_present": vt["valid_fraction"]}
    return va_weight * loss_va + vt_weight * loss_vt, metrics

  return loss_fn


def check_config(config: ml_collections.ConfigDict) -> None:
  """`config.vatt` present, a VATT model, and media rates that fit the data."""
  section = base.require_section(config, "vatt")
  temperature = section.get("temperature")
  if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not (
      temperature > 0):
    raise ValueError(f"config.vatt.temperature={temperature!r} must be a number > 0 "
                     "(VATT: 0.07).")
  for field in ("va_weight", "vt_weight"):
    weight = section.get(field)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
      raise ValueError(f"config.vatt.{field}={weight!r} must be a number >= 0.")
  if config.model_name not in VATT_MODELS:
    raise ValueError(f"objective 'vatt' needs config.model_name in {VATT_MODELS}, got "
                     f"{config.model_name!r}.")
  loss_form(config)
  word_embeddings_mode(config)
  augment_settings(config)
  media_rates(config)


def build_objective(config: ml_collections.ConfigDict) -> base.Objective:
  """Builds VATT from `config.model_name`, `config.model` and `config.vatt`."""
  tokenizer = make_tokenizer(config)
  model = make_model(config, tokenizer)
  return base.Objective(
      name="vatt",
      model=model,
      loss_fn=make_vatt_loss(config),
      preprocess_train=make_vatt_preprocess(config, tokenizer),
      clips_per_example=1,
      rng_names=("dropout", transformer.DROP_TOKEN_RNG),
  )
