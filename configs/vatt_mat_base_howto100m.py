r"""VATT-MA (modality-agnostic, Base size) on HowTo100M (REFERENCE §2).

One transformer with shared weights for video, audio and text; per modality
only the tokenisers (voxel / waveform patches, frozen word2vec vectors), their
pre-projections GELU(Dense(768)), the aggregation tokens and the
post-projections GELU(Dense(1024)) of the pooled features (google-research
vatt modeling/backbones/unified/uvatt.py `UniversalVATT`, configs/unified.py
`UniTBase`). Same data (HowTo100M + AudioSet), augmentation, losses and
optimiser as configs/vatt_base_howto100m.py. (The paper's published
modality-agnostic model is Medium-sized, `UniTMedium`:
--config.model.size=medium.) Deviations: those of configs/vatt_base_howto100m.py
(text path: jvrl's transformer with learned positions is VATT-MA's too, so
only the tokeniser and projections differ by modality).

  python -m jvrl.main --config=configs/vatt_mat_base_howto100m.py --workdir=... \
      --config.data.train_files=... --config.data.mixture.audioset.train_files=... \
      --config.vatt.text.vocab_file=... --config.vatt.text.word2vec_file=...

NOT reproduced here (CPU only).
"""
import ml_collections

from configs import vatt_base_howto100m


def get_config() -> ml_collections.ConfigDict:
  """VATT-MA-Base: one Base transformer for the three modalities."""
  config = vatt_base_howto100m.make_config("base")
  config.model_name = "vatt_mat"
  config.model = dict(size="base", patch_size=(4, 16, 16), pos_buckets=(8, 14, 14),
                      audio_patch_size=128, audio_pos_buckets=1200,
                      text_max_length=config.vatt.text.max_length, drop_token_keep_ratio=0.5,
                      dropout_rate=0.1, pre_projection=True, post_projection_dim=1024,
                      dtype="bfloat16")
  # The modality-specific tower settings are unused with a shared transformer.
  del config.vatt.audio_model
  del config.vatt.text_model
  return config
