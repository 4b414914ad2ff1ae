"""NCE and MIL-NCE, asymmetric (VATT) and symmetric: NumPy references with masks and several
positives; 1 == 8 devices."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jvrl.losses import multimodal


def _normalize(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _log_sum_exp(values):
  values = np.asarray(values, np.float64)
  top = values.max()
  return top + np.log(np.sum(np.exp(values - top)))


def numpy_nce(a, b, temperature, mask=None):
  """Slow reference: explicit loops over valid pairs, float64."""
  a, b = _normalize(a.astype(np.float64)), _normalize(b.astype(np.float64))
  valid = np.ones(len(a), bool) if mask is None else np.asarray(mask)
  rows = np.flatnonzero(valid)
  if rows.size == 0:
    return 0.0
  directions = []
  for x, y in ((a, b), (b, a)):
    losses = [-(x[i] @ y[i] / temperature - _log_sum_exp([x[i] @ y[j] / temperature
                                                          for j in rows]))
              for i in rows]
    directions.append(np.mean(losses))
  return 0.5 * sum(directions)


def numpy_mil_nce(video, text, temperature, caption_mask=None, video_mask=None):
  """Slow reference of the module docstring's formula, float64."""
  v, t = _normalize(video.astype(np.float64)), _normalize(text.astype(np.float64))
  batch, num_captions, _ = t.shape
  captions = (np.ones((batch, num_captions), bool) if caption_mask is None
              else np.asarray(caption_mask, bool))
  clips = captions.any(axis=1) & (True if video_mask is None else np.asarray(video_mask))
  s = lambda i, j, k: v[i] @ t[j, k] / temperature  # noqa: E731
  losses = []
  for i in np.flatnonzero(clips):
    positives = [s(i, i, k) for k in range(num_captions) if captions[i, k]]
    negatives = [s(i, j, k) for j in np.flatnonzero(clips) if j != i
                 for k in range(num_captions) if captions[j, k]]
    negatives += [s(j, i, k) for j in np.flatnonzero(clips) if j != i
                  for k in range(num_captions) if captions[i, k]]
    losses.append(_log_sum_exp(positives + negatives) - _log_sum_exp(positives))
  return float(np.mean(losses)) if losses else 0.0


def numpy_asymmetric_nce(video, candidates, temperature, present=None, candidate_mask=None):
  """Slow reference of VATT's AsymmetricNCE._calculate_nce (objectives.py), float64.

  For clip i: log-sum-exp over s(v_i, c_jk) for every present clip j (the
  reference's local2all, masked by embed_2_mask of j) and s(v_j, c_ik) for every
  clip j (all2local, masked by clip i's own mask), minus the log-sum-exp over
  its own candidates; the mean over present clips.
  """
  v = _normalize(video.astype(np.float64))
  c = _normalize(candidates.astype(np.float64))
  if c.ndim == 2:
    c = c[:, None]
  batch, num_candidates, _ = c.shape
  valid = (np.ones((batch, num_candidates), bool) if candidate_mask is None
           else np.asarray(candidate_mask, bool).copy())
  clips = valid.any(axis=1) & (True if present is None else np.asarray(present, bool))
  valid &= clips[:, None]
  s = lambda i, j, k: v[i] @ c[j, k] / temperature  # noqa: E731
  losses = []
  for i in np.flatnonzero(clips):
    positives = [s(i, i, k) for k in range(num_candidates) if valid[i, k]]
    local2all = [s(i, j, k) for j in range(batch) for k in range(num_candidates) if valid[j, k]]
    all2local = [s(j, i, k) for j in range(batch) for k in range(num_candidates) if valid[i, k]]
    losses.append(_log_sum_exp(local2all + all2local) - _log_sum_exp(positives))
  return float(np.mean(losses)) if losses else 0.0


@pytest.fixture(scope="module")
def embeddings():
  rng = np.random.default_rng(0)
  return (rng.normal(size=(16, 8)).astype(np.float32),
          rng.normal(size=(16, 8)).astype(np.float32),
          rng.normal(size=(16, 3, 8)).astype(np.float32))


@pytest.fixture(scope="module")
def masks():
  rng = np.random.default_rng(1)
  audio = rng.random(16) < 0.7
  captions = rng.random((16, 3)) < 0.6
  captions[0] = False           # a clip without any caption
  captions[1] = [True] * 3      # one with three positives
  return audio, captions


def test_nce_matches_numpy_reference(embeddings, masks):
  video, audio, _ = embeddings
  audio_mask, _ = masks
  for temperature, mask in ((0.07, None), (0.5, audio_mask)):
    loss, metrics = multimodal.nce_loss(jnp.asarray(video), jnp.asarray(audio), temperature,
                                        mask=mask)
    np.testing.assert_allclose(float(loss), numpy_nce(video, audio, temperature, mask),
                               rtol=1e-5)
    assert 0.0 <= float(metrics["accuracy"]) <= 1.0
  np.testing.assert_allclose(float(metrics["valid_fraction"]), audio_mask.mean())


def test_mil_nce_matches_numpy_reference_with_several_positives_and_masks(embeddings, masks):
  video, _, text = embeddings
  audio_mask, caption_mask = masks
  cases = [dict(), dict(caption_mask=caption_mask),
           dict(caption_mask=caption_mask, video_mask=audio_mask)]
  for kwargs in cases:
    loss, metrics = multimodal.mil_nce_loss(jnp.asarray(video), jnp.asarray(text), 0.07,
                                            **kwargs)
    np.testing.assert_allclose(float(loss), numpy_mil_nce(video, text, 0.07, **kwargs),
                               rtol=1e-5, err_msg=str(kwargs.keys()))
  assert float(metrics["valid_fraction"]) == np.mean(caption_mask.any(1) & audio_mask)


def test_asymmetric_nce_matches_numpy_reference(embeddings, masks):
  video, audio, text = embeddings
  audio_mask, caption_mask = masks
  cases = [(audio, dict()), (audio, dict(present=audio_mask)), (text, dict()),
           (text, dict(candidate_mask=caption_mask)),
           (text, dict(candidate_mask=caption_mask, present=audio_mask))]
  for candidates, kwargs in cases:
    loss, metrics = multimodal.asymmetric_nce_loss(jnp.asarray(video), jnp.asarray(candidates),
                                                   0.07, **kwargs)
    np.testing.assert_allclose(
        float(loss), numpy_asymmetric_nce(video, candidates, 0.07, **kwargs), rtol=1e-5,
        err_msg=str((candidates.shape, kwargs.keys())))
    assert 0.0 <= float(metrics["accuracy"]) <= 1.0
  assert float(metrics["valid_fraction"]) == np.mean(caption_mask.any(1) & audio_mask)


def test_asymmetric_form_counts_positives_twice_and_keeps_absent_clips_videos():
  # One clip: the positive is in the softmax from both directions, so the loss of a
  # perfectly matched pair is log 2 (the symmetric form gives 0).
  asymmetric = jax.jit(lambda v, c, p=None: multimodal.asymmetric_nce_loss(v, c, 0.07, p)[0])
  symmetric = jax.jit(lambda v, c, p=None: multimodal.nce_loss(v, c, 0.07, p)[0])
  one = np.ones((1, 4), np.float32)
  np.testing.assert_allclose(float(asymmetric(one, one)), np.log(2.0), rtol=1e-6)
  assert float(symmetric(one, one)) < 1e-6
  # A clip without audio is no query and its audio no negative, but its video is
  # still a negative for the other clips' audio (VATT masks the candidate side only).
  rng = np.random.default_rng(3)
  video, audio = rng.normal(size=(2, 5, 8)).astype(np.float32)
  present = np.array([True, True, True, True, False])
  other_video = video.copy()
  other_video[4] = rng.normal(size=8)
  other_audio = audio.copy()
  other_audio[4] = rng.normal(size=8)
  base = float(asymmetric(video, audio, present))
  assert float(asymmetric(video, other_audio, present)) == base
  assert float(asymmetric(other_video, audio, present)) != base
  assert float(symmetric(other_video, audio, present)) == float(symmetric(video, audio, present))


def test_masked_entries_change_nothing_and_all_masked_gives_zero(embeddings, masks):
  video, audio, text = embeddings
  audio_mask, caption_mask = masks
  garbage_audio = np.where(audio_mask[:, None], audio, 1e3)
  garbage_text = np.where(caption_mask[..., None], text, -5.0)
  base = multimodal.nce_loss(video, audio, 0.07, audio_mask)[0]
  np.testing.assert_allclose(multimodal.nce_loss(video, garbage_audio, 0.07, audio_mask)[0],
                             base, rtol=1e-6)
  base = multimodal.mil_nce_loss(video, text, 0.07, caption_mask)[0]
  np.testing.assert_allclose(multimodal.mil_nce_loss(video, garbage_text, 0.07,
                                                     caption_mask)[0], base, rtol=1e-6)
  grad = jax.grad(lambda v: multimodal.nce_loss(v, audio, 0.07, np.zeros(16, bool))[0])(video)
  assert float(multimodal.nce_loss(video, audio, 0.07, np.zeros(16, bool))[0]) == 0.0
  assert np.all(np.asarray(grad) == 0.0)
  no_captions = np.zeros((16, 3), bool)
  assert float(multimodal.mil_nce_loss(video, text, 0.07, no_captions)[0]) == 0.0


def test_matched_embeddings_give_low_loss_and_full_accuracy():
  eye = np.eye(8, dtype=np.float32)
  loss, metrics = multimodal.nce_loss(eye, eye, 0.07)
  assert float(loss) < 1e-3 and float(metrics["accuracy"]) == 1.0
  text = np.stack([eye, eye + 0.01], axis=1)  # two positives per clip
  loss, metrics = multimodal.mil_nce_loss(eye, text, 0.07)
  assert float(metrics["accuracy"]) == 1.0 and float(loss) < 1e-3 + np.log(2)


def test_losses_and_grads_equal_on_1_and_8_devices(embeddings, masks):
  assert len(jax.devices()) >= 8, "tests/conftest.py should give 8 CPU devices"
  video, audio, text = embeddings
  audio_mask, caption_mask = masks

  def total(v, a, t, am, cm):
    return (multimodal.nce_loss(v, a, 0.07, am)[0]
            + multimodal.mil_nce_loss(v, t, 0.07, cm)[0]
            + multimodal.asymmetric_nce_loss(v, a, 0.07, present=am)[0]
            + multimodal.asymmetric_nce_loss(v, t, 0.07, candidate_mask=cm)[0])

  loss_and_grad = jax.value_and_grad(total, argnums=(0, 1, 2))
  args = (video, audio, text, audio_mask, caption_mask)
  single_loss, single_grads = jax.jit(loss_and_grad)(*map(jnp.asarray, args))

  mesh = Mesh(np.array(jax.devices()[:8]), ("data",))
  sharded = NamedSharding(mesh, PartitionSpec("data"))
  placed = [jax.device_put(x, sharded) for x in args]
  assert placed[2].sharding.num_devices == 8
  multi_loss, multi_grads = jax.jit(loss_and_grad, out_shardings=(
      NamedSharding(mesh, PartitionSpec()), (sharded, sharded, sharded)))(*placed)
  np.testing.assert_allclose(float(multi_loss), float(single_loss), rtol=1e-6)
  for g1, g8 in zip(single_grads, multi_grads):
    np.testing.assert_allclose(np.asarray(g8), np.asarray(g1), atol=1e-6)


def test_rejects_bad_shapes():
  with pytest.raises(ValueError, match="equal shape"):
    multimodal.nce_loss(jnp.zeros((4, 3)), jnp.zeros((5, 3)))
  with pytest.raises(ValueError, match=r"text \[B, K, D\]"):
    multimodal.mil_nce_loss(jnp.zeros((4, 3)), jnp.zeros((4, 3)))
  with pytest.raises(ValueError, match="temperature"):
    multimodal.nce_loss(jnp.ones((4, 3)), jnp.ones((4, 3)), 0.0)
