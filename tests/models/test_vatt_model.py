"""VATT encoders and model: backbone contract, shared weights, heads, sizes, DropToken."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvrl import models
from jvrl.models.vatt import transformer
from jvrl.models.vatt import vatt
from jvrl.tools import model_summary

TINY = dict(size="", num_layers=1, hidden_size=16, num_heads=2, mlp_dim=32)
RNGS = {"dropout": jax.random.key(5), transformer.DROP_TOKEN_RNG: jax.random.key(6)}


def _batch(batch=4, captions=2):
  rng = np.random.default_rng(0)
  return {"video": rng.integers(0, 256, (batch, 4, 16, 16, 3), np.uint8),
          "audio": rng.normal(size=(batch, 512)).astype(np.float32),
          "text_ids": rng.integers(0, 10, (batch, captions, 6)).astype(np.int32),
          "text_mask": np.arange(6)[None, None] < rng.integers(1, 7, (batch, captions, 1))}


def _model(agnostic=False, dtype=jnp.float32):
  if agnostic:
    encoder = vatt.vatt_mat(**TINY, patch_size=(2, 8, 8), pos_buckets=(2, 2, 2),
                            audio_patch_size=128, audio_pos_buckets=4, text_max_length=6,
                            dtype=dtype)
    audio = text = None
  else:
    encoder = vatt.vatt_video(**TINY, patch_size=(2, 8, 8), pos_buckets=(2, 2, 2), dtype=dtype)
    audio = vatt.vatt_audio(**TINY, patch_size=128, pos_buckets=4, dtype=dtype)
    text = vatt.vatt_text(**TINY, max_length=6, dtype=dtype)
  return vatt.VattModel(encoder=encoder, audio_encoder=audio, text_encoder=text, vocab_size=10,
                        word_dim=8, va_dim=12, vt_dim=6, dtype=dtype)


def test_sizes_follow_the_reference_table():
  assert vatt.resolve_size("base") == dict(num_layers=12, hidden_size=768, num_heads=12,
                                           mlp_dim=3072)
  assert vatt.resolve_size("medium") == dict(num_layers=12, hidden_size=1024, num_heads=16,
                                             mlp_dim=4096)
  assert vatt.resolve_size("large", num_layers=2)["num_layers"] == 2  # explicit overrides
  with pytest.raises(ValueError, match="needs explicit"):
    vatt.resolve_size("", num_layers=2)
  with pytest.raises(ValueError, match="Unknown VATT size"):
    vatt.resolve_size("huge")


@pytest.mark.parametrize("name", ["vatt_video", "vatt_mat"])
def test_registry_backbones_keep_the_feature_map_contract(name):
  # Both take the video tower's options under the same names.
  encoder = models.build_model(name, dtype="bfloat16", patch_size=(2, 8, 8), **TINY)
  assert encoder.dtype == jnp.bfloat16
  video = jnp.zeros((2, 4, 16, 16, 3))
  variables = encoder.init(jax.random.key(0), video, train=False)
  feature_map = encoder.apply(variables, video, train=False)
  # The aggregation token as a 1x1x1 map (VATT-MA: after its 1024-d post-projection).
  assert feature_map.shape == (2, 1, 1, 1, 16 if name == "vatt_video" else 1024)
  # DropToken in training changes the output; evaluation is deterministic.
  trained = encoder.apply(variables, video + jnp.linspace(0, 1, 16)[None, None, None, :, None],
                          train=True, rngs=RNGS)
  assert trained.shape == feature_map.shape


def test_drop_token_is_off_in_evaluation_and_on_in_training():
  encoder = vatt.vatt_video(**TINY, patch_size=(2, 8, 8), pos_buckets=(2, 2, 2),
                            dropout_rate=0.0, drop_token_keep_ratio=0.5)
  video = jax.random.uniform(jax.random.key(0), (2, 4, 16, 16, 3))
  variables = encoder.init(jax.random.key(1), video)

  def tokens_after_drop_token(module, v, train):
    tokens = module.tokenizer(v)
    return module.drop_token(tokens.reshape(2, -1, 16), train).shape[1]

  assert encoder.apply(variables, video, True, rngs=RNGS, method=tokens_after_drop_token) == 4
  assert encoder.apply(variables, video, False, method=tokens_after_drop_token) == 8
  first = encoder.apply(variables, video, train=True, rngs=RNGS)
  other = encoder.apply(variables, video, train=True,
                        rngs={**RNGS, transformer.DROP_TOKEN_RNG: jax.random.key(9)})
  assert not np.allclose(first, other)
  np.testing.assert_array_equal(encoder.apply(variables, video), encoder.apply(variables, video))


@pytest.mark.parametrize("agnostic", [False, True])
def test_model_outputs_and_parameter_layout(agnostic):
  model = _model(agnostic)
  batch = _batch()
  variables = model.init(jax.random.key(0), batch, train=False)
  params = variables["params"]
  expected = {"encoder", "word_embeddings", "video_head", "audio_head", "text_head"}
  assert set(params) == expected | (set() if agnostic else {"audio_encoder", "text_encoder"})
  if agnostic:  # one transformer serves the three modalities
    assert set(params["encoder"]) == {
        "video_tokenizer", "audio_tokenizer", "text_tokenizer", "transformer",
        "video_agg_token", "audio_agg_token", "text_agg_token", "video_post_projection",
        "audio_post_projection", "text_post_projection"}
  outputs, updates = model.apply(variables, batch, train=True, rngs=RNGS,
                                 mutable=["batch_stats"])
  assert {k: v.shape for k, v in outputs.items()} == {
      "video_va": (4, 12), "video_vt": (4, 6), "audio_va": (4, 12), "text_vt": (4, 2, 6)}
  assert all(v.dtype == jnp.float32 for v in outputs.values())
  assert set(updates["batch_stats"]["video_head"]) == {"va_bn_1", "va_bn_2", "vt_bn"}


def test_modality_agnostic_per_modality_pre_and_post_projections():
  """VATT's UniversalVATT: per modality GELU(Dense(D)) after the patch projection and
  GELU(Dense(1024)) on the pooled token; one transformer for all three."""
  model = _model(agnostic=True)
  batch = _batch()
  variables = model.init(jax.random.key(0), batch, train=False)
  encoder = variables["params"]["encoder"]
  for modality in ("video", "audio"):
    pre = encoder[f"{modality}_tokenizer"]["pre_projection"]
    assert pre["kernel"].shape == (16, 16) and pre["bias"].shape == (16,)
  assert set(encoder["text_tokenizer"]["projection"]) == {"kernel", "bias"}  # text's pre_proj
  for modality in ("video", "audio", "text"):
    assert encoder[f"{modality}_post_projection"]["kernel"].shape == (16, 1024)
  video = model.apply(variables, batch["video"], method="embed_video")["pooled"]
  text = model.apply(variables, batch["text_ids"], batch["text_mask"], method="embed_text")
  assert video.shape == (4, 1024) and text["pooled"].shape == (4, 2, 1024)
  assert float(jnp.min(video)) > -0.2  # GELU's output (its minimum is -0.17)
  assert variables["params"]["audio_head"]["kernel"].shape == (1024, 12)
  plain = vatt.vatt_mat(**TINY, patch_size=(2, 8, 8), pos_buckets=(2, 2, 2),
                        audio_patch_size=128, audio_pos_buckets=4, text_max_length=6,
                        pre_projection=False, post_projection_dim=0)
  params = plain.init(jax.random.key(0), batch["video"], train=False)["params"]
  assert "pre_projection" not in params["video_tokenizer"]
  assert not any(name.endswith("post_projection") for name in params)


def test_text_padding_does_not_change_the_embedding():
  model = _model()
  batch = _batch()
  variables = model.init(jax.random.key(0), batch, train=False)
  ids, mask = batch["text_ids"], batch["text_mask"]
  first = model.apply(variables, ids, mask, method="embed_text")["vt"]
  noisy_ids = np.where(mask, ids, 7)
  second = model.apply(variables, noisy_ids, mask, method="embed_text")["vt"]
  np.testing.assert_allclose(first, second, atol=1e-5)


def test_mixed_precision_keeps_float32_params():
  model = _model(dtype=jnp.bfloat16)
  variables = model.init(jax.random.key(0), _batch(), train=False)
  assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
  outputs = model.apply(variables, _batch(), train=False)
  assert all(v.dtype == jnp.float32 and jnp.all(jnp.isfinite(v)) for v in outputs.values())


def test_base_medium_large_video_parameter_counts(capsys):
  """REFERENCE §2 sizes, counted with jax.eval_shape (nothing allocated)."""
  counts = {size: model_summary.param_count("video", size) for size in model_summary.SIZES}
  for size, count in counts.items():
    assert count == model_summary.video_encoder_param_count(size), size
  assert counts == {"base": 87_444_480, "medium": 154_341_376, "large": 305_496_064}
  # Large = Medium + 12 more blocks of width 1024 / MLP 4096.
  block = model_summary.transformer_param_count(1, 1024, 4096) - 2 * 1024
  assert counts["large"] - counts["medium"] == 12 * block
  print("\n".join(model_summary.summary_lines(["video"], model_summary.SIZES)))
  printed = capsys.readouterr().out
  assert "87,444,480" in printed and "305,496,064" in printed
