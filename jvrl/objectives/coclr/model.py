"""CoCLR's two-stream model: an RGB and an optical-flow encoder, each with its head.

Submodules (top-level parameter names): 'encoder' (RGB; what evaluation and
the export use), 'rgb_head', 'flow_encoder', 'flow_head'. A head is CoCLR's:
global average pool -> Dense(feature) -> ReLU -> Dense(projection_dim), no
batch norm (the reference's two 1x1x1 convs).

`__call__` is the student: the queries from view 1 of the trained stream(s);
`keys` is what the trainer runs with the EMA teacher (`Objective.teacher`,
MoCo's key encoders): view 2 of the trained stream(s), and in co-training
the frozen other stream's view-2 feature (its parameters are not in the
teacher, so the student's frozen ones are used: the reference's `sampler`).
"""
from typing import Mapping

import flax.linen as nn
import jax

from jvrl.models import heads
from jvrl.models import inputs
from jvrl.objectives.coclr import loss as loss_lib

STREAMS = ("rgb", "flow")
SUBMODULES = ("encoder", "rgb_head", "flow_encoder", "flow_head")
# Submodules of each stream, as named in the parameters.
STREAM_SUBMODULES = {"rgb": ("encoder", "rgb_head"), "flow": ("flow_encoder", "flow_head")}


class ProjectionHead(nn.Module):
  """Dense(hidden) -> ReLU -> Dense(output) on a pooled feature."""
  hidden_dim: int
  output_dim: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    x = nn.relu(nn.Dense(self.hidden_dim, name="dense_1")(x))
    return nn.Dense(self.output_dim, name="dense_2")(x)


class CoCLRModel(nn.Module):
  """Two streams; `trained` names the stream(s) the student runs ('rgb', 'flow' or
  'both' in the InfoNCE stage, where each stream has its own loss)."""
  encoder: nn.Module
  flow_encoder: nn.Module
  projection_hidden_dim: int
  projection_dim: int
  trained: str = "both"

  def setup(self):
    self.rgb_head = ProjectionHead(self.projection_hidden_dim, self.projection_dim)
    self.flow_head = ProjectionHead(self.projection_hidden_dim, self.projection_dim)

  def embed(self, stream: str, clip: jax.Array, train: bool) -> jax.Array:
    """uint8 clip [B, T, H, W, C] of `stream` -> L2-normalised embedding [B, D]."""
    encoder, head = ((self.encoder, self.rgb_head) if stream == "rgb"
                     else (self.flow_encoder, self.flow_head))
    pooled = heads.global_average_pool(encoder(inputs.to_unit_float(clip), train=train))
    return loss_lib.normalize(head(pooled.astype(jax.numpy.float32)))

  def _streams(self) -> tuple[str, ...]:
    return STREAMS if self.trained == "both" else (self.trained,)

  def __call__(self, batch: Mapping[str, jax.Array], train: bool) -> dict:
    """Queries {'<stream>_query': [B, D]} from view 1 of the trained stream(s)."""
    streams = STREAMS if self.is_initializing() else self._streams()  # init: every parameter
    return {f"{s}_query": self.embed(s, batch[f"view1_{s}"], train) for s in streams}

  def keys(self, batch: Mapping[str, jax.Array], train: bool) -> dict:
    """Keys {'<stream>_key'} from view 2 of every stream (teacher: the trained ones)."""
    return {f"{s}_key": self.embed(s, batch[f"view2_{s}"], train) for s in STREAMS}
