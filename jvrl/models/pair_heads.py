"""Heads that classify a PAIR of clips from their pooled features (ConCur, STOR).

`PairClassifier` reads the two clips' pooled encoder features [B, C] each and
returns logits [B, num_classes] of a property of the pair (ConCur: the
temporal distance between the clips; STOR: their temporal and spatial overlap
rates). With `hidden_dim=0` it is CSTP's head, one Dense layer on the
concatenation [f1 || f2]; with `hidden_dim > 0` an MLP (Dense -> ReLU ->
Dense), which can compare the two features, not only add them up.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp


class PairClassifier(nn.Module):
  """[f1 || f2] -> [hidden Dense -> ReLU ->] Dense(num_classes), float32 logits.

  Params: `hidden` (when hidden_dim > 0) and `logits`.
  """
  num_classes: int
  hidden_dim: int = 0

  def __post_init__(self):
    if self.num_classes < 2:
      raise ValueError(f"num_classes must be >= 2, got {self.num_classes}.")
    if self.hidden_dim < 0:
      raise ValueError(f"hidden_dim must be >= 0, got {self.hidden_dim}.")
    super().__post_init__()

  @nn.compact
  def __call__(self, features_1: jax.Array, features_2: jax.Array) -> jax.Array:
    """Two [B, C] feature arrays -> logits [B, num_classes]."""
    if features_1.shape != features_2.shape or features_1.ndim != 2:
      raise ValueError(f"PairClassifier needs two [B, C] arrays of one shape, got "
                       f"{features_1.shape} and {features_2.shape}.")
    x = jnp.concatenate([features_1, features_2], axis=-1).astype(jnp.float32)
    if self.hidden_dim:
      x = nn.relu(nn.Dense(self.hidden_dim, name="hidden")(x))
    return nn.Dense(self.num_classes, name="logits")(x)
