r"""Parameter counts of VATT's transformers, computed without allocating them.

  python -m jvrl.tools.model_summary                 # Base / Medium / Large video
  python -m jvrl.tools.model_summary --towers=video,audio,text,mat --breakdown

Shapes come from `jax.eval_shape` of the module's `init` on one input of the
published size (REFERENCE §2: 32x224x224 video, 3.2 s of 48 kHz audio, 16
text tokens), so even VATT-Large is never materialised. Next to each count
the table shows the closed-form count of a pre-norm transformer of the
REFERENCE §2 sizes (`transformer_param_count`), which the model must match.
"""
import math
from typing import Sequence

from absl import app
from absl import flags
import jax
import jax.numpy as jnp

from jvrl.models.vatt import vatt

SIZES = ("base", "medium", "large")
TOWERS = ("video", "audio", "text", "mat")
VIDEO_SHAPE = (1, 32, 224, 224, 3)   # 32 frames of 224x224 (REFERENCE §2)
AUDIO_SAMPLES = 153_600              # 3.2 s at 48 kHz
TEXT_LENGTH = 16
WORD_DIM = 300

_SIZES = flags.DEFINE_list("sizes", list(SIZES), "VATT sizes to summarise.")
_TOWERS = flags.DEFINE_list("towers", ["video"], f"Towers to summarise, of {TOWERS} "
                            "('mat': the modality-agnostic shared backbone).")
_BREAKDOWN = flags.DEFINE_bool("breakdown", False, "Also print counts per top-level module.")


def transformer_param_count(num_layers: int, hidden_size: int, mlp_dim: int) -> int:
  """Parameters of `num_layers` pre-norm blocks plus the final LayerNorm.

  Per block: two LayerNorms (2 x 2D), attention (query/key/value/output
  projections with biases, 4 (D^2 + D)) and the MLP (D*M + M + M*D + D).
  """
  d, m = hidden_size, mlp_dim
  block = 4 * d + 4 * (d * d + d) + (d * m + m + m * d + d)
  return num_layers * block + 2 * d


def video_encoder_param_count(size: str, patch_size: Sequence[int] = (4, 16, 16),
                              pos_buckets: Sequence[int] = (8, 14, 14),
                              channels: int = 3) -> int:
  """Closed-form parameters of `vatt_video(size=...)`: voxel projection, factorised
  position tables, aggregation token and transformer."""
  s = vatt.SIZES[size]
  d = s["hidden_size"]
  projection = math.prod(patch_size) * channels * d + d
  return (projection + sum(pos_buckets) * d + d
          + transformer_param_count(s["num_layers"], d, s["mlp_dim"]))


def _count(tree) -> int:
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def abstract_params(tower: str, size: str) -> dict:
  """The parameter shapes (jax.ShapeDtypeStruct) of one tower, via jax.eval_shape."""
  key = jax.random.key(0)
  if tower == "video":
    module = vatt.vatt_video(size=size)
    init = lambda: module.init(key, jnp.zeros(VIDEO_SHAPE), train=False)  # noqa: E731
  elif tower == "audio":
    module = vatt.vatt_audio(size=size)
    init = lambda: module.init(key, jnp.zeros((1, AUDIO_SAMPLES)), train=False)  # noqa: E731
  elif tower == "text":
    module = vatt.vatt_text(size=size)
    init = lambda: module.init(  # noqa: E731
        key, jnp.zeros((1, TEXT_LENGTH, WORD_DIM)), jnp.ones((1, TEXT_LENGTH), bool))
  elif tower == "mat":
    module = vatt.vatt_mat(size=size)

    def init():
      def all_paths(m):
        m(jnp.zeros(VIDEO_SHAPE))
        m.encode_audio(jnp.zeros((1, AUDIO_SAMPLES)))
        return m.encode_text(jnp.zeros((1, TEXT_LENGTH, WORD_DIM)),
                             jnp.ones((1, TEXT_LENGTH), bool))
      return module.init(key, method=all_paths)
  else:
    raise ValueError(f"Unknown tower {tower!r}; known: {TOWERS}.")
  return jax.eval_shape(init)["params"]


def param_count(tower: str, size: str) -> int:
  """Number of parameters of `tower` at `size` (nothing allocated)."""
  return _count(abstract_params(tower, size))


def summary_lines(towers: Sequence[str], sizes: Sequence[str],
                  breakdown: bool = False) -> list[str]:
  """The table `main` prints."""
  lines = [f"{'tower':<8}{'size':<8}{'layers':>7}{'hidden':>8}{'heads':>7}{'mlp':>7}"
           f"{'parameters':>16}{'closed form':>16}"]
  for tower in towers:
    for size in sizes:
      params = abstract_params(tower, size)
      s = vatt.SIZES[size]
      expected = video_encoder_param_count(size) if tower == "video" else None
      lines.append(
          f"{tower:<8}{size:<8}{s['num_layers']:>7}{s['hidden_size']:>8}{s['num_heads']:>7}"
          f"{s['mlp_dim']:>7}{_count(params):>16,}"
          f"{f'{expected:,}' if expected is not None else '-':>16}")
      if breakdown:
        for name, subtree in params.items():
          lines.append(f"{'':<16}{name:<30}{_count(subtree):>16,}")
  return lines


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  for tower in _TOWERS.value:
    if tower not in TOWERS:
      raise app.UsageError(f"Unknown tower {tower!r}; known: {TOWERS}.")
  print("\n".join(summary_lines(_TOWERS.value, _SIZES.value, _BREAKDOWN.value)))


if __name__ == "__main__":
  app.run(main)
