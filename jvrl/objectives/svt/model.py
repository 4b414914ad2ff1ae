"""SVT's student / teacher model: a video backbone and DINO's head, views grouped by shape.

* Backbone: any of `jvrl.models` (SVT: a video transformer; VATT's video
  tower interpolates its position tables, so one set of weights reads the
  global and the smaller local views), pooled to [B, D].
* `DINOHead` (DINO `vision_transformer.py`): 3-layer MLP (GELU, hidden 2048,
  bottleneck 256) -> L2 normalisation -> a weight-normalised linear layer
  without bias to `out_dim` (65536 in SVT), its norm fixed at 1
  (`norm_last_layer=True`).
* Views of the same shape go through the backbone in ONE batched forward
  (solo-learn's grouping by crop size), so any batch statistic spans them;
  the student sees every view, the teacher (`teacher_logits`, run by the
  trainer with the EMA parameters) the global views only.
* The teacher's outputs are centred and sharpened inside `teacher_logits`:
  softmax((t - centre) / teacher_temperature), then the centre (collection
  'svt_center', kept by the trainer: `Teacher.state_collections`) moves to
  m * centre + (1 - m) * mean of this batch's teacher outputs over every
  device and view (DINO's `update_center`).
"""
from typing import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from jvrl.models import heads
from jvrl.models import inputs

CENTER_COLLECTION = "svt_center"


class DINOHead(nn.Module):
  """[B, D] -> logits [B, out_dim] (module docstring)."""
  out_dim: int
  hidden_dim: int = 2048
  bottleneck_dim: int = 256
  num_layers: int = 3

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = x.astype(jnp.float32)
    dense_init = nn.initializers.truncated_normal(0.02)
    for layer in range(self.num_layers - 1):
      x = nn.gelu(nn.Dense(self.hidden_dim, kernel_init=dense_init, name=f"mlp_{layer}")(x),
                  approximate=False)
    x = nn.Dense(self.bottleneck_dim, kernel_init=dense_init, name="bottleneck")(x)
    x = x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
    direction = self.param("last_layer", dense_init, (self.bottleneck_dim, self.out_dim))
    weight = direction / jnp.linalg.norm(direction, axis=0, keepdims=True)
    return x @ weight


class SVTModel(nn.Module):
  """Backbone ('encoder') + DINO head ('head'), over SVT's global and local views.

  Attributes:
    encoder: the video backbone.
    head: the DINO head.
    num_global, num_local: how many views of each kind the batch holds
      ('global_<i>', 'local_<j>').
    teacher_temperature: DINO's teacher temperature (SVT: 0.04).
    center_momentum: of the teacher outputs' centre (DINO: 0.9).
  """
  encoder: nn.Module
  head: nn.Module
  num_global: int
  num_local: int
  teacher_temperature: float = 0.04
  center_momentum: float = 0.9

  def _logits(self, views: list[jax.Array], train: bool) -> jax.Array:
    """Views of one shape [B, ...] each -> logits [len(views), B, K], one forward."""
    batch = views[0].shape[0]
    clips = jnp.concatenate(views, axis=0)
    pooled = heads.global_average_pool(self.encoder(inputs.to_unit_float(clips), train=train))
    return self.head(pooled).reshape(len(views), batch, -1)

  def _views(self, batch, kind: str, count: int) -> list[jax.Array]:
    return [batch[f"{kind}_{i}"] for i in range(count)]

  def setup(self):
    self.center = self.variable(CENTER_COLLECTION, "center",
                                lambda: jnp.zeros((self.head.out_dim,), jnp.float32))

  def __call__(self, batch: Mapping[str, jax.Array], train: bool) -> dict:
    """The student: {'student_logits': [V, B, K]}, the global views first."""
    _ = self.center.value  # created (setup) at init; only the teacher's pass updates it
    groups = [self._views(batch, "global", self.num_global)]
    if self.num_local:
      groups.append(self._views(batch, "local", self.num_local))
    return {"student_logits": jnp.concatenate([self._logits(g, train) for g in groups], 0)}

  def teacher_probabilities(self, batch: Mapping[str, jax.Array], train: bool) -> dict:
    """The teacher on the global views: {'probabilities': [G, B, K] centred and
    sharpened, 'entropy': mean entropy of those}; moves the centre."""
    logits = self._logits(self._views(batch, "global", self.num_global), train)
    center = self.center
    probabilities = jax.nn.softmax((logits - center.value) / self.teacher_temperature, axis=-1)
    if not self.is_initializing():
      batch_center = jnp.mean(logits, axis=(0, 1))  # global arrays: every device's rows
      center.value = (center.value * self.center_momentum +
                      batch_center * (1.0 - self.center_momentum))
    entropy = -jnp.mean(jnp.sum(probabilities * jnp.log(probabilities + 1e-12), axis=-1))
    return {"probabilities": probabilities, "entropy": entropy}
