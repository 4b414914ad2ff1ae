"""The trainer's EMA-teacher and memory-queue stages on a tiny MoCo-like objective:
EMA numerics, the queue's ring buffer, exact resume, export, 1 vs 8 devices."""
import dataclasses
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import jitted_train_step, make_tiny_cvrl_config, random_cvrl_batches
from jax.sharding import Mesh

from jvrl.data import device_batches
from jvrl.objectives import base
from jvrl.objectives import cvrl
from jvrl.train import checkpointing
from jvrl.train import ema_teacher
from jvrl.train import memory_queue
from jvrl.train import trainer

QUEUE_SIZE = 16
MOMENTUM = (0.9, 0.99)


def _normalize(x):
  return x / jnp.linalg.norm(x, axis=-1, keepdims=True)


def moco_objective(config) -> base.Objective:
  """CVRL's model as MoCo: queries from the student on view 1, keys from the EMA teacher
  on view 2, negatives from the queue of earlier keys."""
  objective = cvrl.build_objective(config)
  dim = config.cvrl.projection_dim

  def loss_fn(outputs, batch):
    del batch
    q = _normalize(outputs["embeddings_1"])
    k = _normalize(outputs[base.TEACHER_OUTPUTS]["embeddings_2"])
    negatives = outputs[base.QUEUE_OUTPUTS]["keys"]
    logits = jnp.concatenate([jnp.sum(q * k, -1, keepdims=True), q @ negatives.T], 1) / 0.2
    loss = jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[:, 0])
    return loss, {}

  return dataclasses.replace(
      objective, loss_fn=loss_fn,
      teacher=base.Teacher(("encoder", "projection"),
                           base.cosine_momentum(*MOMENTUM, config.train.num_steps)),
      queue=base.MemoryQueue(
          QUEUE_SIZE, {"keys": jax.ShapeDtypeStruct((dim,), jnp.float32)},
          lambda outputs, batch: {"keys": _normalize(
              outputs[base.TEACHER_OUTPUTS]["embeddings_2"])}))


@pytest.fixture
def moco(monkeypatch, synthetic_cache_dir):
  monkeypatch.setattr(trainer, "build_objective", moco_objective)
  config = make_tiny_cvrl_config(synthetic_cache_dir)
  config.optimizer.name, config.optimizer.learning_rate = "sgd", 0.05
  return config


def test_cosine_momentum_and_ema_update_numerics():
  momentum = base.cosine_momentum(0.996, 1.0, 100)
  np.testing.assert_allclose([float(momentum(jnp.int32(s))) for s in (0, 50, 100, 200)],
                             [0.996, 0.998, 1.0, 1.0], atol=1e-7)
  teacher = {"a": {"w": jnp.array([1.0, 2.0])}}
  params = {"a": {"w": jnp.array([3.0, -2.0])}, "b": {"w": jnp.ones(3)}}
  moved = ema_teacher.ema_update(teacher, params, jnp.float32(0.75))
  np.testing.assert_allclose(moved["a"]["w"], [0.75 * 1 + 0.25 * 3, 0.75 * 2 - 0.25 * 2])
  assert set(moved) == {"a"}


def test_queue_is_a_ring_buffer_of_whole_batches():
  spec = base.MemoryQueue(6, {"keys": jax.ShapeDtypeStruct((2,), jnp.float32),
                              "ids": jax.ShapeDtypeStruct((), jnp.int32)}, None)
  state = memory_queue.init_queue(spec, jax.random.key(0))
  np.testing.assert_allclose(np.linalg.norm(state["keys"], axis=1), 1.0, rtol=1e-6)
  np.testing.assert_array_equal(state["ids"], -1)
  for batch in range(4):  # 4 batches of 2 into 6 rows: the 4th overwrites the 1st
    rows = {"keys": jnp.full((2, 2), float(batch)), "ids": jnp.array([10 * batch, 10 * batch + 1])}
    state = memory_queue.enqueue(state, rows)
  np.testing.assert_array_equal(state["ids"], [30, 31, 10, 11, 20, 21])
  assert int(state["pointer"]) == 2 and int(state["filled"]) == 6
  with pytest.raises(ValueError, match="divid"):
    memory_queue.enqueue(state, {"keys": jnp.zeros((4, 2)), "ids": jnp.zeros(4, jnp.int32)})


def _jitted_step(config, mesh=None):
  batches = random_cvrl_batches(config, count=2)
  return (*jitted_train_step(config, batches[0], mesh), batches)


def _run(config, mesh=None):
  setup, state, step, batches = _jitted_step(config, mesh)
  states, losses = [state], []
  for batch in batches:
    state, metrics = step(state, device_batches.make_global_batch(batch, setup.mesh))
    states.append(state)
    losses.append(float(metrics["loss"]))
  return states, losses


def test_teacher_ema_and_queue_in_the_step_on_one_and_eight_devices(moco):
  """Two steps on 1 device and on 8 (data parallel): the teacher starts as the student
  and moves by EMA after each step, the queue takes the teacher's keys; both meshes
  give the same losses, parameters, teacher and queue; the queue's rows are split
  over the 8 devices, the teacher is sharded like the parameters it copies."""
  one = Mesh(np.array(jax.devices()[:1]), ("data",))
  want_states, want_losses = _run(moco, one)
  got_states, got_losses = _run(moco)
  np.testing.assert_allclose(got_losses, want_losses, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(got_states[-1]), jax.tree.leaves(want_states[-1])):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-3, atol=1e-4)

  first, *_, last = [jax.device_get(state) for state in got_states]
  before = jax.device_get(got_states[-2])
  for name in ("encoder", "projection"):
    for t, p in zip(jax.tree.leaves(first.teacher_params[name]),
                    jax.tree.leaves(first.params[name])):
      np.testing.assert_array_equal(t, p)
  m = float(base.cosine_momentum(*MOMENTUM, moco.train.num_steps)(jnp.int32(1)))
  student = {n: last.params[n] for n in last.teacher_params}
  for t0, t1, p1 in zip(jax.tree.leaves(before.teacher_params),
                        jax.tree.leaves(last.teacher_params), jax.tree.leaves(student)):
    np.testing.assert_allclose(t1, m * t0 + (1 - m) * p1, rtol=1e-5, atol=1e-7)
  moved = [np.abs(a - b).max() for a, b in zip(jax.tree.leaves(last.params),
                                                jax.tree.leaves(before.params))]
  assert max(moved) > 0
  queue, initial = (s.model_state[base.QUEUE_COLLECTION] for s in (last, first))
  batch = moco.train.batch_size
  assert 2 * batch == QUEUE_SIZE  # two batches fill the queue; the pointer wraps to 0
  assert int(queue["pointer"]) == 0 and int(queue["filled"]) == QUEUE_SIZE
  np.testing.assert_allclose(np.linalg.norm(queue["keys"][:2 * batch], axis=1), 1.0, rtol=1e-5)
  assert not np.allclose(queue["keys"][:batch], initial["keys"][:batch])

  keys = got_states[-1].model_state[base.QUEUE_COLLECTION]["keys"]
  assert len(keys.addressable_shards) == 8
  assert keys.addressable_shards[0].data.shape == (QUEUE_SIZE // 8, moco.cvrl.projection_dim)
  teacher_leaves = jax.tree.leaves(got_states[-1].teacher_params["encoder"])
  for teacher_leaf, param in zip(teacher_leaves,
                                 jax.tree.leaves(got_states[-1].params["encoder"])):
    assert teacher_leaf.sharding == param.sharding


def test_resume_with_teacher_and_queue_is_bit_exact_and_exports_the_teacher(moco, tmp_path):
  moco.train.export_teacher = True
  full_dir, resumed_dir = str(tmp_path / "full"), str(tmp_path / "resumed")
  full_state, _ = trainer.train(moco, full_dir)
  # The same run "interrupted" after its step-2 checkpoint: a copy without what came later.
  shutil.copytree(full_dir, resumed_dir, ignore=shutil.ignore_patterns(".jvrl.lock"))
  shutil.rmtree(os.path.join(resumed_dir, trainer.CHECKPOINT_SUBDIR, "4"))
  shutil.rmtree(os.path.join(resumed_dir, "export"))
  resumed_state, _ = trainer.train(moco, resumed_dir)
  assert jax.tree.structure(resumed_state) == jax.tree.structure(full_state)
  for a, b in zip(jax.tree.leaves(jax.device_get(resumed_state)),
                  jax.tree.leaves(jax.device_get(full_state))):
    np.testing.assert_array_equal(a, b)
  assert int(full_state.model_state[base.QUEUE_COLLECTION]["filled"]) == QUEUE_SIZE
  _, exported = checkpointing.load_encoder(os.path.join(full_dir,
                                                        trainer.TEACHER_EXPORT_SUBDIR))
  for a, b in zip(jax.tree.leaves(exported["params"]),
                  jax.tree.leaves(jax.device_get(full_state.teacher_params["encoder"]))):
    np.testing.assert_array_equal(a, b)


def test_export_teacher_without_a_teacher_stops_before_training(synthetic_cache_dir, tmp_path):
  config = make_tiny_cvrl_config(synthetic_cache_dir)  # plain CVRL: no teacher
  config.train.export_teacher = True
  with pytest.raises(ValueError, match="export_teacher=True.*no teacher"):
    trainer.train(config, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run" / trainer.CHECKPOINT_SUBDIR)
