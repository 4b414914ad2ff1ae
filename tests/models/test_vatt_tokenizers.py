"""VATT tokenisers: patch embedding == ConvND(kernel = stride), position-embedding interpolation."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvrl.models.vatt import tokenizers


@pytest.mark.parametrize("shape,patch", [((2, 4, 16, 16, 3), (2, 8, 8)),
                                         ((2, 256, 1), (128,))])
def test_patch_embedding_equals_strided_conv(shape, patch):
  x = jax.random.normal(jax.random.key(0), shape)
  embed = tokenizers.PatchEmbedding(patch, 8)
  variables = embed.init(jax.random.key(1), x)
  conv = nn.Conv(8, kernel_size=patch, strides=patch, padding="VALID")
  expected = conv.apply(variables, x)
  np.testing.assert_allclose(embed.apply(variables, x), expected, atol=1e-5)
  with pytest.raises(ValueError, match="divisible"):
    embed.apply(variables, x[:, :-1])


def test_interpolate_table_is_identity_on_the_same_grid_and_linear_otherwise():
  table = jnp.arange(4.0)[:, None] * jnp.array([[1.0, -2.0]])  # linear in position
  assert tokenizers.interpolate_table(table, 4) is table
  up = tokenizers.interpolate_table(table, 8)
  # Half-pixel centres: new position i samples old position (i + 0.5) / 2 - 0.5, clamped.
  source = np.clip((np.arange(8) + 0.5) * 4 / 8 - 0.5, 0, 3)
  np.testing.assert_allclose(up[:, 0], source, atol=1e-6)
  np.testing.assert_allclose(up[:, 1], -2 * source, atol=1e-6)
  down = tokenizers.interpolate_table(table, 2)
  np.testing.assert_allclose(down[:, 0], [0.5, 2.5], atol=1e-6)  # no antialiasing


def test_factorized_position_embedding_sums_per_axis_tables_and_interpolates():
  module = tokenizers.FactorizedPositionEmbedding((2, 3, 4), ("t", "h", "w"))
  tokens = jnp.zeros((1, 2, 3, 4, 5))
  variables = module.init(jax.random.key(0), tokens)
  params = variables["params"]
  assert {k: v.shape for k, v in params.items()} == {"t": (2, 5), "h": (3, 5), "w": (4, 5)}
  out = module.apply(variables, tokens)
  np.testing.assert_allclose(out[0, 1, 2, 3], params["t"][1] + params["h"][2] + params["w"][3],
                             rtol=1e-6)
  # A larger grid (e.g. a longer clip) uses the same parameters, interpolated.
  bigger = module.apply(variables, jnp.zeros((1, 4, 3, 4, 5)))
  t_table = tokenizers.interpolate_table(params["t"], 4)
  np.testing.assert_allclose(bigger[0, :, 0, 0], t_table + params["h"][0] + params["w"][0],
                             rtol=1e-6)


def test_voxel_tokenizer_grid_and_input_range():
  tokenizer = tokenizers.VoxelTokenizer(patch_size=(2, 8, 8), width=16, pos_buckets=(2, 2, 2))
  video = jnp.full((3, 4, 16, 16, 3), 0.5)  # 0.5 maps to 0 in [-1, 1]
  variables = tokenizer.init(jax.random.key(0), video)
  tokens = tokenizer.apply(variables, video)
  assert tokens.shape == (3, 2, 2, 2, 16)
  # Mid-grey pixels project to the bias alone: tokens = bias + position embedding.
  params = variables["params"]
  position = params["position_embedding"]
  expected = (params["projection"]["bias"] + position["temporal"][1] + position["vertical"][0]
              + position["horizontal"][1])
  np.testing.assert_allclose(tokens[2, 1, 0, 1], expected, rtol=1e-5, atol=1e-6)
