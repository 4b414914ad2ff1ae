"""VATT objective: aligned training inputs, model outputs, loss wiring, end to end."""
import importlib
import json
import math
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import TINY_VATT_OVERRIDES

from jvrl.data import pipeline
from jvrl.data import records
from jvrl.data import sources
from jvrl.data.tf_setup import tf
from jvrl.losses import multimodal as multimodal_losses
from jvrl.objectives import build_objective
from jvrl.objectives import vatt as vatt_objective
from jvrl.tools import model_summary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _train_videos(config):
  """filename -> parsed example of every training video."""
  files = sources.list_split_files(config.data, "train")
  parsed = tf.data.TFRecordDataset(files).map(records.parse_sequence_example)
  return {example["filename"]: example for example in parsed.as_numpy_iterator()}


def test_preprocess_gives_clip_aligned_audio_and_tokenised_captions(tiny_vatt_config):
  config = tiny_vatt_config
  config.augment.audio_noise = 0.0  # exact windows first; the noise is checked below
  objective = build_objective(config)
  batch = next(pipeline.make_train_dataset(config, objective.preprocess_train, 4)
               .as_numpy_iterator())
  t, s = config.data.clip_length, config.data.crop_size
  samples = vatt_objective.audio_window_samples(config)
  assert samples == 6400  # 4 frames x stride 2 at 10 fps = 0.8 s at 8 kHz
  k, length = config.vatt.num_captions, config.vatt.text.max_length
  expected = {"video": ((4, t, s, s, 3), np.uint8), "audio": ((4, samples), np.float32),
              "audio_mask": ((4,), bool), "text_ids": ((4, k, length), np.int32),
              "text_mask": ((4, k, length), bool), "caption_mask": ((4, k), bool)}
  for name, (shape, dtype) in expected.items():
    assert batch[name].shape == shape and batch[name].dtype == dtype, name
  assert batch["audio_mask"].all() and batch["caption_mask"][:, :2].all()  # 2-3 captions
  np.testing.assert_array_equal(batch["text_mask"].any(-1), batch["caption_mask"])

  # Each audio window is the video's waveform from its clip's start time: some clip
  # start f (in [0, L - (T-1)*s)) has waveform[f / fps * rate:][:samples] == window
  # (zero-padded past the end of the video).
  waveforms = [np.pad(example["waveform"], (0, samples))
               for example in _train_videos(config).values()]
  step = int(config.data.audio_sample_rate / config.data.video_fps)
  for window in batch["audio"]:
    matches = [f for w in waveforms for f in range(16 - (t - 1) * 2)
               if np.array_equal(w[f * step:f * step + samples], window)]
    assert len(matches) == 1

  # VATT's audio noise: N(0, (0.01 x the window's peak)^2) on the same windows, and the
  # VGG-style crop (the same box on every frame) keeps the clips' shape.
  config.augment.audio_noise = 0.01
  noisy = next(pipeline.make_train_dataset(
      config, vatt_objective.make_vatt_preprocess(config, vatt_objective.make_tokenizer(config)),
      4).as_numpy_iterator())
  np.testing.assert_array_equal(noisy["video"], batch["video"])  # same seeds, same crops
  noise = noisy["audio"] - batch["audio"]
  relative = noise.std(axis=1) / np.abs(batch["audio"]).max(axis=1)
  np.testing.assert_allclose(relative, 0.01, rtol=0.1)
  assert abs(noise.mean()) < 1e-3


def test_timed_captions_give_each_clip_its_sentence_and_neighbours(tiny_vatt_config):
  """A record with timed sentences (HowTo100M-like): the bag of a clip is the sentence
  overlapping it most and its neighbours, not a random subset of the video's sentences."""
  config = tiny_vatt_config
  config.augment.audio_noise = 0.0  # the clip's start is read off its audio window
  num_frames, rate, fps = 40, 8000, 10.0
  samples = num_frames * rate // 10
  sentences = [f"word{i}" for i in range(8)]  # sentence i spans [0.5 i, 0.5 i + 0.5) s
  record = records.make_sequence_example(
      jpeg_frames=records.encode_jpeg_frames(np.zeros((num_frames, 16, 16, 3), np.uint8)),
      waveform=np.arange(samples, dtype=np.float32) / samples, captions=sentences,
      caption_start_us=[500_000 * i for i in range(8)],
      caption_end_us=[500_000 * (i + 1) for i in range(8)])
  example = records.parse_sequence_example(tf.constant(record.SerializeToString()))
  tokenizer = vatt_objective.tokenizer_lib.WordTokenizer(["[PAD]", "[UNK]", *sentences], 4)
  preprocess = vatt_objective.make_vatt_preprocess(config, tokenizer)
  k = config.vatt.num_captions
  span = config.data.clip_length * config.data.frame_stride / fps
  starts_seen = set()
  for seed in range(12):
    out = preprocess(example, tf.constant([seed, 7], tf.int64))
    start = round(float(out["audio"][0]) * samples) / (rate / fps) / fps  # seconds
    starts_seen.add(start)
    overlaps = [min(0.5 * i + 0.5, start + span) - max(0.5 * i, start) for i in range(8)]
    ids = out["text_ids"].numpy()[:, 0] - 2  # one word per sentence: word i has id i + 2
    assert out["caption_mask"].numpy().all()
    assert int(np.argmax(overlaps)) in ids, (start, ids)
    np.testing.assert_array_equal(ids, np.arange(ids[0], ids[0] + k))  # consecutive
  assert len(starts_seen) > 3


def test_mixture_with_a_source_without_text_masks_its_captions(tiny_vatt_config, tmp_path):
  """VATT's HowTo100M + AudioSet: the AudioSet-like records (no captions) are mixed in
  by weight and their text is masked, their audio kept."""
  from jvrl import config_validation  # pylint: disable=g-import-not-at-top
  config = tiny_vatt_config
  samples = 16 * 8000 // 10
  audioset = [records.make_sequence_example(
      jpeg_frames=records.encode_jpeg_frames(np.zeros((16, 32, 32, 3), np.uint8)),
      waveform=np.full(samples, 0.5, np.float32), label=i) for i in range(4)]
  records.write_sharded_records(audioset, str(tmp_path), 1, "train")
  config.data.mixture = dict(
      synthetic=dict(weight=1.0),
      audioset=dict(weight=1.0, source="records",
                    train_files=records.shard_glob(str(tmp_path), "train")))
  config_validation.validate_config(config, "train")
  objective = build_objective(config)
  dataset = pipeline.make_train_dataset(config, objective.preprocess_train, 16)
  batch = next(dataset.as_numpy_iterator())
  from_audioset = batch["video"].reshape(16, -1).max(axis=1) < 8  # all-black frames
  assert 0 < from_audioset.sum() < 16
  assert not batch["caption_mask"][from_audioset].any()
  assert batch["caption_mask"][~from_audioset].any(axis=1).all()
  assert batch["audio_mask"].all()
  config.data.mixture.audioset.train_files = ""
  with pytest.raises(config_validation.ConfigError,
                     match="config.data.mixture.audioset.train_files"):
    config_validation.validate_config(config, "train")


def _abstract_outputs(objective, batch):
  """Shapes of the model's variables and training outputs (traced, not compiled)."""
  def init_and_apply(b):
    variables = objective.model.init(jax.random.key(0), b, train=False)
    rngs = {name: jax.random.key(i) for i, name in enumerate(objective.rng_names)}
    outputs, _ = objective.model.apply(variables, b, train=True, rngs=rngs,
                                       mutable=["batch_stats"])
    return variables, outputs
  return jax.eval_shape(init_and_apply, batch)


def test_model_outputs_and_loss(tiny_vatt_config):
  config = tiny_vatt_config
  objective = build_objective(config)
  assert objective.rng_names == ("dropout", "droptoken")
  # The evaluation layer, not the objective, adds VATT's whole-model evaluation.
  from jvrl.evaluation import multimodal, objective_evaluations  # pylint: disable=g-import-not-at-top
  assert (objective_evaluations.whole_model_evaluation(config)
          is multimodal.evaluate_whole_model)
  batch = next(pipeline.make_train_dataset(config, objective.preprocess_train, 4)
               .as_numpy_iterator())
  batch = {k: v for k, v in batch.items() if k not in pipeline.HOST_FIELDS}
  _, shapes = _abstract_outputs(objective, batch)
  assert {k: v.shape for k, v in shapes.items()} == {
      "video_va": (4, 32), "video_vt": (4, 16), "audio_va": (4, 32), "text_vt": (4, 3, 16)}
  rng = np.random.default_rng(0)
  outputs = {k: rng.normal(size=v.shape).astype(np.float32) for k, v in shapes.items()}
  loss, metrics = objective.loss_fn(outputs, batch)
  assert jnp.isfinite(loss)
  np.testing.assert_allclose(
      float(loss), 0.5 * float(metrics["loss_va"]) + 0.5 * float(metrics["loss_vt"]),
      rtol=1e-6)
  # VATT's default: the asymmetric NCE / MIL-NCE (both directions in one softmax).
  expected = {"asymmetric": (
      multimodal_losses.asymmetric_nce_loss(outputs["video_va"], outputs["audio_va"], 0.07,
                                     present=batch["audio_mask"])[0],
      multimodal_losses.asymmetric_nce_loss(outputs["video_vt"], outputs["text_vt"], 0.07,
                                     candidate_mask=batch["caption_mask"])[0]),
      "symmetric": (
      multimodal_losses.nce_loss(outputs["video_va"], outputs["audio_va"], 0.07,
                          batch["audio_mask"])[0],
      multimodal_losses.mil_nce_loss(outputs["video_vt"], outputs["text_vt"], 0.07,
                              batch["caption_mask"])[0])}
  for form, (va, vt) in expected.items():
    config.vatt.loss_form = form
    _, form_metrics = vatt_objective.make_vatt_loss(config)(outputs, batch)
    np.testing.assert_allclose([float(form_metrics["loss_va"]), float(form_metrics["loss_vt"])],
                               [float(va), float(vt)], rtol=1e-6, err_msg=form)
  np.testing.assert_allclose(float(metrics["loss_va"]), float(expected["asymmetric"][0]),
                             rtol=1e-6)
  config.vatt.loss_form = "symetric"
  with pytest.raises(ValueError, match="loss_form"):
    vatt_objective.check_config(config)
  config.vatt.loss_form = "asymmetric"
  # A clip without audio is masked out of the video-audio loss, not dropped.
  no_audio = dict(batch, audio_mask=np.array([False, True, True, True]))
  _, masked = objective.loss_fn(outputs, no_audio)
  assert float(masked["audio_present"]) == 0.75


class _TextTower(nn.Module):
  """The text path of a VATT model alone: a train step of it compiles in seconds."""
  model: nn.Module

  def __call__(self, batch, train):
    return self.model.embed_text(batch["text_ids"], batch["text_mask"], train)


def test_frozen_word2vec_vectors_are_looked_up_and_never_trained(tiny_vatt_config, tmp_path):
  """VATT's text input: frozen word2vec vectors (a tiny file here) -> Dense(no bias) + GELU;
  the trainer's step changes the text tower's parameters but not the word vectors."""
  import optax  # pylint: disable=g-import-not-at-top
  from jvrl.objectives import base  # pylint: disable=g-import-not-at-top
  from jvrl.train import trainer  # pylint: disable=g-import-not-at-top
  config = tiny_vatt_config
  vocab = vatt_objective.make_tokenizer(config).vocab
  dim = config.vatt.text.word_dim
  rng = np.random.default_rng(0)
  vectors = {word: rng.normal(size=dim) for word in vocab[3:]}  # vocab[2] has no vector
  path = tmp_path / "vectors.txt"
  path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in vectors.items()))
  config.vatt.text.word2vec_file = str(path)
  with pytest.raises(ValueError, match="word_embeddings='frozen_word2vec'"):
    vatt_objective.check_config(config)  # a file with a learned table would be ignored
  config.vatt.text.word_embeddings = "frozen_word2vec"
  vatt_objective.check_config(config)
  model = build_objective(config).model
  k, length = config.vatt.num_captions, config.vatt.text.max_length
  batch = {"text_ids": rng.integers(0, len(vocab), (4, k, length)).astype(np.int32),
           "text_mask": np.arange(length) < rng.integers(1, length, (4, k, 1))}
  objective = base.Objective(
      name="text", model=_TextTower(model), preprocess_train=None, rng_names=("dropout",),
      loss_fn=lambda outputs, _: (jnp.mean(jnp.square(outputs["vt"] - 1.0)), {}))
  optimizer = optax.adam(1e-2)
  with jax.threefry_partitionable(False):  # as the trainer: quicker to compile on CPU
    state = jax.jit(lambda rng: trainer.init_train_state(objective, optimizer, batch, rng,
                                                         rng))(jax.random.key(0))
  table = np.asarray(state.model_state["frozen"]["model"]["word_vectors"])
  assert "word_embeddings" not in state.params["model"] and table.shape == (len(vocab), dim)
  assert not table[:3].any()  # [PAD], [UNK] and the word without a vector: zeros
  np.testing.assert_allclose(table[3:], np.stack(list(vectors.values())), rtol=1e-6)
  projection = state.params["model"]["text_encoder"]["tokenizer"]["projection"]
  assert set(projection) == {"kernel"}  # Dense without bias (VATT's pre_proj)
  new_state, _ = jax.jit(trainer.make_train_step(objective, optimizer))(state, batch)
  np.testing.assert_array_equal(
      np.asarray(new_state.model_state["frozen"]["model"]["word_vectors"]), table)
  assert not np.allclose(
      new_state.params["model"]["text_encoder"]["tokenizer"]["projection"]["kernel"],
      projection["kernel"])


def test_config_checks(tiny_vatt_config):
  config = tiny_vatt_config
  config.data.audio_sample_rate = 16000  # disagrees with the synthetic videos
  with pytest.raises(ValueError, match="disagree"):
    build_objective(config)
  config.data.audio_sample_rate = 8000
  config.vatt.audio_model.patch_size = 300  # 6400 samples are not a multiple
  with pytest.raises(ValueError, match="multiple of the audio patch"):
    build_objective(config)
  config.vatt.audio_model.patch_size = 128
  config.data.source = "records"
  with pytest.raises(ValueError, match="build_vocab.py"):
    build_objective(config)


def test_modality_agnostic_model(tiny_vatt_config):
  config = tiny_vatt_config
  config.model_name = "vatt_mat"
  config.model = dict(size="", num_layers=1, hidden_size=32, num_heads=2, mlp_dim=64,
                      patch_size=(2, 8, 8), pos_buckets=(2, 2, 2),
                      audio_patch_size=128, audio_pos_buckets=50, text_max_length=16)
  objective = build_objective(config)
  batch = next(pipeline.make_train_dataset(config, objective.preprocess_train, 2)
               .as_numpy_iterator())
  batch = {k: v for k, v in batch.items() if k not in pipeline.HOST_FIELDS}
  variables, outputs = _abstract_outputs(objective, batch)
  assert "audio_encoder" not in variables["params"]
  assert set(variables["params"]["encoder"]) >= {"transformer", "video_tokenizer",
                                                  "audio_tokenizer", "text_tokenizer"}
  assert outputs["text_vt"].shape == (2, 3, config.vatt.vt_dim)


@pytest.mark.parametrize("name,video_params", [
    ("vatt_base_howto100m", 87_444_480), ("vatt_medium_howto100m", 154_341_376),
    ("vatt_large_howto100m", 305_496_064), ("vatt_mat_base_howto100m", None)])
def test_published_recipe_configs_build_consistent_models(name, video_params):
  config = importlib.import_module(f"configs.{name}").get_config()
  optimizer = config.optimizer
  assert (optimizer.name, optimizer.weight_decay, optimizer.learning_rate,
          optimizer.warmup_steps, optimizer.schedule, optimizer.end_learning_rate,
          optimizer.eps, config.train.num_steps) == (
              "adamw", 0.0, 1e-4, 5000, "cosine", 5e-5, 1e-7, 500_000)
  assert vatt_objective.audio_window_samples(config) == 153_600  # 3.2 s at 48 kHz
  # VATT's pretraining settings (google-research vatt configs/dataset.py Pretrain,
  # configs/multimodal.py): HowTo100M + AudioSet 1:1, sentence + 4 neighbours,
  # VGG-style crop, flip, audio noise 0.01, frozen 300-d word2vec, asymmetric NCE.
  assert {k: v.weight for k, v in config.data.mixture.items()} == {"howto100m": 1.0,
                                                                  "audioset": 1.0}
  augment = vatt_objective.augment_settings(config)
  assert (augment["style"], augment["min_resize"], augment["scale_jitter_prob"],
          augment["flip_prob"], augment["audio_noise"]) == ("vgg", 224, 0.8, 0.5, 0.01)
  assert (config.vatt.num_captions, config.vatt.loss_form, config.vatt.text.word_embeddings,
          config.vatt.text.word_dim) == (5, "asymmetric", "frozen_word2vec", 300)
  with pytest.raises(ValueError, match="word2vec_file"):
    vatt_objective.check_config(config)  # the user gives the vectors
  model = vatt_objective.build_vatt_model(config, vocab_size=1000,
                                          word_vectors=np.zeros((1000, 300), np.float32))
  batch = {"video": jax.ShapeDtypeStruct((1, 32, 224, 224, 3), jnp.uint8),
           "audio": jax.ShapeDtypeStruct((1, 153_600), jnp.float32),
           "text_ids": jax.ShapeDtypeStruct((1, 5, 16), jnp.int32),
           "text_mask": jax.ShapeDtypeStruct((1, 5, 16), jnp.bool_)}
  variables = jax.eval_shape(lambda b: model.init(jax.random.key(0), b, train=False), batch)
  encoder = sum(math.prod(x.shape) for x in jax.tree.leaves(variables["params"]["encoder"]))
  if video_params is not None:  # the video tower alone
    assert encoder == video_params == model_summary.param_count("video", config.model.size)
  else:  # one Base transformer shared by the three modalities
    assert encoder == model_summary.param_count("mat", "base")
    assert "audio_encoder" not in variables["params"]


@pytest.mark.slow
def test_main_pretrains_and_evaluates_vatt(tmp_path, synthetic_cache_dir):
  workdir = str(tmp_path / "run")
  overrides = [f"--config.{path}={value}" for path, value in TINY_VATT_OVERRIDES.items()]
  result = subprocess.run(
      [sys.executable, "-m", "jvrl.main", "--config=configs/vatt_synthetic.py",
       f"--workdir={workdir}", *overrides],
      cwd=REPO, env=dict(os.environ, JVRL_CACHE_DIR=synthetic_cache_dir),
      capture_output=True, text=True, timeout=900)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "loss_va" in result.stderr and "zero_shot_v2t_recall@1" in result.stdout
  with open(os.path.join(workdir, "eval", "results.json")) as f:
    results = json.load(f)
  for prefix in ("", "random_init_"):
    for name in ("linear_probe_top1", "zero_shot_v2t_recall@1", "zero_shot_t2v_median_rank",
                 "zero_shot_v2a_recall@5", "zero_shot_a2v_recall@10", "audio_knn_top1",
                 "text_linear_probe_top1"):
      assert prefix + name in results, prefix + name
  assert 1.0 <= results["zero_shot_v2t_median_rank"] <= 30  # 10 videos, <= 3 captions each
  # The report shows zero-shot text->video examples of both models.
  figures = os.listdir(os.path.join(workdir, "eval", "figures"))
  assert {"zero_shot_pretrained.png", "zero_shot_random_init.png"} <= set(figures)
  assert "not drawn" not in result.stderr and "not built" not in result.stderr
