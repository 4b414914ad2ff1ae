"""NT-Xent loss: NumPy reference, gradients, and 1 device == 8 devices."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jvrl.losses import contrastive


def numpy_nt_xent(a, b, temperature):
  """Slow reference: explicit loop over rows, float64."""
  a = a / np.linalg.norm(a, axis=1, keepdims=True)
  b = b / np.linalg.norm(b, axis=1, keepdims=True)
  n = a.shape[0]
  total = 0.0
  for x, y in ((a, b), (b, a)):
    direction = 0.0
    for i in range(n):
      candidates = [x[i] @ y[j] / temperature for j in range(n)]
      candidates += [x[i] @ x[j] / temperature for j in range(n) if j != i]
      m = max(candidates)
      log_z = m + np.log(np.sum(np.exp(np.array(candidates) - m)))
      direction += -(x[i] @ y[i] / temperature - log_z)
    total += direction / n
  return total


@pytest.fixture(scope="module")
def embeddings():
  rng = np.random.default_rng(0)
  return (rng.normal(size=(16, 8)).astype(np.float32),
          rng.normal(size=(16, 8)).astype(np.float32))


def test_matches_numpy_reference(embeddings):
  a, b = embeddings
  loss, metrics = contrastive.nt_xent_loss(jnp.asarray(a), jnp.asarray(b), 0.1)
  np.testing.assert_allclose(float(loss), numpy_nt_xent(a.astype(np.float64),
                                                        b.astype(np.float64), 0.1), rtol=1e-4)
  assert 0.0 <= float(metrics["contrastive_accuracy"]) <= 1.0
  assert 0.0 <= float(metrics["contrastive_entropy"]) <= np.log(16) + 1e-5


def test_perfect_pairs_give_low_loss_and_full_accuracy():
  a = np.eye(8, dtype=np.float32) * 3
  loss, metrics = contrastive.nt_xent_loss(jnp.asarray(a), jnp.asarray(a), 0.05)
  assert float(metrics["contrastive_accuracy"]) == 1.0
  assert float(loss) < 1e-3


def test_loss_and_grads_equal_on_1_and_8_devices(embeddings):
  assert len(jax.devices()) >= 8, "tests/conftest.py should give 8 CPU devices"
  a, b = embeddings
  loss_and_grad = jax.value_and_grad(
      lambda x, y: contrastive.nt_xent_loss(x, y, 0.1)[0], argnums=(0, 1))
  single_loss, single_grads = jax.jit(loss_and_grad)(jnp.asarray(a), jnp.asarray(b))

  mesh = Mesh(np.array(jax.devices()[:8]), ("data",))
  sharded = NamedSharding(mesh, PartitionSpec("data"))
  a8, b8 = jax.device_put(a, sharded), jax.device_put(b, sharded)
  multi_loss, multi_grads = jax.jit(loss_and_grad, out_shardings=(
      NamedSharding(mesh, PartitionSpec()), (sharded, sharded)))(a8, b8)
  assert a8.sharding.num_devices == 8
  np.testing.assert_allclose(float(multi_loss), float(single_loss), rtol=1e-6)
  for g1, g8 in zip(single_grads, multi_grads):
    np.testing.assert_allclose(np.asarray(g8), np.asarray(g1), atol=1e-6)


def test_gradient_matches_finite_differences(embeddings):
  a, b = (x[:4].astype(np.float64) for x in embeddings)
  grad = jax.grad(lambda x: contrastive.nt_xent_loss(x, jnp.asarray(b, jnp.float32), 0.5)[0])(
      jnp.asarray(a, jnp.float32))
  eps = 1e-3
  numeric = np.zeros_like(a)
  for idx in np.ndindex(a.shape):
    plus, minus = a.copy(), a.copy()
    plus[idx] += eps
    minus[idx] -= eps
    numeric[idx] = (numpy_nt_xent(plus, b, 0.5) - numpy_nt_xent(minus, b, 0.5)) / (2 * eps)
  np.testing.assert_allclose(np.asarray(grad), numeric, atol=2e-3)


def test_rejects_bad_shapes():
  with pytest.raises(ValueError, match="equal shape"):
    contrastive.nt_xent_loss(jnp.zeros((4, 3)), jnp.zeros((5, 3)))
  with pytest.raises(ValueError, match="temperature"):
    contrastive.nt_xent_loss(jnp.ones((4, 3)), jnp.ones((4, 3)), 0.0)


def numpy_mixed_nt_xent(a, b, temperature, w1, w2):
  """Slow reference of the mixed-target loss: loops over rows, float64."""
  a = a / np.linalg.norm(a, axis=1, keepdims=True)
  b = b / np.linalg.norm(b, axis=1, keepdims=True)
  n = a.shape[0]
  total = 0.0
  for x, y, wx, wy in ((a, b, w1, w2), (b, a, w2, w1)):
    direction = 0.0
    for i in range(n):
      cross = [x[i] @ y[j] / temperature for j in range(n)]
      same = [x[i] @ x[j] / temperature for j in range(n) if j != i and wx[i] @ wx[j] == 0]
      candidates = np.array(cross + same)
      log_z = candidates.max() + np.log(np.sum(np.exp(candidates - candidates.max())))
      targets = np.array([wx[i] @ wy[j] for j in range(n)])
      targets = targets / targets.sum()
      direction += -sum(t * (c - log_z) for t, c in zip(targets, cross))
    total += direction / n
  return total


def test_mixed_targets_match_numpy_reference(embeddings):
  a, b = embeddings
  rng = np.random.default_rng(1)
  partner = rng.permutation(16)
  lam = rng.uniform(0.2, 1.0, size=16)
  w1 = np.diag(lam) + (1 - lam)[:, None] * np.eye(16)[partner]  # STC-mix on view 1
  loss, metrics = contrastive.nt_xent_loss(jnp.asarray(a), jnp.asarray(b), 0.5,
                                           mixing_1=jnp.asarray(w1, jnp.float32))
  np.testing.assert_allclose(float(loss), numpy_mixed_nt_xent(
      a.astype(np.float64), b.astype(np.float64), 0.5, w1, np.eye(16)), rtol=1e-4)
  assert 0.0 <= float(metrics["contrastive_accuracy"]) <= 1.0


def test_identity_mixing_is_the_plain_loss_and_a_recorded_permutation_changes_nothing(
    embeddings):
  a, b = (jnp.asarray(x) for x in embeddings)
  plain, _ = contrastive.nt_xent_loss(a, b, 0.1)
  identity, _ = contrastive.nt_xent_loss(a, b, 0.1, mixing_2=jnp.eye(16))
  np.testing.assert_allclose(float(identity), float(plain), rtol=1e-6)
  order = np.random.default_rng(2).permutation(16)
  permuted, metrics = contrastive.nt_xent_loss(a[order], b, 0.1,
                                               mixing_1=jnp.eye(16)[order])
  np.testing.assert_allclose(float(permuted), float(plain), rtol=1e-5)
  assert float(metrics["contrastive_accuracy"]) == float(
      contrastive.nt_xent_loss(a, b, 0.1)[1]["contrastive_accuracy"])
