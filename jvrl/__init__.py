"""jvrl: self-supervised video representation learning in JAX/Flax.

Importing jvrl quiets TensorFlow's and XLA's start-up chatter unless the user
already chose a log level. TensorFlow is used for input only; `jvrl.data.tf_setup`
keeps it off every accelerator.
"""
import os as _os

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"
