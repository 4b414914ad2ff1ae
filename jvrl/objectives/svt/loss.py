"""DINO's self-distillation loss as SVT uses it (DINO `main_dino.py` `DINOLoss`).

For every teacher view t (global views) and every student view s != t (all
views; with matching indices the global views are the same clips):
  CE(t, s) = -sum_k teacher_probabilities[t, k] * log_softmax(student[s] / T_s)[k],
averaged over the batch, then over the (t, s) pairs. The teacher's
probabilities are already centred and sharpened (`SVTModel.teacher_probabilities`).
"""
import jax
import jax.numpy as jnp


def dino_loss(student_logits: jax.Array, teacher_probabilities: jax.Array,
              student_temperature: float) -> tuple[jax.Array, dict]:
  """student_logits [V, B, K] (globals first), teacher_probabilities [G, B, K] ->
  (loss, {'student_entropy'})."""
  log_student = jax.nn.log_softmax(student_logits / student_temperature, axis=-1)
  num_teacher, num_student = teacher_probabilities.shape[0], student_logits.shape[0]
  # [G, V] cross-entropies, each averaged over the batch.
  cross = -jnp.mean(jnp.einsum("tbk,sbk->tsb", teacher_probabilities, log_student), axis=-1)
  pairs = 1.0 - jnp.eye(num_teacher, num_student)  # a view is not its own target
  loss = jnp.sum(cross * pairs) / jnp.sum(pairs)
  student_entropy = -jnp.mean(jnp.sum(jnp.exp(log_student) * log_student, axis=-1))
  return loss, {"student_entropy": student_entropy}
