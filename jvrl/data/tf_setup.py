"""Imports TensorFlow for input processing only, never on an accelerator.

Every jvrl module that needs TensorFlow imports it as
`from jvrl.data.tf_setup import tf`, so that TF never grabs GPU memory that
JAX needs, whichever of the two is imported first.
"""
import jvrl  # noqa: F401  (sets the TF log-level environment defaults)
import tensorflow as tf

try:
  tf.config.set_visible_devices([], "GPU")
except RuntimeError:
  # Devices were already initialised (TF used before this import); TF then
  # keeps whatever visibility it had. Nothing jvrl runs in TF needs a GPU.
  pass

__all__ = ["tf"]
