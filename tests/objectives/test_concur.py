"""ConCur: the curriculum's schedule and sampling statistics, distance labels, exact
resume of the curriculum sampler, and the objective's outputs and loss."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import counting_video, parsed_examples, without_view_augmentation

from configs import concur_synthetic
from jvrl.data import pipeline
from jvrl.data.tf_setup import tf
from jvrl.objectives import build_objective
from jvrl.objectives import concur
from jvrl.objectives.concur import curriculum


@pytest.fixture
def tiny_concur_config(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.objective = "concur"
  config.concur = concur_synthetic.get_config().concur
  config.concur.head_hidden_dim = 8
  return config


def test_schedules_grow_from_the_start_fraction_to_the_whole_video():
  linear = [float(curriculum.gap_fraction(s, 100, end_step_fraction=0.5)) for s in
            (0, 10, 25, 50, 99)]
  np.testing.assert_allclose(linear, [0.0, 0.2, 0.5, 1.0, 1.0], atol=1e-6)
  stages = [float(curriculum.gap_fraction(s, 100, schedule="stages", start_fraction=0.2,
                                          end_step_fraction=1.0, num_stages=4))
            for s in (0, 24, 25, 74, 75, 99, 100)]
  np.testing.assert_allclose(stages, [0.2, 0.2, 0.4, 0.6, 0.8, 0.8, 1.0], atol=1e-6)


def _sample_many(num_frames, fraction, distribution, count=3000):
  """`count` clip pairs (8 frames, stride 2) sampled in one tf.data pass."""
  def sample(i):
    return curriculum.sample_clip_pair(
        tf.constant(num_frames), 8, 2, tf.constant(fraction), tf.stack([tf.constant(7, tf.int64), i]),
        distribution=distribution, num_bins=4)
  return next(tf.data.Dataset.range(count).map(sample).batch(count).as_numpy_iterator())


@pytest.mark.parametrize("fraction, distribution", [(0.0, "uniform"), (0.5, "uniform"),
                                                    (1.0, "uniform"), (0.5, "cvrl")])
def test_gaps_respect_the_allowed_range_with_the_configured_distribution(fraction, distribution):
  out = _sample_many(32, fraction, distribution)
  full = 32 - 7 * 2  # CVRL's M for L=32, T=8, s=2
  allowed = max(1, round(fraction * full))
  assert np.all(out["max_gap"] == allowed)
  starts = out["starts"]
  np.testing.assert_array_equal(out["gap"], np.abs(starts[:, 1] - starts[:, 0]))
  assert starts.min() >= 0 and starts.max() <= full - 1  # both clips inside the video
  assert out["gap"].max() <= allowed - 1
  counts = np.bincount(out["gap"], minlength=allowed)
  if distribution == "uniform":
    expected = np.full(allowed, len(out["gap"]) / allowed)
  else:  # CVRL's discretised linear density on [0, G): (2 (G - j) - 1) / G^2
    j = np.arange(allowed)
    expected = len(out["gap"]) * (2 * (allowed - j) - 1) / allowed ** 2
  assert np.all(np.abs(counts - expected) <= 5 * np.sqrt(expected) + 1)
  # Distance label: the gap's bin among 4 equal bins of [0, M).
  np.testing.assert_array_equal(out["distance_label"],
                                np.minimum(out["gap"] * 4 // full, 3))
  if allowed > 1:  # either clip comes first
    moved = out["gap"] > 0
    assert np.mean(starts[moved, 0] > starts[moved, 1]) == pytest.approx(0.5, abs=0.05)


def test_views_are_read_the_gap_apart_with_the_label_of_that_gap(tiny_concur_config):
  config = without_view_augmentation(tiny_concur_config)
  config.train.num_steps, config.concur.end_step_fraction = 10, 1.0
  preprocess = concur.make_concur_preprocess(config)
  stride, full = config.data.frame_stride, 32 - (config.data.clip_length - 1) * 2
  for step in (0, 5, 10):
    example = parsed_examples([counting_video(32)], step=step)[0]
    for seed in range(6):
      out = preprocess(example, tf.constant([step, seed], tf.int64))
      first, second = (np.asarray(out[k])[:, 0, 0, 0].astype(int) // 2
                       for k in ("view1", "view2"))
      np.testing.assert_array_equal(np.diff(first), stride)
      gap = abs(int(second[0]) - int(first[0]))
      assert gap <= max(1, round(step / 10 * full)) - 1
      assert int(out["distance"]) == min(gap * 4 // full, 3)
      assert float(out["gap_fraction"]) == pytest.approx(step / 10)


def test_the_curriculum_is_exact_across_a_resume(tiny_concur_config):
  """The curriculum follows each batch's step; a stream resumed at example 8 (step 2)
  gives exactly the batches the uninterrupted stream gave from there."""
  config = tiny_concur_config
  config.train.num_steps, config.concur.end_step_fraction = 4, 1.0
  objective = build_objective(config)
  full = [b for _, b in zip(range(4), pipeline.make_train_dataset(
      config, objective.preprocess_train, 4).as_numpy_iterator())]
  np.testing.assert_allclose([b["gap_fraction"][0] for b in full], [0.0, 0.25, 0.5, 0.75])
  for batch in full:
    assert np.all(batch["gap_fraction"] == batch["gap_fraction"][0])
  resumed = pipeline.make_train_dataset(config, objective.preprocess_train, 4,
                                        start_example=8).as_numpy_iterator()
  for want in full[2:]:
    got = next(resumed)
    assert set(got) == set(want)
    for key in want:
      np.testing.assert_array_equal(got[key], want[key])


def test_model_outputs_and_loss(tiny_concur_config):
  config = tiny_concur_config
  objective = build_objective(config)
  shape = (4, config.data.clip_length, config.data.crop_size, config.data.crop_size, 3)
  batch = {"view1": jax.ShapeDtypeStruct(shape, jnp.uint8),
           "view2": jax.ShapeDtypeStruct(shape, jnp.uint8),
           "distance": jax.ShapeDtypeStruct((4,), jnp.int32),
           "gap_fraction": jax.ShapeDtypeStruct((4,), jnp.float32)}
  variables = jax.eval_shape(lambda b: objective.model.init(jax.random.key(0), b, train=False),
                             batch)
  assert set(variables["params"]) == {"encoder", "projection", "distance_head"}
  outputs = jax.eval_shape(lambda v, b: objective.model.apply(
      v, b, train=True, mutable=["batch_stats"])[0], variables, batch)
  assert outputs["distance_logits"].shape == (4, config.concur.distance_bins)
  rng = np.random.default_rng(0)
  outputs = {k: jnp.asarray(rng.normal(size=v.shape), jnp.float32) for k, v in outputs.items()}
  labels = {"distance": np.array([0, 1, 2, 3], np.int32),
            "gap_fraction": np.full(4, 0.5, np.float32)}
  loss, metrics = objective.loss_fn(outputs, labels)
  np.testing.assert_allclose(
      loss, metrics["contrastive_loss"] + config.concur.distance_weight
      * metrics["distance_loss"], rtol=1e-6)
  logits = np.asarray(outputs["distance_logits"], np.float64)
  log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
  np.testing.assert_allclose(metrics["distance_loss"],
                             -log_probs[np.arange(4), labels["distance"]].mean(), rtol=1e-5)
  assert float(metrics["gap_fraction"]) == 0.5 and jnp.isfinite(loss)


@pytest.mark.parametrize("field, value, message", [
    ("schedule", "cosine", "schedule"), ("end_step_fraction", 0.0, "end_step_fraction"),
    ("distance_bins", 1, "distance_bins"), ("start_fraction", 1.5, "start_fraction")])
def test_bad_concur_config_raises(tiny_concur_config, field, value, message):
  tiny_concur_config.concur[field] = value
  with pytest.raises(ValueError, match=message):
    concur.check_config(tiny_concur_config)
