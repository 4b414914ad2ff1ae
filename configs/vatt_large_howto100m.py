r"""VATT-Large (video Large, audio Base, text Small) on HowTo100M (REFERENCE §2).

The recipe of configs/vatt_base_howto100m.py (data, augmentation, text input,
losses, optimiser, and its deviations) with a 24-layer / 1024 / 16-head / MLP
4096 video transformer; its parameters and Adam state are
sharded over an 'fsdp' mesh axis (kernels of the video transformer).

  python -m jvrl.main --config=configs/vatt_large_howto100m.py --workdir=... \
      --config.data.train_files=... --config.data.mixture.audioset.train_files=... \
      --config.vatt.text.vocab_file=... --config.vatt.text.word2vec_file=... \
      --config.mesh.fsdp=8

Should reach (VATT code README, K400 fine-tuned top-1): 82.1. NOT reproduced
here (CPU only).
"""
import ml_collections

from configs import vatt_base_howto100m


def get_config() -> ml_collections.ConfigDict:
  """VATT-Large: video Large, audio Base, text Small."""
  config = vatt_base_howto100m.make_config("large")
  config.mesh = dict(data=-1, fsdp=1)  # raise fsdp on a pod: --config.mesh.fsdp=8
  config.sharding_rules = ((r"encoder/.*kernel", "fsdp"), (".*", "replicate"))
  return config
