"""CoCLR's losses (REFERENCE §4; TengdaHan/CoCLR `model/pretrain.py`, `main_coclr.py`).

Every embedding is L2-normalised. A query q (student, view 1) is compared with
its key k (EMA key encoder, view 2) and with the K keys of the memory queue:

  logits = [q . k, q . queue_1, ..., q . queue_K] / temperature.

* Stage 1, InfoNCE (MoCo): the key is the only positive,
  loss = -log softmax(logits)[0].
* Stage 2, co-training: queue entries are positives too where
  - they come from the same video (CoCLR's "sibling" mask, `video_id`), or
  - once the queue is full, they are among the `topk` nearest neighbours of
    the OTHER stream's feature of this video (the frozen stream's view-2
    feature against the queue of its features of the queued videos), the
    same-video entries excluded from the ranking;
  loss = -log(sum of softmax(logits) over the positives) (`multi_nce_loss`).
"""
import jax
import jax.numpy as jnp


def normalize(x: jax.Array) -> jax.Array:
  """Rows scaled to unit L2 norm (float32)."""
  x = x.astype(jnp.float32)
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def queue_logits(query: jax.Array, key: jax.Array, queue: jax.Array,
                 temperature: float) -> jax.Array:
  """[B, 1 + K]: the positive key's similarity first, then the queue's; / temperature."""
  positive = jnp.sum(query * key, axis=-1, keepdims=True)
  return jnp.concatenate([positive, query @ queue.T], axis=1) / temperature


def infonce_loss(query: jax.Array, key: jax.Array, queue: jax.Array,
                 temperature: float) -> tuple[jax.Array, dict]:
  """MoCo's InfoNCE with a queue of negatives; (loss, {'accuracy'}) averaged over the
  global batch (accuracy: the key is the most similar of the 1 + K)."""
  logits = queue_logits(query, key, queue, temperature)
  loss = jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[:, 0])
  accuracy = jnp.mean((jnp.argmax(logits, axis=1) == 0).astype(jnp.float32))
  return loss, {"accuracy": accuracy}


def mined_positives(second_key: jax.Array, second_queue: jax.Array, video_ids: jax.Array,
                    queue_ids: jax.Array, queue_full: jax.Array,
                    topk: int) -> tuple[jax.Array, jax.Array]:
  """(positives bool [B, K], same-video bool [B, K]): CoCLR's mask over the queue.

  Same video: `video_ids` (>= 0; -1 = unknown, never matched) equal to the
  queue's. Mined (only when `queue_full`, and `topk > 0`): the `topk` queue
  rows most similar to `second_key` in the other stream, same-video rows
  excluded.
  """
  same_video = (video_ids[:, None] == queue_ids[None, :]) & (video_ids[:, None] >= 0)
  if topk <= 0:
    return same_video, same_video
  similarity = jnp.where(same_video, -jnp.inf, second_key @ second_queue.T)
  _, indices = jax.lax.top_k(similarity, topk)
  mined = jnp.any(jax.nn.one_hot(indices, second_queue.shape[0], dtype=jnp.bool_), axis=1)
  return same_video | (mined & queue_full), same_video


def multi_positive_nce_loss(logits: jax.Array, positives: jax.Array) -> jax.Array:
  """-log(sum of softmax(logits) over `positives` [B, 1 + K]), averaged over the batch."""
  log_probabilities = jax.nn.log_softmax(logits, axis=1)
  return -jnp.mean(jax.nn.logsumexp(jnp.where(positives, log_probabilities, -jnp.inf), axis=1))


def cotrain_loss(query: jax.Array, key: jax.Array, queue: jax.Array, second_key: jax.Array,
                 second_queue: jax.Array, video_ids: jax.Array, queue_ids: jax.Array,
                 queue_full: jax.Array, *, temperature: float,
                 topk: int) -> tuple[jax.Array, dict]:
  """Stage 2's multi-positive InfoNCE (module docstring); (loss, metrics)."""
  logits = queue_logits(query, key, queue, temperature)
  queue_positives, _ = mined_positives(second_key, second_queue, video_ids, queue_ids,
                                       queue_full, topk)
  positives = jnp.concatenate([jnp.ones_like(queue_positives[:, :1]), queue_positives], axis=1)
  loss = multi_positive_nce_loss(logits, positives)
  top = jnp.argmax(logits, axis=1)
  accuracy = jnp.mean(jnp.take_along_axis(positives, top[:, None], axis=1).astype(jnp.float32))
  return loss, {"accuracy": accuracy,
                "positives": jnp.mean(jnp.sum(positives, axis=1).astype(jnp.float32))}
