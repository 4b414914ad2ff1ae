r"""Modality-agnostic VATT (one shared transformer) on the built-in synthetic dataset (CPU).

configs/vatt_synthetic.py with `model_name='vatt_mat'`: one 2-layer width-64
transformer serves video, audio and text; per modality only the tokenisers
(voxel and waveform patches, word vectors), their pre-projections
GELU(Dense(64)), the aggregation tokens and the post-projections
GELU(Dense(1024)) of the pooled features (VATT's UniversalVATT; the pooled
video feature the evaluation probes is 1024-d). Same data, losses, training
and evaluation.

  python -m jvrl.main --config=configs/vatt_mat_synthetic.py --workdir=/tmp/jvrl_vatt_mat

Not measured here (only its tiny smoke run); expect the wall time of
configs/vatt_synthetic.py.
"""
import ml_collections

from configs import vatt_synthetic


def get_config() -> ml_collections.ConfigDict:
  """Returns the experiment config (see the module docstring)."""
  config = vatt_synthetic.get_config()
  audio = config.vatt.audio_model
  config.model_name = "vatt_mat"
  config.model = dict(
      size="", num_layers=2, hidden_size=64, num_heads=2, mlp_dim=256,
      patch_size=(2, 8, 8), pos_buckets=(4, 4, 4),
      audio_patch_size=audio.patch_size, audio_pos_buckets=audio.pos_buckets,
      text_max_length=config.vatt.text.max_length,
      drop_token_keep_ratio=0.5, dropout_rate=0.0,
      pre_projection=True, post_projection_dim=1024,  # VATT-MA's per-modality projections
      dtype="float32")
  # The modality-specific tower settings are unused with a shared transformer.
  del config.vatt.audio_model
  del config.vatt.text_model
  return config
