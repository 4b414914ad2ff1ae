"""SVT: its views (sizes and frame rates), DINO's loss and centre, one train step."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import _with_overrides, train_steps

from jvrl import models
from jvrl.data.tf_setup import tf
from jvrl.objectives import build_objective
from jvrl.objectives.svt import loss as loss_lib
from jvrl.objectives.svt import model as model_lib
from jvrl.objectives.svt import views as views_lib

SPEC = views_lib.ViewSpec(
    window=16, num_global=2, global_frames=4, global_size=12, global_area=(0.4, 1.0),
    global_shift=2, num_local=3, local_frames=4, local_size=6, local_area=(0.1, 0.4),
    local_span_divisor=4, flip_prob=0.0, color_prob=0.0, grayscale_prob=0.0,
    global_blur_prob=(0.0, 0.0), global_solarize_prob=(0.0, 0.0), local_blur_prob=0.0)


def test_views_differ_in_size_and_frame_rate():
  """Frame i of the test video is a flat grey of level 10 i: each view's frames say
  which video frames it took. Global views: 4 frames over the whole window (every
  ~4th); local views: 4 consecutive frames of a quarter of it."""
  frames = np.repeat(np.arange(0, 200, 10, dtype=np.uint8)[:, None, None, None], 3, -1)
  example = {"frames": tf.constant(np.broadcast_to(frames, (20, 24, 24, 3)).copy()),
             "num_frames": tf.constant(20)}
  views = views_lib.make_views(example, SPEC, tf.constant([3, 4], tf.int64))
  assert sorted(views) == ["global_0", "global_1", "local_0", "local_1", "local_2"]
  window_start = None
  for name, view in views.items():
    view = view.numpy()
    size, count = (12, 4) if name.startswith("global") else (6, 4)
    assert view.shape == (count, size, size, 3) and view.dtype == np.uint8
    taken = np.round(view[:, 0, 0, 0] / 10).astype(int)
    if name == "global_0":
      window_start = taken[0]
      np.testing.assert_array_equal(taken - window_start, [0, 4, 9, 13])
    elif name == "global_1":
      np.testing.assert_array_equal(taken - window_start, [2, 6, 11, 15])
    else:
      np.testing.assert_array_equal(np.diff(taken), [1, 1, 1])  # 4 of 16 / 4 = 4 frames
      assert 0 <= taken[0] - window_start <= 12


def test_dino_loss_matches_a_direct_computation():
  rng = np.random.default_rng(0)
  student = rng.normal(size=(4, 3, 5)).astype(np.float32)
  teacher = jax.nn.softmax(jnp.asarray(rng.normal(size=(2, 3, 5)), jnp.float32), -1)
  loss, _ = loss_lib.dino_loss(jnp.asarray(student), teacher, 0.1)
  log_student = np.asarray(jax.nn.log_softmax(student / 0.1, -1))
  terms = [-(np.asarray(teacher)[t] * log_student[s]).sum(-1).mean()
           for t in range(2) for s in range(4) if s != t]
  np.testing.assert_allclose(float(loss), np.mean(terms), rtol=1e-5)


def test_teacher_pass_centres_sharpens_and_moves_the_centre():
  model = model_lib.SVTModel(
      encoder=models.build_model("vatt_video", size="", num_layers=1, hidden_size=8,
                                 num_heads=2, mlp_dim=16, patch_size=(2, 4, 4),
                                 pos_buckets=(2, 2, 2), drop_token_keep_ratio=1.0,
                                 dropout_rate=0.0),
      head=model_lib.DINOHead(out_dim=6, hidden_dim=8, bottleneck_dim=4),
      num_global=2, num_local=1, teacher_temperature=0.5, center_momentum=0.75)
  rng = np.random.default_rng(1)
  batch = {"global_0": rng.integers(0, 255, (3, 4, 8, 8, 3), np.uint8),
           "global_1": rng.integers(0, 255, (3, 4, 8, 8, 3), np.uint8),
           "local_0": rng.integers(0, 255, (3, 2, 4, 4, 3), np.uint8)}
  variables = jax.jit(lambda b: model.init(jax.random.key(0), b, train=False))(batch)
  assert model_lib.CENTER_COLLECTION in variables
  student = jax.jit(lambda v, b: model.apply(v, b, train=False))(variables, batch)[
      "student_logits"]
  assert student.shape == (3, 3, 6)  # 2 global + 1 local views, batch 3, 6 outputs
  center = jnp.arange(6.0)
  variables = {**variables, model_lib.CENTER_COLLECTION: {"center": center}}
  out, state = jax.jit(lambda v, b: model.apply(
      v, b, train=True, method="teacher_probabilities",
      mutable=[model_lib.CENTER_COLLECTION]))(variables, batch)
  logits = student[:2]  # the teacher's logits = the student's on the global views
  np.testing.assert_allclose(out["probabilities"], jax.nn.softmax((logits - center) / 0.5, -1),
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(state[model_lib.CENTER_COLLECTION]["center"],
                             0.75 * center + 0.25 * logits.mean(axis=(0, 1)), rtol=1e-5)


TINY_SVT = {
    "data.clip_length": 4, "data.crop_size": 16, "model.hidden_size": 16,
    "model.num_layers": 1, "model.mlp_dim": 32, "model.pos_buckets": (2, 2, 2),
    "svt.window_frames": 16, "svt.local_frames": 2, "svt.local_size": 8, "svt.out_dim": 32,
    "svt.head_hidden_dim": 16, "svt.head_bottleneck_dim": 8, "svt.num_local_views": 2,
    "train.batch_size": 8, "train.num_steps": 4, "optimizer.warmup_steps": 1,
}


def test_one_train_step_with_the_teacher_updates_the_centre(synthetic_cache_dir):
  from configs import svt_synthetic  # pylint: disable=g-import-not-at-top
  config = _with_overrides(svt_synthetic.get_config(), TINY_SVT, synthetic_cache_dir)
  objective = build_objective(config)
  assert objective.teacher.submodules == ("encoder", "head")
  rng = np.random.default_rng(0)
  batch = {f"global_{i}": rng.integers(0, 256, (8, 4, 16, 16, 3), np.uint8) for i in range(2)}
  batch.update({f"local_{i}": rng.integers(0, 256, (8, 2, 8, 8, 3), np.uint8)
                for i in range(2)})
  losses, state, _ = train_steps(config, [batch, batch])
  assert all(np.isfinite(losses))
  center = np.asarray(state.model_state[model_lib.CENTER_COLLECTION]["center"])
  assert center.shape == (32,) and np.abs(center).sum() > 0
  assert set(state.teacher_params) == {"encoder", "head"}


def test_svt_cannot_be_combined(synthetic_cache_dir):
  from configs import svt_synthetic  # pylint: disable=g-import-not-at-top
  config = _with_overrides(svt_synthetic.get_config(), TINY_SVT, synthetic_cache_dir)
  config.objective = "combined"
  config.combined = {"svt": 1.0}
  with pytest.raises(ValueError, match="teacher or a memory queue"):
    build_objective(config)
