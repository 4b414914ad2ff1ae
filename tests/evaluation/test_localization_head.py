"""Tests for jvrl.evaluation.localization_head: the masked temporal conv head, its loss,
training (learning, determinism, empty videos) and prediction."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvrl.evaluation import localization_head

NUM_CLASSES = 3
DIM = 5
FAST = dict(steps=150, width=16, batch_size=8)


def _slow_conv_same(x, kernel, bias):
  """Cross-correlation with 'SAME' zero padding: x [L, D], kernel [K, D, W] -> [L, W]."""
  size = kernel.shape[0]
  before = (size - 1) // 2
  out = np.zeros((x.shape[0], kernel.shape[2])) + np.asarray(bias)
  for t in range(x.shape[0]):
    for k in range(size):
      source = t + k - before
      if 0 <= source < x.shape[0]:
        out[t] += x[source] @ kernel[k]
  return out


def _toy_sequences(seed, num_videos=24):
  """Clip features = the clip's class direction (background: its own) + noise."""
  rng = np.random.default_rng(seed)
  sequences, targets = [], []
  for _ in range(num_videos):
    num_clips = int(rng.integers(6, 14))
    labels = np.full(num_clips, -1)
    start = int(rng.integers(0, num_clips - 3))
    labels[start:start + int(rng.integers(2, 4))] = rng.integers(0, NUM_CLASSES)
    features = np.eye(NUM_CLASSES + 1, DIM)[labels + 1] * 2 + rng.normal(
        scale=0.3, size=(num_clips, DIM))
    sequences.append(features.astype(np.float32))
    targets.append(labels)
  return sequences, targets


@pytest.mark.parametrize("kernel_size", [1, 3, 4])
def test_conv_layer_is_a_same_padded_temporal_convolution(kernel_size):
  module = localization_head.TemporalConvHead(NUM_CLASSES, width=4, num_layers=1,
                                              kernel_size=kernel_size)
  features = np.random.default_rng(0).normal(size=(2, 7, DIM)).astype(np.float32)
  mask = np.ones((2, 7), bool)
  params = module.init(jax.random.key(0), features, mask)
  conv = params["params"]["conv0"]
  _, state = module.apply(params, features, mask, capture_intermediates=True)
  got = np.asarray(state["intermediates"]["conv0"]["__call__"][0])  # before the ReLU
  kernel = np.asarray(conv["kernel"]).reshape(kernel_size, DIM, 4)
  for video in range(2):
    np.testing.assert_allclose(got[video], _slow_conv_same(features[video], kernel, conv["bias"]),
                               atol=1e-5)


def test_outputs_do_not_depend_on_padding():
  sequences, _ = _toy_sequences(0, num_videos=3)
  module = localization_head.TemporalConvHead(NUM_CLASSES, width=8)
  short, short_mask = localization_head.pad_sequences(sequences, 14)
  long, long_mask = localization_head.pad_sequences(sequences, 20)
  long[~long_mask] = 5.0  # garbage in the padding
  params = module.init(jax.random.key(0), short, short_mask)
  apply = jax.jit(module.apply)
  short_out = apply(params, short, short_mask)
  long_out = apply(params, long, long_mask)
  for a, b in zip(short_out, long_out):
    np.testing.assert_allclose(np.asarray(b)[:, :14][short_mask], np.asarray(a)[short_mask],
                               atol=1e-5)


def test_loss_is_masked_means_and_finite_without_foreground():
  module = localization_head.TemporalConvHead(NUM_CLASSES, width=8, num_layers=1)
  rng = np.random.default_rng(1)
  features = rng.normal(size=(2, 5, DIM)).astype(np.float32)
  mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
  targets = np.array([[-1, 2, 0, 1, 1], [-1, -1, 1, -1, 0]])  # padding targets ignored
  params = module.init(jax.random.key(0), features, mask)
  actionness, logits = (np.asarray(a, np.float64) for a in module.apply(params, features, mask))
  foreground = (targets >= 0) & mask
  bce = np.logaddexp(0, actionness) - foreground * actionness
  log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  ce = -np.take_along_axis(log_probs, np.maximum(targets, 0)[..., None], -1)[..., 0]
  expected = bce[mask].mean() + ce[foreground].mean()
  got = localization_head.head_loss(module, params, features, mask, targets)
  assert float(got) == pytest.approx(expected, rel=1e-5)
  all_background = localization_head.head_loss(module, params, features, mask,
                                               np.full((2, 5), -1))
  background_bce = np.logaddexp(0, actionness)
  assert float(all_background) == pytest.approx(background_bce[mask].mean(), rel=1e-5)


def test_trains_on_a_separable_toy_problem_and_skips_empty_videos():
  sequences, targets = _toy_sequences(2)
  empty = np.zeros((0, DIM), np.float32), np.zeros(0, int)
  head = localization_head.train_localization_head(
      sequences + [empty[0]], targets + [empty[1]], NUM_CLASSES, **FAST)
  outputs = localization_head.predict_localization_head(head, sequences + [empty[0]], batch_size=5)
  assert outputs[-1][0].shape == (0,) and outputs[-1][1].shape == (0, NUM_CLASSES)
  actionness = np.concatenate([a for a, _ in outputs[:-1]])
  classes = np.concatenate([c for _, c in outputs[:-1]])
  labels = np.concatenate(targets)
  assert np.mean((actionness > 0.5) == (labels >= 0)) > 0.95
  assert np.mean(np.argmax(classes, 1)[labels >= 0] == labels[labels >= 0]) > 0.95
  np.testing.assert_allclose(classes.sum(1), 1.0, atol=1e-5)
  assert actionness.dtype == np.float32


def test_deterministic_with_a_seed_and_prediction_batching_is_irrelevant():
  sequences, targets = _toy_sequences(3)
  first = localization_head.train_localization_head(sequences, targets, NUM_CLASSES, seed=1, **FAST)
  second = localization_head.train_localization_head(sequences, targets, NUM_CLASSES, seed=1,
                                                     **FAST)
  other = localization_head.train_localization_head(sequences, targets, NUM_CLASSES, seed=2,
                                                    **FAST)
  jax.tree.map(np.testing.assert_array_equal, first.params, second.params)
  assert not np.allclose(first.params["params"]["conv0"]["kernel"],
                         other.params["params"]["conv0"]["kernel"])
  one_batch = localization_head.predict_localization_head(first, sequences, batch_size=64)
  small_batches = localization_head.predict_localization_head(first, sequences, batch_size=5)
  for (a, c), (b, d) in zip(one_batch, small_batches):
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(c, d, atol=1e-6)


def test_pad_sequences():
  padded, mask = localization_head.pad_sequences([np.ones((2, 3)), np.ones((0, 3))], 4)
  assert padded.shape == (2, 4, 3) and mask.tolist() == [[1, 1, 0, 0], [0, 0, 0, 0]]
  assert padded[0, 2:].sum() == 0
  with pytest.raises(ValueError, match="longer"):
    localization_head.pad_sequences([np.ones((5, 3))], 4)


def test_validates_inputs():
  sequences, targets = _toy_sequences(4, num_videos=2)
  train = localization_head.train_localization_head
  with pytest.raises(ValueError, match="no training video"):
    train([np.zeros((0, DIM))], [np.zeros(0, int)], NUM_CLASSES)
  with pytest.raises(ValueError, match="class_targets"):
    train(sequences, targets[:1], NUM_CLASSES)
  with pytest.raises(ValueError, match=r"\[-1, 2\)"):
    train(sequences, [np.full(len(t), 2) for t in targets], 2)
  with pytest.raises(ValueError, match="steps"):
    train(sequences, targets, NUM_CLASSES, steps=0)
