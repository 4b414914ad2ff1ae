"""Combined objectives: CVRL + PRP on one shared encoder, with weights."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import prp_synthetic
from jvrl.data import pipeline
from jvrl.objectives import build_objective
from jvrl.objectives import combined


@pytest.fixture
def tiny_combined_config(tiny_cvrl_config):
  """The tiny CVRL config plus PRP's section, 8-frame clips (PRP's decoder needs T % 8 == 0)."""
  config = tiny_cvrl_config
  config.objective = "combined"
  config.combined = dict(cvrl=1.0, prp=0.5)
  config.prp = prp_synthetic.get_config().prp
  config.prp.rates = (1, 2, 4)
  config.prp.resize_short_side = 16
  config.data.clip_length = 8
  config.model_name = "r3d_prp"
  return config


def test_batches_hold_every_members_inputs_under_its_name(tiny_combined_config):
  config = tiny_combined_config
  objective = build_objective(config)
  batch = next(pipeline.make_train_dataset(config, objective.preprocess_train, 4)
               .as_numpy_iterator())
  assert {"cvrl/view1", "cvrl/view2", "prp/clip", "prp/target", "prp/target_valid",
          "prp/rate"} <= set(batch)
  assert batch["cvrl/view1"].shape == (4, 8, 16, 16, 3)
  assert batch["prp/target"].shape == (4, 16, 16, 16, 3)
  assert batch["prp/motion_frames"].shape == (4, 16, 16, 16, 3)  # 4 frames x 4 chunks
  assert objective.clips_per_example == 3


def test_one_shared_encoder_and_weighted_loss(tiny_combined_config):
  config = tiny_combined_config
  objective = build_objective(config)
  rng = np.random.default_rng(0)
  video = lambda t: rng.integers(0, 256, (4, t, 16, 16, 3), np.uint8)
  batch = {"cvrl/view1": video(8), "cvrl/view2": video(8), "prp/clip": video(8),
           "prp/target": video(16), "prp/target_valid": np.ones((4, 16), np.float32),
           "prp/rate": np.array([0, 1, 2, 0], np.int32), "prp/motion_frames": video(16)}
  with jax.threefry_partitionable(False):
    variables = jax.jit(lambda b: objective.model.init(jax.random.key(0), b, train=False))(batch)
  params = variables["params"]
  assert set(params) == {"encoder", "cvrl", "prp"}
  assert set(params["cvrl"]) == {"projection"}
  assert set(params["prp"]) == {"rate_head", "decoder"}  # no second encoder

  def member_losses(p):
    outputs, _ = objective.model.apply({**variables, "params": p}, batch, train=True,
                                       mutable=["batch_stats"])
    loss, metrics = objective.loss_fn(outputs, batch)
    return jnp.stack([metrics["cvrl/loss"], metrics["prp/loss"]]), (loss, metrics, outputs)

  # One compile: the two member losses' gradients (a 2-row Jacobian) and the rest.
  grads, (loss, metrics, outputs) = jax.jit(jax.jacrev(member_losses, has_aux=True))(params)
  assert set(outputs) == {"cvrl/embeddings_1", "cvrl/embeddings_2", "prp/rate_logits",
                          "prp/reconstruction"}
  np.testing.assert_allclose(loss, metrics["cvrl/loss"] + 0.5 * metrics["prp/loss"], rtol=1e-5)
  assert {"cvrl/contrastive_accuracy", "prp/rate_accuracy",
          "prp/reconstruction_loss"} <= set(metrics)
  # Both objectives train the shared encoder; each trains only its own heads.
  encoder_grads = [np.abs(g).reshape(2, -1).sum(axis=1)
                   for g in jax.tree.leaves(grads["encoder"])]
  assert np.all(np.sum(encoder_grads, axis=0) > 0)
  assert all(np.all(np.asarray(g)[1] == 0) for g in jax.tree.leaves(grads["cvrl"]))
  assert all(np.all(np.asarray(g)[0] == 0) for g in jax.tree.leaves(grads["prp"]))


def test_split_batch():
  batch = {"a/x": 1, "a/y": 2, "ab/x": 3, "b/x": 4}
  assert combined.split_batch(batch, "a") == {"x": 1, "y": 2}


@pytest.mark.parametrize("weights, message", [
    (dict(cvrl=1.0, simclr=1.0), "simclr"), (dict(combined=1.0), "itself"),
    (dict(cvrl=-1.0), ">= 0"), ({}, "at least one")])
def test_bad_combinations_raise(tiny_combined_config, weights, message):
  tiny_combined_config.combined = weights
  with pytest.raises(ValueError, match=message):
    build_objective(tiny_combined_config)
