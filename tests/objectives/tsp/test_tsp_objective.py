"""Tests of the TSP / TAC objective: units through tf.data, heads, masked losses, steps."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvrl.data import feature_files
from jvrl.data import pipeline
from jvrl.data import sources
from jvrl.data.tf_setup import tf
from jvrl.objectives import build_objective
from jvrl.objectives.tsp import model as model_lib

from conftest import train_steps


def _gvf_file(config, path, dim=4):
  """A GVF per train video: the video's index in its first entry (to check lookups)."""
  keys = [feature_files.video_key(f) for f in _train_filenames(config)]
  with feature_files.FeatureWriter(path) as writer:
    for index, key in enumerate(keys):
      writer.write(key, np.full((dim,), float(index), np.float32))
  return keys


def _train_filenames(config):
  examples = sources.make_example_dataset(config.data, "train", shuffle_files=False, seed=0)
  return [e["filename"].decode() for e in examples.as_numpy_iterator()]


def test_tsp_examples_carry_their_labels_and_their_video_s_gvf(tiny_tsp_config, tmp_path):
  config = tiny_tsp_config
  sources.prepare_data_source(config.data)
  keys = _gvf_file(config, str(tmp_path / "gvf.h5"))
  config.tsp.gvf_file = str(tmp_path / "gvf.h5")
  objective = build_objective(config)
  assert objective.name == "tsp" and objective.expand_example is not None
  units = next(iter(sources.make_example_dataset(config.data, "train", shuffle_files=False,
                                                 seed=0).flat_map(objective.expand_example)))
  example = {k: v.numpy() for k, v in objective.preprocess_train(
      units, tf.constant([0, 1], tf.int64)).items()}
  assert example["clip"].shape == (4, 16, 16, 3) and example["clip"].dtype == np.uint8
  video_index = keys.index(feature_files.video_key(units["filename"].numpy().decode()))
  np.testing.assert_array_equal(example["gvf"], np.full((4,), float(video_index)))
  dataset = pipeline.make_train_dataset(config, objective.preprocess_train, 8,
                                        expand_example=objective.expand_example)
  for batch in dataset.take(5).as_numpy_iterator():
    assert set(batch) == {"clip", "action_label", "region_label", "gvf"}
    np.testing.assert_array_equal(batch["region_label"], batch["action_label"] >= 0)
    assert np.all((batch["action_label"] >= -1) & (batch["action_label"] < 10))


def test_resume_sees_the_same_units(tiny_tsp_config):
  """Positions count units: starting at unit k gives the uninterrupted stream from k."""
  config = tiny_tsp_config
  config.tsp.variant = "tac"
  objective = build_objective(config)

  def stream(start):
    dataset = pipeline.make_train_dataset(config, objective.preprocess_train, 4,
                                          start_example=start, host_fields=True,
                                          expand_example=objective.expand_example)
    return [b for b, _ in zip(dataset.as_numpy_iterator(), range(3))]

  full, resumed = stream(0), stream(8)
  np.testing.assert_array_equal(full[2]["clip"], resumed[0]["clip"])
  np.testing.assert_array_equal(full[2]["_index"], resumed[0]["_index"])


def test_tac_has_no_region_head_and_needs_no_gvf(tiny_tsp_config):
  config = tiny_tsp_config
  config.tsp.variant = "tac"
  objective = build_objective(config)
  batch = {"clip": np.zeros((2, 4, 16, 16, 3), np.uint8)}
  variables = jax.eval_shape(lambda: objective.model.init(jax.random.key(0), batch,
                                                          train=False))
  assert set(variables["params"]) == {"encoder", "action_head"}


def test_tsp_without_gvf_file_says_how_to_get_one(tiny_tsp_config):
  with pytest.raises(ValueError, match="config.tsp.gvf_file is empty"):
    build_objective(tiny_tsp_config)


def _reference_loss(action_logits, region_logits, action_labels, region_labels):
  def ce(logits, label):
    logits = logits - logits.max()
    return np.log(np.exp(logits).sum()) - logits[label]
  fg = [i for i, label in enumerate(action_labels) if label >= 0]
  action = np.mean([ce(action_logits[i], action_labels[i]) for i in fg]) if fg else 0.0
  region = np.mean([ce(region_logits[i], region_labels[i]) for i in range(len(region_labels))])
  return action + 0.5 * region


@pytest.mark.parametrize("labels", [[2, -1, 0, -1, -1, 1], [-1, -1, -1, -1, -1, -1]])
def test_masked_loss_matches_a_reference_and_an_all_background_batch_is_finite(labels):
  rng = np.random.default_rng(0)
  outputs = {"action_logits": rng.normal(size=(6, 3)).astype(np.float32),
             "region_logits": rng.normal(size=(6, 2)).astype(np.float32)}
  labels = np.array(labels, np.int32)
  batch = {"action_label": labels, "region_label": (labels >= 0).astype(np.int32)}
  loss, metrics = model_lib.tsp_loss(outputs, batch, action_weight=1.0, region_weight=0.5)
  expected = _reference_loss(outputs["action_logits"], outputs["region_logits"], labels,
                             batch["region_label"])
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
  assert np.isfinite(float(loss))
  grads = jax.grad(lambda o: model_lib.tsp_loss(o, batch)[0])(
      {k: jnp.asarray(v) for k, v in outputs.items()})
  assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))
  if not np.any(labels >= 0):
    assert float(metrics["action_loss"]) == 0.0
    assert not np.any(np.asarray(grads["action_logits"]))


def test_heads_start_small_and_a_tsp_step_trains(tiny_tsp_config, tmp_path):
  config = tiny_tsp_config
  sources.prepare_data_source(config.data)
  _gvf_file(config, str(tmp_path / "gvf.h5"))
  config.tsp.gvf_file = str(tmp_path / "gvf.h5")
  objective = build_objective(config)
  dataset = pipeline.make_train_dataset(config, objective.preprocess_train, 8,
                                        expand_example=objective.expand_example)
  batches = [b for b, _ in zip(dataset.as_numpy_iterator(), range(2))]
  losses, state, _ = train_steps(config, batches)
  assert all(np.isfinite(losses))
  kernel = np.asarray(state.params["region_head"]["kernel"])
  assert kernel.shape == (32 + 4, 2)  # [feature (512 x 0.0625) || GVF (4)] -> fg / bg
  assert np.std(kernel) < 0.05
