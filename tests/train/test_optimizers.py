"""Tests for jvrl.train.optimizers."""
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jvrl.train import optimizers


def _opt_config(**overrides) -> ml_collections.ConfigDict:
  """The CVRL-style config section from the brief, with overrides."""
  config = dict(
      name="sgd", learning_rate=0.32, lr_batch_scaling=256, warmup_steps=100,
      schedule="cosine", end_learning_rate=0.0, momentum=0.9, nesterov=False,
      b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-6,
      lars_trust_coefficient=0.001, lars_eps=0.0, grad_clip_norm=0.0)
  config.update(overrides)
  return ml_collections.ConfigDict(config)


def _reference_lr(step, peak, warmup, total, end, kind):
  """Slow closed-form schedule, one step at a time."""
  if step < warmup:
    return peak * step / warmup
  progress = min(max((step - warmup) / max(total - warmup, 1), 0.0), 1.0)
  if kind == "cosine":
    return end + (peak - end) * 0.5 * (1 + math.cos(math.pi * progress))
  if kind == "linear":
    return peak + (end - peak) * progress
  return peak


@pytest.mark.parametrize("kind", ["cosine", "linear", "constant"])
def test_schedule_matches_closed_form(kind):
  config = _opt_config(schedule=kind, end_learning_rate=1e-3)
  schedule = optimizers.make_learning_rate_schedule(config, total_steps=1000,
                                                    global_batch_size=512)
  peak = 0.32 * 512 / 256
  steps = np.array([0, 1, 50, 99, 100, 101, 550, 999, 1000, 5000])
  got = np.asarray(jax.jit(schedule)(steps))
  want = [_reference_lr(s, peak, 100, 1000, 1e-3, kind) for s in steps]
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)
  assert got[0] == 0.0
  np.testing.assert_allclose(got[2], peak / 2, rtol=1e-6)  # mid-warmup
  np.testing.assert_allclose(got[4], peak, rtol=1e-6)  # end of warmup
  if kind != "constant":
    np.testing.assert_allclose(got[8], 1e-3, rtol=1e-5)  # end of training
    np.testing.assert_allclose(got[9], 1e-3, rtol=1e-5)  # stays there
  # Scalar steps (the trainer's usage) agree with the vectorised call.
  np.testing.assert_allclose(float(schedule(550)), got[6], rtol=1e-6)


def _model_garden_lr(step, peak, warmup, total):
  """TF Model Garden's LinearWarmup(CosineDecay(peak, decay_steps=total), warmup, 0)."""
  cosine = lambda s: peak * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
  return cosine(warmup) * step / warmup if step < warmup else cosine(step)


def test_decay_from_step_zero_is_model_gardens_warmup_around_a_cosine():
  config = _opt_config(decay_from_step_zero=True, lr_batch_scaling=0, warmup_steps=100)
  schedule = optimizers.make_learning_rate_schedule(config, total_steps=1000,
                                                    global_batch_size=512)
  steps = np.array([0, 1, 50, 99, 100, 101, 550, 999, 1000, 5000])
  got = np.asarray(jax.jit(schedule)(steps))
  np.testing.assert_allclose(got, [_model_garden_lr(s, 0.32, 100, 1000) for s in steps],
                             rtol=1e-5, atol=1e-8)
  assert got[4] < 0.32 * 0.98  # the warmup ends on the cosine, below the peak
  default = optimizers.make_learning_rate_schedule(
      _opt_config(lr_batch_scaling=0, warmup_steps=100), 1000, 512)
  assert abs(float(default(550)) - got[6]) > 1e-3  # the default decays after the warmup


def test_cosine_midpoint_is_half_way():
  config = _opt_config(warmup_steps=0, learning_rate=1.0, lr_batch_scaling=0,
                       end_learning_rate=0.2)
  schedule = optimizers.make_learning_rate_schedule(config, 100, 7)
  np.testing.assert_allclose(float(schedule(0)), 1.0, rtol=1e-6)
  np.testing.assert_allclose(float(schedule(50)), 0.6, rtol=1e-6)
  np.testing.assert_allclose(float(schedule(100)), 0.2, rtol=1e-6)


def test_batch_scaling():
  peak_at = lambda config, batch: float(
      optimizers.make_learning_rate_schedule(config, 1000, batch)(100))
  np.testing.assert_allclose(peak_at(_opt_config(), 1024), 0.32 * 4, rtol=1e-6)
  np.testing.assert_allclose(peak_at(_opt_config(), 64), 0.32 / 4, rtol=1e-6)
  unscaled = _opt_config(lr_batch_scaling=0)
  np.testing.assert_allclose(peak_at(unscaled, 1024), 0.32, rtol=1e-6)
  np.testing.assert_allclose(peak_at(unscaled, 64), 0.32, rtol=1e-6)


class _TinyNet(nn.Module):
  """Conv -> BN -> Dense: kernels, BN scale/bias and a Dense bias."""

  @nn.compact
  def __call__(self, x, train: bool = True):
    x = nn.Conv(4, (3, 3), use_bias=False)(x)
    x = nn.BatchNorm(use_running_average=not train)(x)
    return nn.Dense(2)(x.mean(axis=(1, 2)))


def _tiny_params():
  variables = _TinyNet().init(jax.random.key(0), jnp.ones((2, 5, 5, 3)))
  return variables["params"]


def test_kernel_weight_decay_mask():
  params = _tiny_params()
  mask = optimizers.kernel_weight_decay_mask(params)
  assert jax.tree.structure(mask) == jax.tree.structure(params)
  flat = {"/".join(str(k.key) for k in path): value
          for path, value in jax.tree_util.tree_leaves_with_path(mask)}
  assert flat == {
      "Conv_0/kernel": True, "BatchNorm_0/scale": False, "BatchNorm_0/bias": False,
      "Dense_0/kernel": True, "Dense_0/bias": False}


def test_kernel_weight_decay_mask_boxed_params():
  boxed = {"layer": {"kernel": nn.Partitioned(jnp.ones((2, 2)), names=("a", "b")),
                     "bias": jnp.zeros(2)}}
  mask = optimizers.kernel_weight_decay_mask(boxed)
  assert mask["layer"]["kernel"].value is True
  assert mask["layer"]["bias"] is False


@pytest.mark.parametrize("name", ["sgd", "lars", "adamw"])
def test_weight_decay_shrinks_only_kernels(name):
  params = _tiny_params()
  # Non-zero BN scale/bias and Dense bias, so decay on them would show.
  params = jax.tree.map(lambda p: p + 0.5, params)
  config = _opt_config(name=name, weight_decay=0.1, warmup_steps=0, learning_rate=0.5,
                       lr_batch_scaling=0, schedule="constant")
  optimizer = optimizers.make_optimizer(config, total_steps=10, global_batch_size=8)
  zero_grads = jax.tree.map(jnp.zeros_like, params)
  updates, _ = optimizer.update(zero_grads, optimizer.init(params), params)
  new_params = optax.apply_updates(params, updates)
  for path, old in jax.tree_util.tree_leaves_with_path(params):
    new = new_params
    for key in path:
      new = new[key.key]
    if path[-1].key == "kernel":
      assert np.all(np.abs(new) < np.abs(old) + 1e-12), path
      assert not np.allclose(new, old), path
    else:
      np.testing.assert_array_equal(new, old, err_msg=str(path))


def test_sgd_decay_is_coupled_l2_in_gradient():
  """SGD: first update = -lr * (grad + wd * param) (momentum buffer starts at 0)."""
  params = {"dense": {"kernel": jnp.array([[1.0, -2.0]]), "bias": jnp.array([3.0])}}
  grads = {"dense": {"kernel": jnp.array([[0.5, 0.5]]), "bias": jnp.array([1.0])}}
  config = _opt_config(weight_decay=0.1, warmup_steps=0, learning_rate=0.2,
                       lr_batch_scaling=0, schedule="constant")
  optimizer = optimizers.make_optimizer(config, 10, 8)
  updates, _ = optimizer.update(grads, optimizer.init(params), params)
  np.testing.assert_allclose(updates["dense"]["kernel"],
                             -0.2 * (np.array([[0.5, 0.5]]) + 0.1 * np.array([[1.0, -2.0]])),
                             rtol=1e-6)
  np.testing.assert_allclose(updates["dense"]["bias"], [-0.2], rtol=1e-6)


@pytest.mark.parametrize("name,nesterov,clip", [
    ("sgd", False, 0.0), ("sgd", True, 1.0), ("lars", False, 0.0), ("adamw", False, 0.0),
    ("adamw", False, 0.5)])
def test_optimizers_reduce_quadratic(name, nesterov, clip):
  target = jnp.array([[1.0, -2.0], [0.5, 3.0]])
  params = {"dense": {"kernel": jnp.zeros((2, 2)), "bias": jnp.ones(2)}}

  def loss_fn(p):
    return jnp.sum((p["dense"]["kernel"] - target) ** 2) + jnp.sum(p["dense"]["bias"] ** 2)

  learning_rate = 0.2 if name == "adamw" else 0.05  # Adam's step size is ~lr per coordinate.
  config = _opt_config(name=name, learning_rate=learning_rate, lr_batch_scaling=0,
                       warmup_steps=5, nesterov=nesterov, grad_clip_norm=clip,
                       lars_trust_coefficient=1.0)
  optimizer = optimizers.make_optimizer(config, total_steps=100, global_batch_size=8)

  def step(carry, _):
    p, state = carry
    grads = jax.grad(loss_fn)(p)
    updates, state = optimizer.update(grads, state, p)
    return (optax.apply_updates(p, updates), state), None

  (final, _), _ = jax.lax.scan(step, (params, optimizer.init(params)), length=100)
  assert float(loss_fn(final)) < 0.05 * float(loss_fn(params))


def test_lars_trust_ratio_only_on_kernels():
  """First LARS update: kernel step = lr * tc * |w| / |g + wd w| * (g + wd w); bias plain SGD."""
  kernel = jnp.array([[3.0, 4.0]])  # norm 5
  params = {"dense": {"kernel": kernel, "bias": jnp.array([2.0])}}
  grads = {"dense": {"kernel": jnp.array([[0.0, 10.0]]), "bias": jnp.array([1.0])}}
  config = _opt_config(name="lars", learning_rate=0.5, lr_batch_scaling=0, warmup_steps=0,
                       schedule="constant", weight_decay=0.1, lars_trust_coefficient=0.01)
  optimizer = optimizers.make_optimizer(config, 10, 8)
  updates, _ = optimizer.update(grads, optimizer.init(params), params)
  decayed_grad = np.array([[0.0, 10.0]]) + 0.1 * np.array([[3.0, 4.0]])
  want_kernel = -0.5 * 0.01 * 5.0 / np.linalg.norm(decayed_grad) * decayed_grad
  np.testing.assert_allclose(updates["dense"]["kernel"], want_kernel, rtol=1e-5)
  np.testing.assert_allclose(updates["dense"]["bias"], [-0.5], rtol=1e-6)


def test_grad_clipping_bounds_first_update():
  params = {"w": {"kernel": jnp.zeros(4)}}
  grads = {"w": {"kernel": jnp.full(4, 100.0)}}
  config = _opt_config(grad_clip_norm=1.0, momentum=0.0, weight_decay=0.0, warmup_steps=0,
                       learning_rate=1.0, lr_batch_scaling=0, schedule="constant")
  optimizer = optimizers.make_optimizer(config, 10, 8)
  updates, _ = optimizer.update(grads, optimizer.init(params), params)
  np.testing.assert_allclose(np.linalg.norm(updates["w"]["kernel"]), 1.0, rtol=1e-5)


def test_plain_dict_config_and_defaults():
  schedule = optimizers.make_learning_rate_schedule(
      {"name": "adamw", "learning_rate": 1e-3}, total_steps=10, global_batch_size=4)
  np.testing.assert_allclose(float(schedule(0)), 1e-3, rtol=1e-6)  # no warmup, no scaling
  assert optimizers.make_optimizer({"name": "adamw", "learning_rate": 1e-3}, 10, 4)


@pytest.mark.parametrize("overrides,message", [
    (dict(name="rmsprop"), "sgd"),
    (dict(schedule="exponential"), "cosine"),
    (dict(weight_decy=1e-4), "weight_decy"),
    (dict(learning_rate=-1.0), "learning_rate"),
    (dict(warmup_steps=2000), "warmup_steps"),
    (dict(momentum=1.5), "momentum"),
    (dict(decay_from_step_zero=1), "decay_from_step_zero"),
])
def test_bad_config_raises(overrides, message):
  config = _opt_config(**overrides)
  with pytest.raises(ValueError, match=message):
    optimizers.make_optimizer(config, total_steps=1000, global_batch_size=256)


def test_bad_arguments_raise():
  with pytest.raises(ValueError, match="total_steps"):
    optimizers.make_learning_rate_schedule(_opt_config(warmup_steps=0), 0, 256)
  with pytest.raises(ValueError, match="global_batch_size"):
    optimizers.make_learning_rate_schedule(_opt_config(), 1000, 0)
  with pytest.raises(ValueError, match="learning_rate"):
    optimizers.make_optimizer({"name": "sgd"}, 1000, 256)


# ------------------------------------------- lr multipliers, reduce-on-plateau ---

def _two_layer_params():
  return {"encoder": {"conv": {"kernel": jnp.ones((2, 2))}},
          "rate_head": {"classifier": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)}}}


@pytest.mark.parametrize("name", ["sgd", "lars", "adamw"])
def test_lr_multipliers_scale_matching_updates_exactly(name):
  """A 10x multiplier on the classifier = its updates x10, every step; others unchanged."""
  params = _two_layer_params()
  base = _opt_config(name=name, warmup_steps=0, learning_rate=0.1, lr_batch_scaling=0,
                     schedule="constant", weight_decay=0.01, lars_trust_coefficient=1.0)
  scaled = _opt_config(**dict(base, lr_multipliers=((r"rate_head/classifier/", 10.0),)))
  opt_a = optimizers.make_optimizer(base, 10, 8)
  opt_b = optimizers.make_optimizer(scaled, 10, 8)
  state_a, state_b = opt_a.init(params), opt_b.init(params)
  rng = np.random.default_rng(0)
  for _ in range(3):
    grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), jnp.float32), params)
    updates_a, state_a = opt_a.update(grads, state_a, params)
    updates_b, state_b = opt_b.update(grads, state_b, params)
    np.testing.assert_allclose(updates_b["encoder"]["conv"]["kernel"],
                               updates_a["encoder"]["conv"]["kernel"], rtol=1e-6)
    for leaf in ("kernel", "bias"):
      np.testing.assert_allclose(updates_b["rate_head"]["classifier"][leaf],
                                 10.0 * updates_a["rate_head"]["classifier"][leaf], rtol=1e-5)


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_a_zero_multiplier_freezes_parameters(name):
  """TSP's frozen stem: factor 0 leaves those parameters exactly where they are."""
  params = _two_layer_params()
  config = _opt_config(name=name, warmup_steps=0, learning_rate=0.1, lr_batch_scaling=0,
                       schedule="constant", weight_decay=0.01,
                       lr_multipliers=((r"^encoder/", 0.0),))
  optimizer = optimizers.make_optimizer(config, 10, 8)
  state = optimizer.init(params)
  grads = jax.tree.map(jnp.ones_like, params)
  for _ in range(2):
    updates, state = optimizer.update(grads, state, params)
    params = optax.apply_updates(params, updates)
  np.testing.assert_array_equal(params["encoder"]["conv"]["kernel"], np.ones((2, 2)))
  assert np.all(np.asarray(params["rate_head"]["classifier"]["kernel"]) != 1.0)


def test_step_schedule_multiplies_at_each_boundary_after_warmup():
  """TSP's WarmupMultiStepLR: linear warmup, then x decay_factor at each boundary."""
  config = _opt_config(learning_rate=1.0, lr_batch_scaling=0, warmup_steps=10, schedule="step",
                       decay_boundaries=(40, 60), decay_factor=0.01)
  schedule = optimizers.make_learning_rate_schedule(config, total_steps=80, global_batch_size=8)
  got = np.asarray(jax.jit(schedule)(np.array([0, 5, 10, 39, 40, 59, 60, 79])))
  np.testing.assert_allclose(got, [0, 0.5, 1, 1, 0.01, 0.01, 1e-4, 1e-4], rtol=1e-5)
  with pytest.raises(ValueError, match="decay_boundaries"):
    optimizers.make_learning_rate_schedule(_opt_config(schedule="step"), 80, 8)
  with pytest.raises(ValueError, match="increasing"):
    optimizers.make_learning_rate_schedule(
        _opt_config(schedule="step", decay_boundaries=(60, 40)), 80, 8)


def test_lr_multiplier_tree_first_match_wins():
  tree = optimizers.lr_multiplier_tree(
      _two_layer_params(), ((r"classifier/bias", 3.0), (r"classifier", 10.0), (r"^enc", 0.5)))
  assert tree == {"encoder": {"conv": {"kernel": 0.5}},
                  "rate_head": {"classifier": {"kernel": 10.0, "bias": 3.0}}}


@pytest.mark.parametrize("multipliers, message", [
    ((("(", 2.0),), "regex"), ((("a", -1.0),), "factor"), ((("a",),), "pairs")])
def test_bad_lr_multipliers_raise(multipliers, message):
  with pytest.raises(ValueError, match=message):
    optimizers.make_optimizer(_opt_config(lr_multipliers=multipliers), 1000, 256)


def test_reduce_on_plateau_cuts_the_step_after_patience_averages():
  """Flat loss: after `patience` averages of `accumulation` steps, updates shrink x factor."""
  params = {"w": {"kernel": jnp.ones(2)}}
  grads = {"w": {"kernel": jnp.ones(2)}}
  config = _opt_config(momentum=0.0, weight_decay=0.0, warmup_steps=0, learning_rate=1.0,
                       lr_batch_scaling=0, schedule="constant", plateau_factor=0.1,
                       plateau_patience=2, plateau_accumulation_steps=3)
  optimizer = optimizers.make_optimizer(config, 100, 8)
  state = optimizer.init(params)
  sizes = []
  for _ in range(15):
    updates, state = optimizer.update(grads, state, params, value=jnp.float32(1.0))
    sizes.append(float(-updates["w"]["kernel"][0]))
  # Averages complete at steps 3, 6, 9, ...: the first sets the best value, the
  # next two do not improve it (patience 2) -> scale 0.1 from step 9 on, 0.01
  # after two more (step 15).
  np.testing.assert_allclose(sizes[:8], 1.0, rtol=1e-6)
  np.testing.assert_allclose(sizes[8:14], 0.1, rtol=1e-6)
  np.testing.assert_allclose(sizes[14], 0.01, rtol=1e-6)


def test_reduce_on_plateau_needs_the_loss():
  params = {"w": {"kernel": jnp.ones(2)}}
  optimizer = optimizers.make_optimizer(_opt_config(plateau_factor=0.1), 1000, 256)
  with pytest.raises(ValueError, match="value=loss"):
    optimizer.update(params, optimizer.init(params), params)


def test_every_optimizer_accepts_the_loss_as_value():
  params = {"w": {"kernel": jnp.ones(2)}}
  for name in optimizers.OPTIMIZER_NAMES:
    optimizer = optimizers.make_optimizer(_opt_config(name=name), 1000, 256)
    updates, _ = optimizer.update(params, optimizer.init(params), params, value=1.0)
    assert updates["w"]["kernel"].shape == (2,)


@pytest.mark.parametrize("overrides, message", [
    (dict(plateau_factor=1.0), "plateau_factor"),
    (dict(plateau_patience=0), "plateau_patience"),
    (dict(plateau_min_scale=-1.0), "plateau_min_scale"),
])
def test_bad_plateau_settings_raise(overrides, message):
  with pytest.raises(ValueError, match=message):
    optimizers.make_optimizer(_opt_config(**overrides), 1000, 256)


@pytest.mark.parametrize("name", ["sgd", "lars", "adamw"])
def test_weight_decay_mask_all_decays_every_parameter(name):
  """`weight_decay_mask='all'` (PRP's fine-tuning: PyTorch SGD over model.parameters())."""
  params = jax.tree.map(lambda p: p + 0.5, _tiny_params())
  config = _opt_config(name=name, weight_decay=0.1, warmup_steps=0, learning_rate=0.5,
                       lr_batch_scaling=0, schedule="constant", weight_decay_mask="all")
  optimizer = optimizers.make_optimizer(config, total_steps=10, global_batch_size=8)
  zero_grads = jax.tree.map(jnp.zeros_like, params)
  updates, _ = optimizer.update(zero_grads, optimizer.init(params), params)
  for old, new in zip(jax.tree.leaves(params), jax.tree.leaves(
      optax.apply_updates(params, updates))):
    assert np.all(np.abs(new) < np.abs(old)), (name, old, new)
  if name == "sgd":  # coupled L2 on a bias too: -lr * wd * param
    bias = jax.tree.leaves(params)[0]
    np.testing.assert_allclose(jax.tree.leaves(updates)[0], -0.5 * 0.1 * bias, rtol=1e-6)
  with pytest.raises(ValueError, match="weight_decay_mask"):
    optimizers.make_optimizer(_opt_config(weight_decay_mask="biases"), 10, 8)


def test_validation_plateau_ignores_the_training_loss_and_watches_the_observed_one():
  """`plateau_metric='validation_loss'`: one observation per validation, patience counted
  in validations; the training loss passed as `value` changes nothing."""
  params = {"w": {"kernel": jnp.ones(2)}}
  grads = {"w": {"kernel": jnp.ones(2)}}
  config = _opt_config(momentum=0.0, weight_decay=0.0, warmup_steps=0, learning_rate=1.0,
                       lr_batch_scaling=0, schedule="constant", plateau_factor=0.1,
                       plateau_patience=2, plateau_metric="validation_loss")
  optimizer = optimizers.make_optimizer(config, 100, 8)
  observe = jax.jit(optimizers.make_plateau_observer(config))
  state = optimizer.init(params)

  def step_size(state, loss):
    updates, state = optimizer.update(grads, state, params, value=jnp.float32(loss))
    return float(-updates["w"]["kernel"][0]), state

  for loss in (5.0, 1.0, 1.0, 1.0):  # a flat training loss never cuts the rate here
    size, state = step_size(state, loss)
    assert size == pytest.approx(1.0)
  assert optimizers.plateau_scale(state) == pytest.approx(1.0)
  for validation_loss, expected in ((2.0, 1.0), (1.0, 1.0), (1.5, 1.0), (1.0, 0.1)):
    state = observe(state, validation_loss)  # best 1.0; then 2 without improvement -> cut
    assert step_size(state, 0.0)[0] == pytest.approx(expected)
  assert optimizers.plateau_scale(state) == pytest.approx(0.1)
  assert optimizers.make_plateau_observer(_opt_config(plateau_factor=0.1)) is None
  with pytest.raises(ValueError, match="plateau_metric"):
    optimizers.make_optimizer(_opt_config(plateau_metric="val"), 10, 8)
