"""TeG's two losses: fine (time-aligned per-timestep embeddings) and coarse (pooled).

Fine granularity: the short clip lies inside the long clip at a whole number
of the encoder's feature-map timesteps, so short timestep k covers the same
frames as long timestep offset + k. For every short timestep (i, k) the
positive is long timestep (i, offset_i + k) among ALL long timesteps of the
global batch (other videos and the other moments of the same video are the
negatives); the reverse direction classifies, for every aligned long
timestep, its short timestep among all short timesteps. The loss is the sum of
the two directions' mean cross-entropies (like NT-Xent's). Coarse
granularity: NT-Xent between the short and the long clip's pooled embeddings
(`jvrl.losses.contrastive`).

Written on global arrays: under jit with the batch sharded, the similarity
matrices span every device.
"""
from typing import Mapping

import jax
import jax.numpy as jnp

from jvrl.losses import contrastive


def aligned_timestep_loss(short: jax.Array, long: jax.Array, offsets: jax.Array,
                          temperature: float) -> tuple[jax.Array, Mapping[str, jax.Array]]:
  """TeG's fine loss.

  Args:
    short: [B, Ts, D] per-timestep embeddings of the short clips.
    long: [B, Tl, D] per-timestep embeddings of the long clips (Tl >= Ts).
    offsets: int32 [B], the long timestep each short clip starts at (0..Tl-Ts).
    temperature: softmax temperature.

  Returns:
    (loss, {'fine_accuracy'}): accuracy of the short -> long direction.
  """
  if short.ndim != 3 or long.ndim != 3 or short.shape[0] != long.shape[0] or (
      short.shape[2] != long.shape[2]) or short.shape[1] > long.shape[1]:
    raise ValueError(f"aligned_timestep_loss needs short [B, Ts, D] and long [B, Tl >= Ts, D], "
                     f"got {short.shape} and {long.shape}.")
  batch, short_steps, dim = short.shape
  long_steps = long.shape[1]
  s = contrastive.l2_normalize(short.astype(jnp.float32)).reshape(batch * short_steps, dim)
  l = contrastive.l2_normalize(long.astype(jnp.float32)).reshape(batch * long_steps, dim)
  # Row (i, k) of the short side pairs with long row i * Tl + offsets[i] + k.
  targets = (jnp.arange(batch)[:, None] * long_steps + offsets[:, None]
             + jnp.arange(short_steps)[None, :]).reshape(-1)
  logits = s @ l.T / temperature  # [B*Ts, B*Tl]
  log_probs = jax.nn.log_softmax(logits, axis=-1)
  short_to_long = -jnp.mean(jnp.take_along_axis(log_probs, targets[:, None], axis=-1))
  # Reverse: each aligned long row classifies its short row among all short rows.
  log_probs_t = jax.nn.log_softmax(jnp.take(logits.T, targets, axis=0), axis=-1)
  long_to_short = -jnp.mean(log_probs_t[jnp.arange(batch * short_steps),
                                        jnp.arange(batch * short_steps)])
  accuracy = jnp.mean((jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32))
  return short_to_long + long_to_short, {"fine_accuracy": accuracy}


def coarse_loss(short: jax.Array, long: jax.Array,
                temperature: float) -> tuple[jax.Array, Mapping[str, jax.Array]]:
  """TeG's coarse loss: NT-Xent of the pooled embeddings [B, D] of the short and long clips."""
  return contrastive.nt_xent_loss(short, long, temperature)
