"""VATT transformer: DropToken counts and randomness, eval mode, padding masks."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvrl.models.vatt import transformer


@pytest.mark.parametrize("num_tokens,keep,expected", [
    (64, 0.5, 32), (1568, 0.5, 784), (10, 0.25, 2), (10, 0.29, 3), (3, 0.1, 1), (7, 1.0, 7)])
def test_num_kept_tokens(num_tokens, keep, expected):
  assert transformer.num_kept_tokens(num_tokens, keep) == expected


def test_drop_tokens_keeps_exactly_the_requested_count_of_distinct_tokens_in_order():
  batch, num_tokens = 6, 20
  ids = jnp.broadcast_to(jnp.arange(num_tokens, dtype=jnp.float32)[None, :, None],
                         (batch, num_tokens, 3))
  kept = transformer.drop_tokens(ids, 0.3, jax.random.key(0))
  assert kept.shape == (batch, 6, 3)
  kept_ids = np.asarray(kept[..., 0]).astype(int)
  for row in kept_ids:
    assert len(set(row)) == 6 and np.all(np.diff(row) > 0)  # distinct, original order
  assert len({tuple(row) for row in kept_ids}) > 1  # each example draws its own subset
  with pytest.raises(ValueError, match="keep_ratio"):
    transformer.num_kept_tokens(10, 0.0)


def test_drop_token_module_only_in_training():
  module = transformer.DropToken(keep_ratio=0.5)
  tokens = jnp.arange(2 * 8 * 4, dtype=jnp.float32).reshape(2, 8, 4)
  assert module.apply({}, tokens, train=False) is tokens  # off in evaluation, no RNG needed
  dropped = module.apply({}, tokens, train=True,
                         rngs={transformer.DROP_TOKEN_RNG: jax.random.key(1)})
  assert dropped.shape == (2, 4, 4)
  with pytest.raises(Exception):  # training needs the 'droptoken' RNG stream
    module.apply({}, tokens, train=True)


def test_transformer_shapes_masks_and_determinism():
  model = transformer.Transformer(num_layers=2, num_heads=2, mlp_dim=32, dropout_rate=0.5)
  x = jax.random.normal(jax.random.key(0), (3, 5, 8))
  mask = jnp.array([[True] * 5, [True, True, True, False, False], [True] + [False] * 4])
  variables = model.init(jax.random.key(1), x, mask)
  out = model.apply(variables, x, mask)
  assert out.shape == x.shape
  np.testing.assert_allclose(out, model.apply(variables, x, mask), atol=0)  # eval: no dropout
  # Padding tokens do not influence the real ones.
  changed = x.at[1, 3:].set(100.0).at[2, 1:].set(-7.0)
  out2 = model.apply(variables, changed, mask)
  np.testing.assert_allclose(out2[1, :3], out[1, :3], atol=1e-5)
  np.testing.assert_allclose(out2[2, :1], out[2, :1], atol=1e-5)
  trained = model.apply(variables, x, mask, train=True, rngs={"dropout": jax.random.key(2)})
  assert not np.allclose(trained, out)  # dropout is on in training
  with pytest.raises(ValueError, match="divisible"):
    transformer.Transformer(num_layers=1, num_heads=3, mlp_dim=8).init(jax.random.key(0), x)


def test_bfloat16_computes_in_bfloat16_with_float32_params():
  model = transformer.Transformer(num_layers=1, num_heads=2, mlp_dim=16, dtype=jnp.bfloat16)
  x = jnp.ones((2, 4, 8))
  variables = model.init(jax.random.key(0), x)
  assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
  assert model.apply(variables, x).dtype == jnp.bfloat16
