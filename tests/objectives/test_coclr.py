"""CoCLR: its losses, views of RGB + flow, and the co-training step (frozen stream)."""
import jax
import jax.numpy as jnp
import numpy as np
from conftest import _with_overrides, train_steps

from jvrl.data import flow_quantization
from jvrl.data import records
from jvrl.data.tf_setup import tf
from jvrl.objectives import build_objective
from jvrl.objectives.coclr import loss as loss_lib
from jvrl.objectives.coclr import make_coclr_preprocess

TINY_COCLR = {
    "data.synthetic.height": 32, "data.synthetic.width": 32, "data.synthetic.num_frames": 16,
    "data.synthetic.train_videos": 32, "data.synthetic.eval_train_videos": 20,
    "data.synthetic.eval_test_videos": 10,
    "data.clip_length": 4, "data.crop_size": 16, "data.shuffle_buffer": 16,
    "model.width_multiplier": 0.0625, "coclr.projection_hidden_dim": 16,
    "coclr.projection_dim": 8, "coclr.queue_size": 16, "coclr.topk": 2,
    "coclr.cotrain_steps": 2, "train.batch_size": 8, "train.num_steps": 2,
    "train.log_every": 1, "train.checkpoint_every": 2, "optimizer.warmup_steps": 1,
    "eval.resize_short_side": 16, "eval.crop_size": 16, "eval.batch_size": 8,
    "eval.linear_probe.steps": 50, "eval.knn.k": 5,
}


def tiny_coclr_config(cache_dir):
  from configs import coclr_synthetic  # pylint: disable=g-import-not-at-top
  return _with_overrides(coclr_synthetic.get_config(), TINY_COCLR, cache_dir)


def _unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_infonce_and_multi_positive_losses_match_direct_computations():
  rng = np.random.default_rng(0)
  q, k = _unit(rng.normal(size=(3, 4))), _unit(rng.normal(size=(3, 4)))
  queue = _unit(rng.normal(size=(5, 4)))
  logits = np.concatenate([np.sum(q * k, 1, keepdims=True), q @ queue.T], 1) / 0.5
  log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
  loss, _ = loss_lib.infonce_loss(*map(jnp.asarray, (q, k, queue)), 0.5)
  np.testing.assert_allclose(float(loss), -log_p[:, 0].mean(), rtol=1e-5)
  positives = np.zeros((3, 6), bool)
  positives[:, 0], positives[0, 2], positives[1, 4] = True, True, True
  got = loss_lib.multi_positive_nce_loss(jnp.asarray(logits), jnp.asarray(positives))
  want = -np.mean([np.log(np.exp(log_p[i])[positives[i]].sum()) for i in range(3)])
  np.testing.assert_allclose(float(got), want, rtol=1e-5)


def test_mining_takes_the_other_streams_nearest_and_the_same_video():
  second_queue = jnp.eye(4)  # queue rows 0..3 are the unit axes
  second_key = jnp.array([[0.9, 0.1, 0.0, 0.0], [0.0, 0.0, 0.2, 0.8]])
  video_ids, queue_ids = jnp.array([7, -1]), jnp.array([7, 1, 2, -1])
  full, same = loss_lib.mined_positives(second_key, second_queue, video_ids, queue_ids,
                                        jnp.array(True), topk=1)
  # Row 0: queue 0 is its own video (a positive, not ranked), so the nearest other is 1.
  np.testing.assert_array_equal(full, [[True, True, False, False], [False, False, False, True]])
  np.testing.assert_array_equal(same, [[True, False, False, False], [False] * 4])
  not_full, _ = loss_lib.mined_positives(second_key, second_queue, video_ids, queue_ids,
                                         jnp.array(False), topk=1)
  np.testing.assert_array_equal(not_full, same)  # no mining before the queue is full


def test_views_pair_rgb_and_flow_of_the_same_frames(synthetic_cache_dir):
  config = tiny_coclr_config(synthetic_cache_dir)
  frames = np.zeros((6, 20, 24, 3), np.uint8)
  flow = np.zeros((5, 20, 24, 2), np.float32)
  flow[..., 0] = np.arange(5)[:, None, None]  # u = the frame index
  example = records.parse_sequence_example(tf.constant(records.make_sequence_example(
      jpeg_frames=records.encode_jpeg_frames(frames), filename="a/b.mp4",
      flow_jpegs=flow_quantization.encode_flow_jpegs(flow)).SerializeToString()))
  config.data.frame_stride = 1
  out = make_coclr_preprocess(config)(example, tf.constant([0, 1], tf.int64))
  for view in (1, 2):
    assert out[f"view{view}_rgb"].shape == (4, 16, 16, 3)
    assert out[f"view{view}_flow"].shape == (4, 16, 16, 2)
    assert out[f"view{view}_flow"].dtype == tf.uint8
  assert out["video_id"].dtype == tf.int32 and int(out["video_id"]) >= 0


def test_cotraining_freezes_the_other_stream_and_its_teacher_copies_the_trained_one(
    synthetic_cache_dir):
  from jvrl.experiments import coclr as experiment  # pylint: disable=g-import-not-at-top
  config = experiment.cotrain_config(tiny_coclr_config(synthetic_cache_dir), "rgb")
  objective = build_objective(config)
  assert objective.teacher.submodules == ("encoder", "rgb_head")
  rng = np.random.default_rng(0)
  batch = {f"view{v}_{s}": rng.integers(0, 256, (8, 4, 16, 16, c), np.uint8)
           for v in (1, 2) for s, c in (("rgb", 3), ("flow", 2))}
  batch["video_id"] = np.arange(8, dtype=np.int32)
  from jvrl.train import trainer  # pylint: disable=g-import-not-at-top
  setup = trainer.Setup(config)
  spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in batch.items()}
  initial = jax.device_get(setup.fresh_state(spec, setup.abstract_state(spec)[1]))
  losses, state, _ = train_steps(config, [batch, batch, batch])
  state = jax.device_get(state)
  assert all(np.isfinite(losses))
  for name in ("flow_encoder", "flow_head"):  # frozen: learning-rate multiplier 0
    for a, b in zip(jax.tree.leaves(state.params[name]), jax.tree.leaves(initial.params[name])):
      np.testing.assert_array_equal(a, b)
  moved = [np.abs(a - b).max() for a, b in zip(jax.tree.leaves(state.params["encoder"]),
                                               jax.tree.leaves(initial.params["encoder"]))]
  assert max(moved) > 0
  queue = state.model_state["queue"]
  assert int(queue["filled"]) == 16 and set(queue) == {"pointer", "filled", "keys",
                                                       "second_keys", "video_ids"}
  np.testing.assert_array_equal(np.sort(queue["video_ids"]), np.sort(np.tile(np.arange(8), 2)))
