"""CVRL objective: the two views, the model outputs and the loss wiring."""
import jax
import jax.numpy as jnp
import numpy as np

from jvrl.data import pipeline
from jvrl.objectives import build_objective


def test_preprocess_gives_two_uint8_views_of_the_configured_shape(tiny_cvrl_config):
  config = tiny_cvrl_config
  objective = build_objective(config)
  dataset = pipeline.make_train_dataset(config, objective.preprocess_train, 4)
  batch = next(dataset.as_numpy_iterator())
  t, s = config.data.clip_length, config.data.crop_size
  assert set(batch) == {"view1", "view2"}
  for view in batch.values():
    assert view.shape == (4, t, s, s, 3) and view.dtype == np.uint8
  # The views are augmented independently: never identical.
  assert not np.array_equal(batch["view1"], batch["view2"])


def test_train_dataset_is_deterministic_and_resumable(tiny_cvrl_config):
  config = tiny_cvrl_config
  objective = build_objective(config)
  first = pipeline.make_train_dataset(config, objective.preprocess_train, 4)
  batches = [b for _, b in zip(range(3), first.as_numpy_iterator())]
  again = next(pipeline.make_train_dataset(config, objective.preprocess_train, 4)
               .as_numpy_iterator())
  np.testing.assert_array_equal(again["view1"], batches[0]["view1"])
  resumed = next(pipeline.make_train_dataset(config, objective.preprocess_train, 4,
                                             start_example=8).as_numpy_iterator())
  np.testing.assert_array_equal(resumed["view1"], batches[2]["view1"])
  np.testing.assert_array_equal(resumed["view2"], batches[2]["view2"])


def test_model_embeds_both_views_and_loss_is_finite(tiny_cvrl_config):
  config = tiny_cvrl_config
  objective = build_objective(config)
  shape = (4, config.data.clip_length, config.data.crop_size, config.data.crop_size, 3)
  rng = np.random.default_rng(0)
  batch = {"view1": rng.integers(0, 256, shape, np.uint8),
           "view2": rng.integers(0, 256, shape, np.uint8)}
  with jax.threefry_partitionable(False):
    variables = objective.model.init(jax.random.key(0), batch, train=False)
  assert set(variables["params"]) == {"encoder", "projection"}
  outputs, _ = objective.model.apply(variables, batch, train=True, mutable=["batch_stats"])
  assert outputs["embeddings_1"].shape == (4, config.cvrl.projection_dim)
  loss, metrics = objective.loss_fn(outputs, batch)
  assert jnp.isfinite(loss) and set(metrics) == {"contrastive_accuracy", "contrastive_entropy"}


def test_projection_head_batch_norm_is_cvrls(tiny_cvrl_config):
  """Head BN momentum 0.997, epsilon 1e-5 (video_ssl.py hidden_norm_activation)."""
  projection = build_objective(tiny_cvrl_config).model.projection
  assert (projection.bn_momentum, projection.bn_epsilon) == (0.997, 1e-5)
