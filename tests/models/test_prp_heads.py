"""Tests for jvrl.models.prp_heads: the rate classifier and the slow-motion decoder."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvrl.models import prp_heads


def _init(module, x):
  return jax.eval_shape(lambda: module.init(jax.random.key(0), jnp.zeros(x.shape), train=False))


def test_decoder_turns_prp_feature_map_into_32x112x112_frames():
  """The PRP sizes (no compute): [B, 2, 7, 7, 512] -> [B, 32, 112, 112, 3]."""
  decoder = prp_heads.ReconstructionDecoder()
  feature_map = jax.ShapeDtypeStruct((2, 2, 7, 7, 512), jnp.float32)
  variables = _init(decoder, feature_map)
  out = jax.eval_shape(lambda v, x: decoder.apply(v, x, train=False), variables, feature_map)
  assert out.shape == (2, 32, 112, 112, 3) and out.dtype == jnp.float32
  shapes = {"/".join(str(k.key) for k in p): tuple(l.shape)
            for p, l in jax.tree_util.tree_leaves_with_path(variables["params"])}
  assert shapes["conv_in/kernel"] == (3, 3, 3, 512, 512)
  assert shapes["up1_transpose/kernel"] == (2, 2, 2, 512, 512)
  assert shapes["up1_conv/kernel"] == (3, 3, 3, 512, 256)
  assert shapes["up3_conv/kernel"] == (3, 3, 3, 128, 64)
  assert shapes["up4_transpose/kernel"] == (2, 2, 2, 64, 64)
  assert shapes["conv_out/kernel"] == (3, 3, 3, 64, 3)


@pytest.mark.parametrize("conv_impl", ["native", "temporal_taps"])
def test_decoder_runs_on_small_maps_with_nonnegative_output(conv_impl):
  decoder = prp_heads.ReconstructionDecoder(conv_impl=conv_impl)
  x = np.random.default_rng(0).normal(size=(2, 1, 1, 1, 16)).astype(np.float32)
  with jax.threefry_partitionable(False):
    variables = decoder.init(jax.random.key(0), x, train=False)
  out, updates = jax.jit(lambda v, x: decoder.apply(v, x, train=True, mutable=["batch_stats"]))(
      variables, x)
  assert out.shape == (2, 16, 16, 16, 3)
  assert np.all(np.asarray(out) >= 0) and np.all(np.isfinite(out))
  assert set(updates) == {"batch_stats"}


def test_decoder_conv_impls_compute_the_same_function():
  x = np.random.default_rng(1).normal(size=(2, 1, 1, 1, 8)).astype(np.float32)
  native = prp_heads.ReconstructionDecoder()
  with jax.threefry_partitionable(False):
    variables = native.init(jax.random.key(0), x, train=False)
  taps = prp_heads.ReconstructionDecoder(conv_impl="temporal_taps")
  apply = lambda m: jax.jit(lambda v, x: m.apply(v, x, train=True, mutable=["batch_stats"])[0])
  np.testing.assert_allclose(apply(taps)(variables, x), apply(native)(variables, x),
                             rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match="conv_impl"):
    prp_heads.ReconstructionDecoder(conv_impl="fft")


def test_conv_transpose_2x_matches_flax_and_a_loop():
  rng = np.random.default_rng(2)
  x = rng.normal(size=(2, 3, 2, 4, 5)).astype(np.float32)
  module = prp_heads.ConvTranspose2x(features=6)
  variables = module.init(jax.random.key(0), x)
  kernel = np.asarray(variables["params"]["kernel"])
  bias = rng.normal(size=6).astype(np.float32)
  variables = {"params": {"kernel": kernel, "bias": bias}}
  got = np.asarray(module.apply(variables, x))
  assert got.shape == (2, 6, 4, 8, 6)
  # PyTorch ConvTranspose3d(k=2, s=2): out[2t+a, 2h+b, 2w+c] = x[t, h, w] @ W[a, b, c] + bias.
  want = np.zeros(got.shape)
  for t in range(3):
    for h in range(2):
      for w in range(4):
        for a in range(2):
          for b in range(2):
            for c in range(2):
              want[:, 2 * t + a, 2 * h + b, 2 * w + c] = x[:, t, h, w] @ kernel[a, b, c] + bias
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  # flax's ConvTranspose is the same with the kernel flipped.
  flax_ct = nn.ConvTranspose(6, (2, 2, 2), strides=(2, 2, 2), padding="VALID")
  flax_out = flax_ct.apply({"params": {"kernel": kernel[::-1, ::-1, ::-1], "bias": bias}}, x)
  np.testing.assert_allclose(got, flax_out, rtol=1e-5, atol=1e-5)


def test_rate_head_shapes_and_names():
  head = prp_heads.RateClassificationHead(num_rates=4)
  feature_map = jax.ShapeDtypeStruct((3, 2, 7, 7, 512), jnp.float32)
  variables = _init(head, feature_map)
  assert set(variables["params"]) == {"conv", "bn", "classifier"}
  assert variables["params"]["classifier"]["kernel"].shape == (512, 4)
  logits = jax.eval_shape(lambda v, x: head.apply(v, x, train=False), variables, feature_map)
  assert logits.shape == (3, 4) and logits.dtype == jnp.float32
  with pytest.raises(ValueError, match="num_rates"):
    prp_heads.RateClassificationHead(num_rates=1)
