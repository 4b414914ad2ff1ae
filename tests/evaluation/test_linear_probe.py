"""Tests for jvrl.evaluation.linear_probe: training, prediction, top-1, selection."""
import numpy as np
import pytest

from jvrl.evaluation import linear_probe

NUM_CLASSES = 3
STEPS = 50  # one value everywhere keeps the number of compilations small


def _toy_problem(seed, num_train=60, num_test=30, dim=8, noise=0.3, offset=0.0):
  """Three Gaussian classes around orthogonal centres (linearly separable at low noise).

  The labels do not depend on `seed`, so every test holds out the same number of
  examples for weight-decay selection and shares its compilations.
  """
  label_rng, rng = np.random.default_rng(0), np.random.default_rng(seed)
  centres = np.eye(NUM_CLASSES, dim) * 3.0 + offset
  # Clearly unequal class counts: a class with exactly N / C examples has a zero
  # initial bias gradient, and Adam would amplify float32 round-off in it.
  train_y = label_rng.choice(NUM_CLASSES, size=num_train, p=(0.5, 0.3, 0.2))
  test_y = label_rng.integers(0, NUM_CLASSES, num_test)
  train_x = centres[train_y] + rng.normal(scale=noise, size=(num_train, dim))
  test_x = centres[test_y] + rng.normal(scale=noise, size=(num_test, dim))
  return train_x.astype(np.float32), train_y, test_x.astype(np.float32), test_y


def _slow_adam_logistic_regression(features, labels, num_classes, steps, learning_rate,
                                   weight_decay):
  """NumPy float64 reference: L2-normalise, standardise, full-batch Adam with cosine lr
  on mean softmax cross-entropy + weight_decay / 2 * ||W||^2, from zeros."""
  x = features / np.linalg.norm(features, axis=1, keepdims=True)
  x = (x - x.mean(0)) / x.std(0)
  onehot = np.eye(num_classes)[labels]
  params = [np.zeros((x.shape[1], num_classes)), np.zeros(num_classes)]
  first = [np.zeros_like(p) for p in params]
  second = [np.zeros_like(p) for p in params]
  for step in range(steps):
    logits = x @ params[0] + params[1]
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    residual = (probs - onehot) / len(x)
    grads = [x.T @ residual + weight_decay * params[0], residual.sum(0)]
    lr = learning_rate * 0.5 * (1 + np.cos(np.pi * step / steps))
    for i, grad in enumerate(grads):
      first[i] = 0.9 * first[i] + 0.1 * grad
      second[i] = 0.999 * second[i] + 0.001 * grad**2
      m_hat = first[i] / (1 - 0.9**(step + 1))
      v_hat = second[i] / (1 - 0.999**(step + 1))
      params[i] = params[i] - lr * m_hat / (np.sqrt(v_hat) + 1e-8)
  return params


def test_matches_slow_numpy_logistic_regression():
  train_x, train_y, _, _ = _toy_problem(0, noise=1.0)
  probe = linear_probe.train_linear_probe(
      train_x, train_y, NUM_CLASSES, steps=STEPS, learning_rate=0.05, weight_decay=0.01)
  weights, bias = _slow_adam_logistic_regression(
      train_x.astype(np.float64), train_y, NUM_CLASSES, STEPS, 0.05, 0.01)
  np.testing.assert_allclose(probe.weights, weights, atol=3e-5, rtol=1e-4)
  np.testing.assert_allclose(probe.bias, bias, atol=3e-5, rtol=1e-4)
  assert probe.weights.shape == (8, NUM_CLASSES) and probe.bias.shape == (NUM_CLASSES,)
  assert probe.weight_decay == 0.01 and probe.normalize


def test_learns_separable_problem_perfectly():
  # A large common offset makes the L2-normalised features nearly identical (as
  # a random-init encoder's are); standardisation must still make them separable.
  train_x, train_y, test_x, test_y = _toy_problem(1, offset=20.0)
  accuracy = linear_probe.linear_probe_top1(
      train_x, train_y, test_x, test_y, NUM_CLASSES, steps=STEPS, learning_rate=0.1)
  assert accuracy == 1.0
  probe = linear_probe.train_linear_probe(
      train_x, train_y, NUM_CLASSES, steps=STEPS, learning_rate=0.1)
  assert probe.weight_decay in linear_probe.DEFAULT_WEIGHT_DECAY_GRID
  np.testing.assert_array_equal(linear_probe.linear_probe_predict(probe, train_x), train_y)


def test_predict_applies_the_probes_preprocessing():
  train_x, train_y, test_x, _ = _toy_problem(2, noise=1.0)
  probe = linear_probe.train_linear_probe(
      train_x, train_y, NUM_CLASSES, steps=STEPS, weight_decay=0.0)
  normalised = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
  np.testing.assert_allclose(probe.feature_mean, normalised.mean(0), atol=1e-6)
  np.testing.assert_allclose(probe.feature_std, normalised.std(0), rtol=1e-5)
  test_normalised = test_x / np.linalg.norm(test_x, axis=1, keepdims=True)
  logits = ((test_normalised - probe.feature_mean) / probe.feature_std) @ probe.weights + probe.bias
  predictions = linear_probe.linear_probe_predict(probe, test_x)
  np.testing.assert_array_equal(predictions, np.argmax(logits, axis=1))
  assert predictions.dtype == np.int32
  # Scale invariance of the L2-normalised probe.
  np.testing.assert_array_equal(linear_probe.linear_probe_predict(probe, 7.0 * test_x),
                                predictions)


def test_probabilities_are_the_softmax_of_the_logits():
  train_x, train_y, test_x, _ = _toy_problem(2, noise=1.0)
  probe = linear_probe.train_linear_probe(
      train_x, train_y, NUM_CLASSES, steps=STEPS, weight_decay=0.0)
  test_normalised = test_x / np.linalg.norm(test_x, axis=1, keepdims=True)
  logits = ((test_normalised - probe.feature_mean) / probe.feature_std) @ probe.weights + probe.bias
  expected = np.exp(logits - logits.max(1, keepdims=True))
  expected /= expected.sum(1, keepdims=True)
  probabilities = linear_probe.linear_probe_probabilities(probe, test_x)
  assert probabilities.shape == (30, NUM_CLASSES) and probabilities.dtype == np.float32
  np.testing.assert_allclose(probabilities, expected, atol=1e-5)
  np.testing.assert_array_equal(np.argmax(probabilities, 1),
                                linear_probe.linear_probe_predict(probe, test_x))
  with pytest.raises(ValueError, match="dimensions"):
    linear_probe.linear_probe_probabilities(probe, test_x[:, :4])


def test_constant_train_dimension_gets_unit_std_and_zero_weight():
  train_x, train_y, test_x, _ = _toy_problem(3)
  train_x[:, -1] = 0.0  # a dead unit on the train split
  probe = linear_probe.train_linear_probe(
      train_x, train_y, NUM_CLASSES, steps=STEPS, weight_decay=0.0, normalize=False)
  assert probe.feature_std[-1] == 1.0
  np.testing.assert_array_equal(probe.weights[-1], 0.0)
  assert np.all(np.isfinite(probe.weights))


def test_deterministic_with_seed_and_minibatches_depend_on_it():
  train_x, train_y, _, _ = _toy_problem(4, noise=1.0)
  kwargs = dict(steps=STEPS, weight_decay=0.0, batch_size=16)
  first = linear_probe.train_linear_probe(train_x, train_y, NUM_CLASSES, seed=3, **kwargs)
  second = linear_probe.train_linear_probe(train_x, train_y, NUM_CLASSES, seed=3, **kwargs)
  other = linear_probe.train_linear_probe(train_x, train_y, NUM_CLASSES, seed=4, **kwargs)
  np.testing.assert_array_equal(first.weights, second.weights)
  np.testing.assert_array_equal(first.bias, second.bias)
  assert not np.allclose(first.weights, other.weights)
  # A batch at least as large as the split is full-batch training.
  full = linear_probe.train_linear_probe(
      train_x, train_y, NUM_CLASSES, steps=STEPS, weight_decay=0.0)
  big_batch = linear_probe.train_linear_probe(
      train_x, train_y, NUM_CLASSES, steps=STEPS, weight_decay=0.0, batch_size=600)
  np.testing.assert_array_equal(full.weights, big_batch.weights)


def test_weight_decay_selection_is_deterministic_and_from_the_grid():
  train_x, train_y, _, _ = _toy_problem(5, noise=2.0)
  probes = [linear_probe.train_linear_probe(train_x, train_y, NUM_CLASSES, steps=STEPS, seed=1)
            for _ in range(2)]
  assert probes[0].weight_decay in linear_probe.DEFAULT_WEIGHT_DECAY_GRID
  assert probes[0].weight_decay == probes[1].weight_decay
  np.testing.assert_array_equal(probes[0].weights, probes[1].weights)
  # A grid of one repeated value (as long as the default grid, so no new compile).
  grid = (0.5,) * len(linear_probe.DEFAULT_WEIGHT_DECAY_GRID)
  custom = linear_probe.train_linear_probe(train_x, train_y, NUM_CLASSES, steps=STEPS,
                                           weight_decay_grid=grid)
  assert custom.weight_decay == 0.5


def test_holdout_takes_a_fifth_of_each_class_and_spares_tiny_classes():
  labels = np.array([0] * 20 + [1] * 10 + [2] * 4 + [3] * 7)
  mask = linear_probe._holdout_mask(labels, seed=0)
  counts = [int(mask[labels == c].sum()) for c in range(4)]
  assert counts == [4, 2, 0, 1]
  np.testing.assert_array_equal(mask, linear_probe._holdout_mask(labels, seed=0))
  assert not np.array_equal(mask, linear_probe._holdout_mask(labels, seed=1))


def test_top1_never_passes_test_data_to_training(monkeypatch):
  train_x, train_y, test_x, test_y = _toy_problem(6)
  seen = []
  real_train = linear_probe.train_linear_probe

  def spy(*args, **kwargs):
    seen.append((args, kwargs))
    return real_train(*args, **kwargs)

  monkeypatch.setattr(linear_probe, "train_linear_probe", spy)
  accuracy = linear_probe.linear_probe_top1(
      train_x, train_y, test_x, test_y, NUM_CLASSES, steps=STEPS, weight_decay=0.0)
  (args, kwargs), = seen
  passed = list(args) + list(kwargs.values())
  assert not any(value is test_x or value is test_y for value in passed)
  probe = real_train(train_x, train_y, NUM_CLASSES, steps=STEPS, weight_decay=0.0)
  assert accuracy == np.mean(linear_probe.linear_probe_predict(probe, test_x) == test_y)


def test_validates_inputs():
  train_x, train_y, test_x, test_y = _toy_problem(7)
  train = linear_probe.train_linear_probe
  with pytest.raises(ValueError, match="train_labels"):
    train(train_x, train_y[:-1], NUM_CLASSES)
  with pytest.raises(ValueError, match=r"train_labels must be in \[0, 2\)"):
    train(train_x, train_y, 2)
  with pytest.raises(ValueError, match="train_features"):
    train(train_x[:, :, None], train_y, NUM_CLASSES)
  with pytest.raises(ValueError, match="steps"):
    train(train_x, train_y, NUM_CLASSES, steps=0)
  with pytest.raises(ValueError, match="learning_rate"):
    train(train_x, train_y, NUM_CLASSES, learning_rate=-1.0)
  with pytest.raises(ValueError, match="weight_decay"):
    train(train_x, train_y, NUM_CLASSES, weight_decay=-1e-3)
  with pytest.raises(ValueError, match="weight_decay_grid"):
    train(train_x, train_y, NUM_CLASSES, weight_decay_grid=())
  with pytest.raises(ValueError, match="batch_size"):
    train(train_x, train_y, NUM_CLASSES, batch_size=0)
  probe = train(train_x, train_y, NUM_CLASSES, steps=STEPS, weight_decay=0.0)
  with pytest.raises(ValueError, match="dimensions"):
    linear_probe.linear_probe_predict(probe, test_x[:, :4])
  with pytest.raises(ValueError, match="test_y"):
    linear_probe.linear_probe_top1(train_x, train_y, test_x, test_y[:-1], NUM_CLASSES)
