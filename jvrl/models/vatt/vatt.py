"""VATT encoders, the fine-and-coarse heads and the whole model (REFERENCE §2).

Encoders (each prepends a learned aggregation token to its tokens and returns
that token's final output as the pooled feature):

* `VideoEncoder` (registry name 'vatt_video'): voxel tokens -> DropToken ->
  transformer. It follows the backbone contract of `jvrl.models` (float video
  in [0, 1] -> feature map), returning the pooled feature as a [B, 1, 1, 1, D]
  map, so the shared evaluation, export and linear probe use it unchanged.
* `AudioEncoder`, `TextEncoder`: the modality-specific audio and text towers.
* `ModalityAgnosticEncoder` (registry name 'vatt_mat'): one transformer with
  shared weights for all three modalities; per modality only the tokeniser
  (with its pre-projection GELU(Dense(D))), the aggregation token and the
  post-projection GELU(Dense(1024)) of the pooled feature, as
  google-research vatt modeling/backbones/unified/uvatt.py `UniversalVATT`
  (`pre_proj`, `post_proj`, `d_post_proj=1024` in configs/unified.py).

`VattModel` adds the word embeddings (learned, or VATT's frozen word2vec
vectors kept in the non-trainable `FROZEN_COLLECTION`, so no gradient and no
optimiser ever touches them) and the fine-and-coarse projection heads:
video -> video-audio space (512-d) by Dense -> BN -> ReLU -> Dense -> BN; that
embedding -> video-text space (256-d) by ReLU -> Dense -> BN; audio ->
Dense(512); text -> Dense(256). Audio is compared with video in the finer
space, text in the coarser one.

Sizes (`SIZES`, REFERENCE §2): Base 12 layers / 768 / 12 heads / MLP 3072,
Medium 12 / 1024 / 16 / 4096, Large 24 / 1024 / 16 / 4096; 'small' is the
text transformer (6 / 512 / 8 / 2048). Explicit `num_layers`, `hidden_size`,
`num_heads`, `mlp_dim` override the preset (tiny CPU models).
"""
import dataclasses
from typing import Any, Mapping, Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jvrl.models import inputs
from jvrl.models.vatt import tokenizers
from jvrl.models.vatt import transformer

SIZES: Mapping[str, Mapping[str, int]] = {
    "small": dict(num_layers=6, hidden_size=512, num_heads=8, mlp_dim=2048),
    "base": dict(num_layers=12, hidden_size=768, num_heads=12, mlp_dim=3072),
    "medium": dict(num_layers=12, hidden_size=1024, num_heads=16, mlp_dim=4096),
    "large": dict(num_layers=24, hidden_size=1024, num_heads=16, mlp_dim=4096),
}
_AGG_INIT = nn.initializers.normal(stddev=0.02)
# The flax collection of VattModel's frozen word vectors: not 'params', so the
# gradient and the optimiser never see it; the trainer carries it in
# `TrainState.model_state` (checkpointed, unchanged by every step).
FROZEN_COLLECTION = "frozen"


@dataclasses.dataclass(frozen=True, eq=False)
class FrozenTable:
  """A constant table handed to a module (compared and hashed by identity).

  Attributes:
    values: float32 [V, E] (VATT: the vocabulary's word2vec vectors).
  """
  values: np.ndarray


def resolve_size(size: str, num_layers: Optional[int] = None,
                 hidden_size: Optional[int] = None, num_heads: Optional[int] = None,
                 mlp_dim: Optional[int] = None) -> dict[str, int]:
  """The transformer sizes of preset `size`, with any explicit value overriding it.

  `size=''` takes no preset: then all four values must be given.
  """
  if size and size not in SIZES:
    raise ValueError(f"Unknown VATT size {size!r}; known sizes: {sorted(SIZES)} (or '' with "
                     "explicit num_layers, hidden_size, num_heads, mlp_dim).")
  sizes = dict(SIZES[size]) if size else {}
  explicit = dict(num_layers=num_layers, hidden_size=hidden_size, num_heads=num_heads,
                  mlp_dim=mlp_dim)
  sizes.update({k: int(v) for k, v in explicit.items() if v is not None})
  missing = sorted(set(explicit) - set(sizes))
  if missing:
    raise ValueError(f"size='' needs explicit {missing}.")
  if sizes["hidden_size"] % sizes["num_heads"]:
    raise ValueError(f"hidden_size={sizes['hidden_size']} must be divisible by "
                     f"num_heads={sizes['num_heads']}.")
  return sizes


def _prepend_token(token: jax.Array, tokens: jax.Array) -> jax.Array:
  """[D] aggregation token + [B, N, D] tokens -> [B, N + 1, D]."""
  batch = tokens.shape[0]
  first = jnp.broadcast_to(token.astype(tokens.dtype), (batch, 1, tokens.shape[-1]))
  return jnp.concatenate([first, tokens], axis=1)


def _with_token_mask(mask: Optional[jax.Array]) -> Optional[jax.Array]:
  """Padding mask [B, N] -> [B, N + 1] with the aggregation token always valid."""
  if mask is None:
    return None
  return jnp.concatenate([jnp.ones(mask.shape[:1] + (1,), bool), mask.astype(bool)], axis=1)


class _TransformerSettings(nn.Module):
  """Fields shared by every encoder (not used on its own)."""
  num_layers: int = 12
  hidden_size: int = 768
  num_heads: int = 12
  mlp_dim: int = 3072
  dropout_rate: float = 0.1
  attention_dropout_rate: float = 0.0
  layer_norm_epsilon: float = 1e-6
  dtype: Any = jnp.float32

  def _transformer(self, name: str) -> transformer.Transformer:
    return transformer.Transformer(
        num_layers=self.num_layers, num_heads=self.num_heads, mlp_dim=self.mlp_dim,
        dropout_rate=self.dropout_rate, attention_dropout_rate=self.attention_dropout_rate,
        layer_norm_epsilon=self.layer_norm_epsilon, dtype=self.dtype, name=name)


class VideoEncoder(_TransformerSettings):
  """VATT's video transformer; `__call__` follows the `jvrl.models` backbone contract.

  Attributes (besides the transformer sizes):
    patch_size: voxel patch (t, h, w); VATT: (4, 16, 16).
    pos_buckets: grid the position tables are learned for; VATT: (8, 14, 14)
      (32x224x224 clips). Other grids use interpolated tables.
    drop_token_keep_ratio: fraction of tokens DropToken keeps in training.
    input_transform: 'rgb' (VATT) or 'frame_difference': the tower reads
      residual frames x[t+1] - x[t] (`inputs.transform_video`, the motion
      prior of the convolutional backbones' option of the same name).
  """
  patch_size: Sequence[int] = (4, 16, 16)
  pos_buckets: Sequence[int] = (8, 14, 14)
  drop_token_keep_ratio: float = 0.5
  input_transform: str = "rgb"

  def setup(self):
    self.tokenizer = tokenizers.VoxelTokenizer(self.patch_size, self.hidden_size,
                                               self.pos_buckets, self.dtype)
    self.drop_token = transformer.DropToken(self.drop_token_keep_ratio)
    self.agg_token = self.param("agg_token", _AGG_INIT, (self.hidden_size,), jnp.float32)
    self.transformer = self._transformer("transformer")

  def pooled(self, video: jax.Array, train: bool) -> jax.Array:
    """Video [B, T, H, W, 3] in [0, 1] -> the aggregation token's output [B, D]."""
    tokens = self.tokenizer(inputs.transform_video(video, self.input_transform))
    tokens = tokens.reshape(tokens.shape[0], -1, tokens.shape[-1])
    tokens = _prepend_token(self.agg_token, self.drop_token(tokens, train))
    return self.transformer(tokens, None, train)[:, 0]

  def __call__(self, video: jax.Array, train: bool = False) -> jax.Array:
    """Video [B, T, H, W, 3] in [0, 1] -> pooled feature as a map [B, 1, 1, 1, D]."""
    return self.pooled(video, train)[:, None, None, None, :]


class AudioEncoder(_TransformerSettings):
  """VATT's audio transformer: waveform patches -> DropToken -> transformer."""
  patch_size: int = 128
  pos_buckets: int = 1200
  drop_token_keep_ratio: float = 0.5

  def setup(self):
    self.tokenizer = tokenizers.WaveformTokenizer(self.patch_size, self.hidden_size,
                                                  self.pos_buckets, self.dtype)
    self.drop_token = transformer.DropToken(self.drop_token_keep_ratio)
    self.agg_token = self.param("agg_token", _AGG_INIT, (self.hidden_size,), jnp.float32)
    self.transformer = self._transformer("transformer")

  def __call__(self, waveform: jax.Array, train: bool = False) -> jax.Array:
    """Waveform [B, S] -> pooled feature [B, D]."""
    tokens = _prepend_token(self.agg_token, self.drop_token(self.tokenizer(waveform), train))
    return self.transformer(tokens, None, train)[:, 0]


class TextEncoder(_TransformerSettings):
  """VATT's text transformer: word vectors -> Dense -> transformer (padding masked)."""
  max_length: int = 16

  def setup(self):
    self.tokenizer = tokenizers.TextTokenizer(self.hidden_size, self.max_length, self.dtype)
    self.agg_token = self.param("agg_token", _AGG_INIT, (self.hidden_size,), jnp.float32)
    self.transformer = self._transformer("transformer")

  def __call__(self, word_vectors: jax.Array, mask: jax.Array,
               train: bool = False) -> jax.Array:
    """Word vectors [B, L, E], mask bool [B, L] -> pooled feature [B, D]."""
    tokens = _prepend_token(self.agg_token, self.tokenizer(word_vectors))
    return self.transformer(tokens, _with_token_mask(mask), train)[:, 0]


class ModalityAgnosticEncoder(_TransformerSettings):
  """VATT-MA: one transformer, shared by video, audio and text.

  `__call__` is the video path (backbone contract, as `VideoEncoder`);
  `encode_audio` and `encode_text` run the other modalities through the same
  transformer weights. Per modality (VATT's `UniversalVATT`): the tokeniser
  with its pre-projection GELU(Dense(D)) (`pre_projection`; the text
  tokeniser's projection is the text one), the aggregation token, and the
  post-projection GELU(Dense(`post_projection_dim`)) of the pooled feature
  (0 = none; VATT: 1024), so the pooled features are `post_projection_dim`-d.
  The reference applies the post-projection to every output token and pools
  token 0; only the pooled token is used, so only it is projected here.
  The video options have `VideoEncoder`'s names, so a config can switch
  `model_name` between 'vatt_video' and 'vatt_mat' alone.
  """
  patch_size: Sequence[int] = (4, 16, 16)
  pos_buckets: Sequence[int] = (8, 14, 14)
  audio_patch_size: int = 128
  audio_pos_buckets: int = 1200
  text_max_length: int = 16
  drop_token_keep_ratio: float = 0.5
  pre_projection: bool = True
  post_projection_dim: int = 1024

  def setup(self):
    width = self.hidden_size
    self.video_tokenizer = tokenizers.VoxelTokenizer(
        self.patch_size, width, self.pos_buckets, self.dtype, self.pre_projection)
    self.audio_tokenizer = tokenizers.WaveformTokenizer(
        self.audio_patch_size, width, self.audio_pos_buckets, self.dtype, self.pre_projection)
    self.text_tokenizer = tokenizers.TextTokenizer(width, self.text_max_length, self.dtype,
                                                   use_bias=True)
    self.drop_token = transformer.DropToken(self.drop_token_keep_ratio)
    self.video_agg_token = self.param("video_agg_token", _AGG_INIT, (width,), jnp.float32)
    self.audio_agg_token = self.param("audio_agg_token", _AGG_INIT, (width,), jnp.float32)
    self.text_agg_token = self.param("text_agg_token", _AGG_INIT, (width,), jnp.float32)
    self.transformer = self._transformer("transformer")
    if self.post_projection_dim:
      self.post_projections = {
          modality: nn.Dense(self.post_projection_dim, dtype=self.dtype,
                             param_dtype=jnp.float32, name=f"{modality}_post_projection")
          for modality in ("video", "audio", "text")}

  def _pool(self, modality: str, tokens: jax.Array, mask: Optional[jax.Array],
            train: bool) -> jax.Array:
    """The shared transformer's aggregation-token output, post-projected: [B, D']."""
    pooled = self.transformer(tokens, mask, train)[:, 0]
    if not self.post_projection_dim:
      return pooled
    return nn.gelu(self.post_projections[modality](pooled), approximate=False)

  def pooled(self, video: jax.Array, train: bool) -> jax.Array:
    """Video [B, T, H, W, 3] in [0, 1] -> pooled feature [B, D']."""
    tokens = self.video_tokenizer(video)
    tokens = tokens.reshape(tokens.shape[0], -1, tokens.shape[-1])
    tokens = _prepend_token(self.video_agg_token, self.drop_token(tokens, train))
    return self._pool("video", tokens, None, train)

  def __call__(self, video: jax.Array, train: bool = False) -> jax.Array:
    """Video -> pooled feature as a map [B, 1, 1, 1, D'] (backbone contract)."""
    return self.pooled(video, train)[:, None, None, None, :]

  def encode_audio(self, waveform: jax.Array, train: bool = False) -> jax.Array:
    """Waveform [B, S] -> pooled feature [B, D']."""
    tokens = self.drop_token(self.audio_tokenizer(waveform), train)
    return self._pool("audio", _prepend_token(self.audio_agg_token, tokens), None, train)

  def encode_text(self, word_vectors: jax.Array, mask: jax.Array,
                  train: bool = False) -> jax.Array:
    """Word vectors [B, L, E], mask bool [B, L] -> pooled feature [B, D']."""
    tokens = _prepend_token(self.text_agg_token, self.text_tokenizer(word_vectors))
    return self._pool("text", tokens, _with_token_mask(mask), train)


class VideoProjection(nn.Module):
  """Video's fine-and-coarse heads: pooled [B, D] -> (video-audio [B, 512], video-text [B, 256])."""
  va_dim: int = 512
  vt_dim: int = 256
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> tuple[jax.Array, jax.Array]:
    def dense(features, name):
      return nn.Dense(features, use_bias=False, dtype=self.dtype, param_dtype=jnp.float32,
                      name=name)

    def bn(name):
      return nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                          epsilon=self.bn_epsilon, dtype=self.dtype, param_dtype=jnp.float32,
                          name=name)

    x = nn.relu(bn("va_bn_1")(dense(self.va_dim, "va_dense_1")(x.astype(self.dtype))))
    video_va = bn("va_bn_2")(dense(self.va_dim, "va_dense_2")(x))
    video_vt = bn("vt_bn")(dense(self.vt_dim, "vt_dense")(nn.relu(video_va)))
    return video_va.astype(jnp.float32), video_vt.astype(jnp.float32)


class VattModel(nn.Module):
  """Video, audio and text towers plus the common-space heads.

  Attributes:
    encoder: the video encoder (`VideoEncoder`) or the shared
      `ModalityAgnosticEncoder`; its variables are what evaluation and export
      use (`Objective.encoder_name`).
    audio_encoder, text_encoder: the modality-specific towers; None with a
      `ModalityAgnosticEncoder` (its `encode_audio` / `encode_text` are used).
    vocab_size, word_dim: the word embedding table.
    frozen_word_vectors: None = a learned table ('params'/'word_embeddings');
      a `FrozenTable` [vocab_size, word_dim] = VATT's frozen word2vec vectors
      ('frozen'/'word_vectors', never trained: VATT's
      `Embedding(..., trainable=False)`).
    va_dim, vt_dim: the video-audio and video-text spaces (512, 256).
    dtype: computation dtype of the embedding and heads.
  """
  encoder: nn.Module
  audio_encoder: Optional[nn.Module]
  text_encoder: Optional[nn.Module]
  vocab_size: int
  word_dim: int = 300
  va_dim: int = 512
  vt_dim: int = 256
  dtype: Any = jnp.float32
  frozen_word_vectors: Optional[FrozenTable] = None

  def setup(self):
    if (self.audio_encoder is None) != (self.text_encoder is None):
      raise ValueError("audio_encoder and text_encoder must both be set (modality-specific) "
                       "or both be None (modality-agnostic encoder).")
    if self.frozen_word_vectors is None:
      self.word_embeddings = nn.Embed(self.vocab_size, self.word_dim, dtype=self.dtype,
                                      param_dtype=jnp.float32)
    else:
      table = np.asarray(self.frozen_word_vectors.values, np.float32)
      if table.shape != (self.vocab_size, self.word_dim):
        raise ValueError(f"The frozen word vectors are {table.shape}; the model needs "
                         f"[vocab_size, word_dim] = {(self.vocab_size, self.word_dim)}.")
      self.word_vectors = self.variable(FROZEN_COLLECTION, "word_vectors",
                                        lambda: jnp.asarray(table))
    self.video_head = VideoProjection(self.va_dim, self.vt_dim, dtype=self.dtype)
    self.audio_head = nn.Dense(self.va_dim, dtype=self.dtype, param_dtype=jnp.float32)
    self.text_head = nn.Dense(self.vt_dim, dtype=self.dtype, param_dtype=jnp.float32)

  def embed_video(self, video: jax.Array, train: bool = False) -> dict[str, jax.Array]:
    """Video [N, T, H, W, 3] (uint8 or float in [0, 1]) -> pooled, 'va' and 'vt' embeddings."""
    if jnp.issubdtype(video.dtype, jnp.integer):
      video = video.astype(jnp.float32) / 255.0
    pooled = self.encoder.pooled(video, train)
    video_va, video_vt = self.video_head(pooled, train)
    return {"pooled": pooled.astype(jnp.float32), "va": video_va, "vt": video_vt}

  def embed_audio(self, waveform: jax.Array, train: bool = False) -> dict[str, jax.Array]:
    """Waveform [N, S] -> pooled feature and 'va' embedding."""
    if self.audio_encoder is None:
      pooled = self.encoder.encode_audio(waveform, train)
    else:
      pooled = self.audio_encoder(waveform, train)
    return {"pooled": pooled.astype(jnp.float32),
            "va": self.audio_head(pooled).astype(jnp.float32)}

  def embed_text(self, ids: jax.Array, mask: jax.Array,
                 train: bool = False) -> dict[str, jax.Array]:
    """Token ids [..., L] and mask [..., L] -> pooled [..., D] and 'vt' [..., vt_dim]."""
    lead, length = ids.shape[:-1], ids.shape[-1]
    flat_ids, flat_mask = ids.reshape(-1, length), mask.reshape(-1, length)
    if self.frozen_word_vectors is None:
      vectors = self.word_embeddings(flat_ids)
    else:
      table = jax.lax.stop_gradient(self.word_vectors.value)
      vectors = jnp.take(table, flat_ids, axis=0).astype(self.dtype)
    if self.text_encoder is None:
      pooled = self.encoder.encode_text(vectors, flat_mask, train)
    else:
      pooled = self.text_encoder(vectors, flat_mask, train)
    text_vt = self.text_head(pooled)
    return {"pooled": pooled.astype(jnp.float32).reshape(lead + (-1,)),
            "vt": text_vt.astype(jnp.float32).reshape(lead + (-1,))}

  def __call__(self, batch: Mapping[str, jax.Array], train: bool) -> dict[str, jax.Array]:
    """Training batch -> common-space embeddings.

    batch: 'video' uint8 [B, T, H, W, 3], 'audio' float [B, S], 'text_ids'
    int32 [B, K, L], 'text_mask' bool [B, K, L].
    Returns 'video_va' [B, 512], 'video_vt' [B, 256], 'audio_va' [B, 512],
    'text_vt' [B, K, 256] (float32, not normalised).
    """
    video = self.embed_video(batch["video"], train)
    audio = self.embed_audio(batch["audio"], train)
    text = self.embed_text(batch["text_ids"], batch["text_mask"], train)
    return {"video_va": video["va"], "video_vt": video["vt"], "audio_va": audio["va"],
            "text_vt": text["vt"]}


def _tuple(value: Sequence[int]) -> tuple[int, ...]:
  return tuple(int(v) for v in value)


def vatt_video(*, size: str = "base", num_layers: Optional[int] = None,
               hidden_size: Optional[int] = None, num_heads: Optional[int] = None,
               mlp_dim: Optional[int] = None, patch_size: Sequence[int] = (4, 16, 16),
               pos_buckets: Sequence[int] = (8, 14, 14), drop_token_keep_ratio: float = 0.5,
               dropout_rate: float = 0.1, attention_dropout_rate: float = 0.0,
               layer_norm_epsilon: float = 1e-6, dtype: Any = jnp.float32,
               input_transform: str = "rgb") -> VideoEncoder:
  """VATT's video transformer (backbone 'vatt_video'); sizes from `SIZES[size]`."""
  if input_transform not in inputs.INPUT_TRANSFORMS:
    raise ValueError(f"Unknown input_transform {input_transform!r}; known: "
                     f"{inputs.INPUT_TRANSFORMS}.")
  return VideoEncoder(
      **resolve_size(size, num_layers, hidden_size, num_heads, mlp_dim),
      patch_size=_tuple(patch_size), pos_buckets=_tuple(pos_buckets),
      input_transform=input_transform,
      drop_token_keep_ratio=float(drop_token_keep_ratio), dropout_rate=float(dropout_rate),
      attention_dropout_rate=float(attention_dropout_rate),
      layer_norm_epsilon=float(layer_norm_epsilon), dtype=dtype)


def vatt_audio(*, size: str = "base", num_layers: Optional[int] = None,
               hidden_size: Optional[int] = None, num_heads: Optional[int] = None,
               mlp_dim: Optional[int] = None, patch_size: int = 128, pos_buckets: int = 1200,
               drop_token_keep_ratio: float = 0.5, dropout_rate: float = 0.1,
               attention_dropout_rate: float = 0.0, layer_norm_epsilon: float = 1e-6,
               dtype: Any = jnp.float32) -> AudioEncoder:
  """VATT's audio transformer (modality-specific); sizes from `SIZES[size]`."""
  return AudioEncoder(
      **resolve_size(size, num_layers, hidden_size, num_heads, mlp_dim),
      patch_size=int(patch_size), pos_buckets=int(pos_buckets),
      drop_token_keep_ratio=float(drop_token_keep_ratio), dropout_rate=float(dropout_rate),
      attention_dropout_rate=float(attention_dropout_rate),
      layer_norm_epsilon=float(layer_norm_epsilon), dtype=dtype)


def vatt_text(*, size: str = "small", num_layers: Optional[int] = None,
              hidden_size: Optional[int] = None, num_heads: Optional[int] = None,
              mlp_dim: Optional[int] = None, max_length: int = 16, dropout_rate: float = 0.1,
              attention_dropout_rate: float = 0.0, layer_norm_epsilon: float = 1e-6,
              dtype: Any = jnp.float32) -> TextEncoder:
  """VATT's text transformer (modality-specific); sizes from `SIZES[size]`."""
  return TextEncoder(
      **resolve_size(size, num_layers, hidden_size, num_heads, mlp_dim),
      max_length=int(max_length), dropout_rate=float(dropout_rate),
      attention_dropout_rate=float(attention_dropout_rate),
      layer_norm_epsilon=float(layer_norm_epsilon), dtype=dtype)


def vatt_mat(*, size: str = "base", num_layers: Optional[int] = None,
             hidden_size: Optional[int] = None, num_heads: Optional[int] = None,
             mlp_dim: Optional[int] = None, patch_size: Sequence[int] = (4, 16, 16),
             pos_buckets: Sequence[int] = (8, 14, 14), audio_patch_size: int = 128,
             audio_pos_buckets: int = 1200, text_max_length: int = 16,
             drop_token_keep_ratio: float = 0.5, dropout_rate: float = 0.1,
             attention_dropout_rate: float = 0.0, layer_norm_epsilon: float = 1e-6,
             pre_projection: bool = True, post_projection_dim: int = 1024,
             dtype: Any = jnp.float32) -> ModalityAgnosticEncoder:
  """VATT-MA: one shared transformer for video, audio and text (backbone 'vatt_mat').

  `pre_projection` / `post_projection_dim`: the per-modality projections of
  VATT's `UniversalVATT` (on / 1024 there); False / 0 leaves them out.
  """
  if post_projection_dim < 0:
    raise ValueError(f"post_projection_dim must be >= 0 (0 = none), got {post_projection_dim}.")
  return ModalityAgnosticEncoder(
      **resolve_size(size, num_layers, hidden_size, num_heads, mlp_dim),
      patch_size=_tuple(patch_size), pos_buckets=_tuple(pos_buckets),
      audio_patch_size=int(audio_patch_size), audio_pos_buckets=int(audio_pos_buckets),
      text_max_length=int(text_max_length), drop_token_keep_ratio=float(drop_token_keep_ratio),
      pre_projection=bool(pre_projection), post_projection_dim=int(post_projection_dim),
      dropout_rate=float(dropout_rate), attention_dropout_rate=float(attention_dropout_rate),
      layer_norm_epsilon=float(layer_norm_epsilon), dtype=dtype)
