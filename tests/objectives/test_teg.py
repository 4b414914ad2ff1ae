"""TeG: the fine loss against a NumPy reference and on 1 vs 8 devices, the short clip
inside the long clip at a whole timestep, the encoder's timesteps, and the loss wiring."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import counting_video, parsed_examples, without_view_augmentation
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from configs import teg_synthetic
from jvrl.data.tf_setup import tf
from jvrl.objectives import build_objective
from jvrl.objectives import teg
from jvrl.objectives.teg import losses


@pytest.fixture
def tiny_teg_config(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.objective = "teg"
  config.teg = teg_synthetic.get_config().teg
  config.data.clip_length, config.teg.long_clip_length = 8, 16
  config.teg.long_crop_size = 12
  return config


def numpy_aligned_timestep_loss(short, long, offsets, temperature):
  """Slow reference: explicit loops, float64."""
  short = short / np.linalg.norm(short, axis=-1, keepdims=True)
  long = long / np.linalg.norm(long, axis=-1, keepdims=True)
  batch, short_steps, _ = short.shape
  long_steps = long.shape[1]
  long_rows = long.reshape(batch * long_steps, -1)
  short_rows = short.reshape(batch * short_steps, -1)
  forward, backward = [], []
  for i in range(batch):
    for k in range(short_steps):
      positive = i * long_steps + offsets[i] + k
      logits = long_rows @ short[i, k] / temperature
      forward.append(-(logits[positive] - np.log(np.sum(np.exp(logits)))))
      logits = short_rows @ long_rows[positive] / temperature
      backward.append(-(logits[i * short_steps + k] - np.log(np.sum(np.exp(logits)))))
  return np.mean(forward) + np.mean(backward)


@pytest.fixture(scope="module")
def steps():
  rng = np.random.default_rng(0)
  return (rng.normal(size=(8, 2, 6)).astype(np.float32),
          rng.normal(size=(8, 4, 6)).astype(np.float32),
          rng.integers(0, 3, 8).astype(np.int32))


def test_fine_loss_matches_numpy_reference(steps):
  short, long, offsets = steps
  loss, metrics = losses.aligned_timestep_loss(jnp.asarray(short), jnp.asarray(long),
                                               jnp.asarray(offsets), 0.5)
  np.testing.assert_allclose(float(loss), numpy_aligned_timestep_loss(
      short.astype(np.float64), long.astype(np.float64), offsets, 0.5), rtol=1e-5)
  assert 0.0 <= float(metrics["fine_accuracy"]) <= 1.0


def test_fine_loss_finds_time_aligned_timesteps(steps):
  _, long, offsets = steps
  long = 3 * np.eye(32, dtype=np.float32).reshape(8, 4, 32)  # every timestep its own axis
  short = np.stack([long[i, offsets[i]:offsets[i] + 2] for i in range(8)])
  loss, metrics = losses.aligned_timestep_loss(jnp.asarray(short), jnp.asarray(long),
                                               jnp.asarray(offsets), 0.05)
  assert float(metrics["fine_accuracy"]) == 1.0 and float(loss) < 1e-3


def test_fine_loss_and_grads_equal_on_1_and_8_devices(steps):
  short, long, offsets = steps
  fn = jax.value_and_grad(lambda s, l, o: losses.aligned_timestep_loss(s, l, o, 0.2)[0],
                          argnums=(0, 1))
  single = jax.jit(fn)(short, long, offsets)
  mesh = Mesh(np.array(jax.devices()[:8]), ("data",))
  sharded = NamedSharding(mesh, PartitionSpec("data"))
  args = [jax.device_put(x, sharded) for x in (short, long, offsets)]
  multi = jax.jit(fn)(*args)
  assert args[0].sharding.num_devices == 8
  np.testing.assert_allclose(float(multi[0]), float(single[0]), rtol=1e-6)
  for got, want in zip(multi[1], single[1]):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6)


def test_encoder_timesteps_decide_where_the_short_clip_may_start(tiny_teg_config):
  assert teg.timestep_frames(tiny_teg_config) == (8, 2, 1)
  tiny_teg_config.teg.long_clip_length = 12
  with pytest.raises(ValueError, match="long_clip_length=12"):
    teg.timestep_frames(tiny_teg_config)


def test_short_clip_is_read_inside_the_long_one_at_a_whole_timestep(tiny_teg_config):
  config = without_view_augmentation(tiny_teg_config)
  preprocess = teg.make_teg_preprocess(config, frames_per_step=8)
  example = parsed_examples([counting_video(40)])[0]
  offsets = []
  for seed in range(12):
    out = preprocess(example, tf.constant([4, seed], tf.int64))
    assert out["long"].shape == (16, 12, 12, 3) and out["short"].shape == (8, 16, 16, 3)
    long_frames = np.asarray(out["long"])[:, 0, 0, 0].astype(int) // 2
    short_frames = np.asarray(out["short"])[:, 0, 0, 0].astype(int) // 2
    offset = int(out["short_offset"])
    np.testing.assert_array_equal(np.diff(long_frames), config.data.frame_stride)
    np.testing.assert_array_equal(short_frames, long_frames[8 * offset:8 * offset + 8])
    offsets.append(offset)
  assert set(offsets) == {0, 1}


def test_model_outputs_and_weighted_loss(tiny_teg_config):
  config = tiny_teg_config
  config.teg.fine_weight = 0.5
  objective = build_objective(config)
  batch = {"long": jax.ShapeDtypeStruct((4, 16, 12, 12, 3), jnp.uint8),
           "short": jax.ShapeDtypeStruct((4, 8, 16, 16, 3), jnp.uint8),
           "short_offset": jax.ShapeDtypeStruct((4,), jnp.int32)}
  variables = jax.eval_shape(lambda b: objective.model.init(jax.random.key(0), b, train=False),
                             batch)
  assert set(variables["params"]) == {"encoder", "projection", "fine_projection"}
  outputs = jax.eval_shape(lambda v, b: objective.model.apply(
      v, b, train=True, mutable=["batch_stats"])[0], variables, batch)
  dim = config.cvrl.projection_dim
  assert outputs["long_steps"].shape == (4, 2, dim) and outputs["short_steps"].shape == (4, 1, dim)
  assert outputs["short_embedding"].shape == (4, dim)
  rng = np.random.default_rng(0)
  outputs = {k: jnp.asarray(rng.normal(size=v.shape), jnp.float32) for k, v in outputs.items()}
  loss, metrics = objective.loss_fn(outputs, {"short_offset": np.array([0, 1, 1, 0], np.int32)})
  np.testing.assert_allclose(loss, 0.5 * metrics["fine_loss"] + metrics["coarse_loss"],
                             rtol=1e-6)
  assert {"fine_accuracy", "contrastive_accuracy"} <= set(metrics)


def test_examples_have_static_shapes_in_tf_data(tiny_teg_config):
  """The train state is built from the batch spec, so tf.data must know every clip dimension
  (the short clip is sliced at a random offset)."""
  preprocess = teg.make_teg_preprocess(tiny_teg_config, frames_per_step=8)
  example = parsed_examples([counting_video(40)])[0]
  dataset = tf.data.Dataset.from_tensors((example, tf.constant([4, 0], tf.int64))).map(
      preprocess)  # the seed is an element, as in the pipeline: the offset is not a constant
  assert dataset.element_spec["long"].shape == (16, 12, 12, 3)
  assert dataset.element_spec["short"].shape == (8, 16, 16, 3)
