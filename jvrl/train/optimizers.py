"""Learning-rate schedules and optimisers built from `config.optimizer`.

The config section (a `ml_collections.ConfigDict` or any mapping) names the
optimiser and its schedule: `name` and `learning_rate` are required, every
other key and its default is in `OPTIMIZER_DEFAULTS`. Unknown keys are
rejected so a typo ('weight_decy') cannot silently fall back to a default.

Schedule: linear warmup from 0 to the peak over `warmup_steps`, then
'cosine' (half period, down to `end_learning_rate` at `total_steps`),
'linear' (straight line to `end_learning_rate`), 'constant' (stays at the
peak) or 'step' (multiplied by `decay_factor` at each step in
`decay_boundaries`, e.g. TSP's x0.01 at epochs 4 and 6: PyTorch's
WarmupMultiStepLR). With `lr_batch_scaling > 0` the peak is
`learning_rate * global_batch_size / lr_batch_scaling` (SimCLR).
With `decay_from_step_zero=True` the 'cosine' / 'linear' decay instead runs over
all `total_steps` from step 0 and the warmup ramps from 0 to the decayed value
at `warmup_steps` (slightly below the peak): TF Model Garden's `LinearWarmup`
around a `CosineDecay(decay_steps=train_steps)`
(official/modeling/optimization/lr_schedule.py), CVRL's schedule.

Weight decay (`weight_decay_mask`): 'kernels' (default) touches only conv /
dense kernels (leaves named 'kernel'), never batch-norm scales and biases nor
any bias; 'all' decays every parameter, as PyTorch's `optim.SGD(
model.parameters(), weight_decay=...)` does (PRP's fine-tuning, ft_classfy.py
`main`). How it is applied differs by optimiser, following each method's
reference code:
  * 'sgd': L2 regularisation in the gradient (coupled): `wd * param` is added
    to the gradient before momentum and the learning rate, exactly what adding
    `wd * sum(kernel**2) / 2` to the loss does in the TF reference code.
  * 'lars': the same coupled decay, then the layer-wise trust ratio (kernels
    only; BN parameters and biases get plain momentum SGD), as `optax.lars`.
  * 'adamw': decoupled decay (Loshchilov & Hutter): the Adam update plus
    `wd * param`, both scaled by the learning rate, as `optax.adamw`.

Per-parameter learning-rate multipliers (`lr_multipliers`): (regex, factor)
pairs matched with `re.search` against '/'-joined parameter names, first match
wins (e.g. `((r"rate_head/classifier/", 10.0),)`: PRP's classifier at 10x;
factor 0 freezes a parameter, e.g. TSP's stem).
The final update of a matching parameter is multiplied by the factor, which is
exactly a per-parameter-group learning rate for all three optimisers (their
momentum / Adam statistics do not depend on the learning rate; the coupled or
decoupled weight decay of that parameter scales with it too, as in PyTorch
parameter groups).

Reduce-on-plateau (`plateau_factor` > 0, e.g. PRP's 0.1): the learning rate is
multiplied by `plateau_factor` whenever the loss, averaged over
`plateau_accumulation_steps` steps (e.g. one epoch), has not improved by a
relative `plateau_rtol` for `plateau_patience` such averages
(`optax.contrib.reduce_on_plateau`), never below `plateau_min_scale` times the
schedule. The optimiser then needs the loss: `update(grads, state, params,
value=loss)`; a call without `value` raises. The logged `learning_rate` is the
schedule's, without this scale.
With `plateau_metric='validation_loss'` the plateau watches a held-out
validation loss instead (PRP: `ReduceLROnPlateau.step(val_loss)` once per
epoch, train_predict.py `main`): the optimiser only applies the current scale
and ignores `value`; `make_plateau_observer` returns the function that feeds
it one validation loss at a time (`trainer.train`'s validation hook calls it),
each value one observation (patience counts validations;
`plateau_accumulation_steps` is not used).
"""
import math
import re
import types
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax

OPTIMIZER_NAMES = ("sgd", "lars", "adamw")
SCHEDULE_NAMES = ("cosine", "constant", "linear", "step")
WEIGHT_DECAY_MASKS = ("kernels", "all")
PLATEAU_METRICS = ("train_loss", "validation_loss")

# Keys `config.optimizer` must set: no default could be right for them.
REQUIRED_KEYS = ("name", "learning_rate")
# The other keys `config.optimizer` may hold and the value used when absent.
# Read-only so nobody can change the defaults for the whole process.
OPTIMIZER_DEFAULTS: Mapping[str, Any] = types.MappingProxyType({
    "lr_batch_scaling": 0,
    "warmup_steps": 0,
    "schedule": "cosine",
    "decay_from_step_zero": False,
    "end_learning_rate": 0.0,
    "momentum": 0.9,
    "nesterov": False,
    "b1": 0.9,
    "b2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.0,
    "weight_decay_mask": "kernels",
    "lars_trust_coefficient": 0.001,
    "lars_eps": 0.0,
    "grad_clip_norm": 0.0,
    "lr_multipliers": (),
    "decay_boundaries": (),
    "decay_factor": 0.1,
    "plateau_factor": 0.0,
    "plateau_patience": 10,
    "plateau_accumulation_steps": 1,
    "plateau_rtol": 1e-4,
    "plateau_cooldown": 0,
    "plateau_min_scale": 0.0,
    "plateau_metric": "train_loss",
})


def _read_config(opt_config: Mapping[str, Any]) -> dict[str, Any]:
  """Returns `opt_config` merged over the defaults; rejects unknown or missing keys."""
  keys = set(opt_config.keys())
  valid_keys = set(REQUIRED_KEYS) | set(OPTIMIZER_DEFAULTS)
  unknown = sorted(keys - valid_keys)
  if unknown:
    raise ValueError(
        f"Unknown config.optimizer key(s) {unknown}; valid keys: {sorted(valid_keys)}.")
  missing = [key for key in REQUIRED_KEYS if key not in keys]
  if missing:
    raise ValueError(f"config.optimizer must set {missing}.")
  settings = dict(OPTIMIZER_DEFAULTS)
  settings.update({key: opt_config[key] for key in keys})
  for key, default in OPTIMIZER_DEFAULTS.items():
    value = settings[key]
    if isinstance(default, (int, float)) and not isinstance(default, bool) and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or value != value):
      raise ValueError(f"config.optimizer.{key}={value!r} must be a number.")
  rate = settings["learning_rate"]
  if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate != rate:
    raise ValueError(f"config.optimizer.learning_rate={rate!r} must be a number.")
  if settings["name"] not in OPTIMIZER_NAMES:
    raise ValueError(
        f"Unknown config.optimizer.name={settings['name']!r}; valid names: "
        f"{list(OPTIMIZER_NAMES)}.")
  if settings["schedule"] not in SCHEDULE_NAMES:
    raise ValueError(
        f"Unknown config.optimizer.schedule={settings['schedule']!r}; valid schedules: "
        f"{list(SCHEDULE_NAMES)}.")
  for key, names in (("weight_decay_mask", WEIGHT_DECAY_MASKS),
                     ("plateau_metric", PLATEAU_METRICS)):
    if settings[key] not in names:
      raise ValueError(f"Unknown config.optimizer.{key}={settings[key]!r}; valid values: "
                       f"{list(names)}.")
  for key in ("learning_rate", "lr_batch_scaling", "warmup_steps", "end_learning_rate",
              "weight_decay", "grad_clip_norm", "lars_eps"):
    if settings[key] < 0:
      raise ValueError(f"config.optimizer.{key} must be >= 0, got {settings[key]}.")
  for key in ("momentum", "b1", "b2"):
    if not 0 <= settings[key] < 1:
      raise ValueError(f"config.optimizer.{key} must be in [0, 1), got {settings[key]}.")
  if not isinstance(settings["decay_from_step_zero"], bool):
    raise ValueError("config.optimizer.decay_from_step_zero="
                     f"{settings['decay_from_step_zero']!r} must be True or False.")
  settings["lr_multipliers"] = _check_lr_multipliers(settings["lr_multipliers"])
  boundaries = tuple(settings["decay_boundaries"] or ())
  if any(not isinstance(b, int) or b < 1 for b in boundaries) or list(boundaries) != sorted(
      boundaries):
    raise ValueError("config.optimizer.decay_boundaries must be increasing positive step "
                     f"numbers, got {boundaries}.")
  settings["decay_boundaries"] = boundaries
  if not settings["decay_factor"] > 0:
    raise ValueError(f"config.optimizer.decay_factor must be > 0, got {settings['decay_factor']}.")
  if settings["schedule"] == "step" and not boundaries:
    raise ValueError("config.optimizer.schedule='step' needs config.optimizer.decay_boundaries "
                     "(the steps where the learning rate is multiplied by decay_factor).")
  if not 0 <= settings["plateau_factor"] < 1:
    raise ValueError("config.optimizer.plateau_factor must be in [0, 1) (0 = off), got "
                     f"{settings['plateau_factor']}.")
  for key in ("plateau_patience", "plateau_accumulation_steps"):
    if settings[key] < 1:
      raise ValueError(f"config.optimizer.{key} must be >= 1, got {settings[key]}.")
  for key in ("plateau_rtol", "plateau_cooldown", "plateau_min_scale"):
    if settings[key] < 0:
      raise ValueError(f"config.optimizer.{key} must be >= 0, got {settings[key]}.")
  return settings


def check_optimizer_config(opt_config: Mapping[str, Any]) -> None:
  """The start-up check of a `config.optimizer` section (`jvrl.config_validation`).

  Raises:
    ValueError: one line naming the key: unknown or missing keys, an unknown
      name or schedule, a value of the wrong type or out of range.
  """
  _read_config(opt_config)


def _check_lr_multipliers(pairs: Any) -> tuple[tuple[str, float], ...]:
  """`lr_multipliers` as ((compiled-checked regex, factor >= 0), ...)."""
  checked = []
  for pair in pairs or ():
    if len(pair) != 2:
      raise ValueError("config.optimizer.lr_multipliers must hold (regex, factor) pairs, got "
                       f"{pair!r}.")
    pattern, factor = pair
    try:
      re.compile(pattern)
    except (re.error, TypeError) as e:
      raise ValueError(f"config.optimizer.lr_multipliers: bad regex {pattern!r}: {e}") from e
    if not factor >= 0:
      raise ValueError(f"config.optimizer.lr_multipliers: factor for {pattern!r} must be >= 0 "
                       f"(0 freezes), got {factor}.")
    checked.append((str(pattern), float(factor)))
  return tuple(checked)


def _peak_learning_rate(settings: Mapping[str, Any], global_batch_size: int) -> float:
  """Peak LR: `learning_rate`, times `global_batch_size / lr_batch_scaling` if that is > 0."""
  if settings["lr_batch_scaling"] > 0:
    if global_batch_size <= 0:
      raise ValueError(f"global_batch_size must be > 0, got {global_batch_size}.")
    return settings["learning_rate"] * global_batch_size / settings["lr_batch_scaling"]
  return float(settings["learning_rate"])


def make_learning_rate_schedule(
    opt_config: Mapping[str, Any], total_steps: int, global_batch_size: int) -> optax.Schedule:
  """Returns the learning rate as a function of the step (see the module docstring).

  Args:
    opt_config: the `config.optimizer` section.
    total_steps: number of training steps (> 0); the decay reaches
      `end_learning_rate` at this step and stays there afterwards.
    global_batch_size: batch size over all devices and hosts, used for the
      `lr_batch_scaling` rule.

  Returns:
    `schedule(step) -> float32 scalar`, jit-friendly (step may be a traced
    int array). Values lie in [0, peak] (or up to `end_learning_rate` if that is
    larger): 0 at step 0, `peak * step / warmup_steps` during warmup, the peak
    at `warmup_steps` (with `decay_from_step_zero`: `decayed(warmup_steps) *
    step / warmup_steps`, then `decayed(step)`, the decay's progress being
    step / total_steps).

  Raises:
    ValueError: unknown schedule name or key, `total_steps <= 0`,
      `warmup_steps > total_steps`, negative values.
  """
  settings = _read_config(opt_config)
  if total_steps <= 0:
    raise ValueError(f"total_steps must be > 0, got {total_steps}.")
  warmup_steps = int(settings["warmup_steps"])
  if warmup_steps > total_steps:
    raise ValueError(
        f"config.optimizer.warmup_steps={warmup_steps} exceeds total_steps={total_steps}.")
  peak = _peak_learning_rate(settings, global_batch_size)
  end = float(settings["end_learning_rate"])
  schedule_name = settings["schedule"]
  from_step_zero = settings["decay_from_step_zero"]
  decay_start = 0 if from_step_zero else warmup_steps
  decay_steps = max(total_steps - decay_start, 1)

  def decayed(step: jax.Array) -> jax.Array:
    progress = jnp.clip((step - decay_start) / decay_steps, 0.0, 1.0)
    if schedule_name == "cosine":
      return end + (peak - end) * 0.5 * (1.0 + jnp.cos(math.pi * progress))
    if schedule_name == "linear":
      return end + (peak - end) * (1.0 - progress)
    if schedule_name == "step":
      passed = sum((step >= b).astype(jnp.float32) for b in settings["decay_boundaries"])
      return peak * jnp.power(float(settings["decay_factor"]), passed)
    return jnp.full_like(progress, peak)  # 'constant'

  # What the warmup ramps up to: the peak, or (from step zero) the decay's value then.
  warmup_target = decayed(jnp.float32(warmup_steps)) if from_step_zero else peak

  def schedule(step: jax.Array) -> jax.Array:
    step = jnp.asarray(step, jnp.float32)
    warmup_lr = warmup_target * step / max(warmup_steps, 1)
    return jnp.where(step < warmup_steps, warmup_lr, decayed(step))

  return schedule


def _leaf_name(path: tuple[Any, ...]) -> str | None:
  """Name of the innermost dict key on a pytree path (skips boxing attributes)."""
  for entry in reversed(path):
    if isinstance(entry, jax.tree_util.DictKey):
      return str(entry.key)
  return None


def kernel_weight_decay_mask(params: Any) -> Any:
  """Returns a pytree like `params` with True exactly at leaves named 'kernel'.

  Conv / Dense kernels get weight decay (and LARS trust ratio); batch-norm
  'scale' / 'bias', Dense / Conv 'bias' and anything else (embeddings, ...) do
  not. Works on dicts and FrozenDicts of flax params, including boxed
  (`nn.Partitioned`) leaves.
  """
  return jax.tree_util.tree_map_with_path(lambda path, _: _leaf_name(path) == "kernel", params)


def _path_name(path: tuple[Any, ...]) -> str:
  """'/'-joined dict keys of a pytree path, e.g. 'prp/rate_head/classifier/kernel'."""
  return "/".join(str(entry.key) for entry in path if isinstance(entry, jax.tree_util.DictKey))


def lr_multiplier_tree(params: Any, multipliers: tuple[tuple[str, float], ...]) -> Any:
  """A pytree like `params` holding each leaf's factor: first matching regex, else 1.0."""
  def factor(path, _):
    name = _path_name(path)
    for pattern, value in multipliers:
      if re.search(pattern, name):
        return value
    return 1.0
  return jax.tree_util.tree_map_with_path(factor, params)


def scale_by_lr_multipliers(
    multipliers: tuple[tuple[str, float], ...]) -> optax.GradientTransformation:
  """Multiplies each parameter's update by its `lr_multiplier_tree` factor (stateless)."""

  def init_fn(params):
    del params
    return optax.EmptyState()

  def update_fn(updates, state, params=None):
    del params
    factors = lr_multiplier_tree(updates, multipliers)
    return jax.tree.map(lambda u, f: u if f == 1.0 else u * f, updates, factors), state

  return optax.GradientTransformation(init_fn, update_fn)


def _plateau_transform(settings: Mapping[str, Any],
                       accumulation_steps: int) -> optax.GradientTransformationExtraArgs:
  """`optax.contrib.reduce_on_plateau` with the settings of `config.optimizer`."""
  return optax.contrib.reduce_on_plateau(
      factor=float(settings["plateau_factor"]), patience=int(settings["plateau_patience"]),
      rtol=float(settings["plateau_rtol"]), atol=0.0,
      cooldown=int(settings["plateau_cooldown"]),
      accumulation_size=accumulation_steps,
      min_scale=float(settings["plateau_min_scale"]))


def _reduce_on_plateau(settings: Mapping[str, Any]) -> optax.GradientTransformationExtraArgs:
  """Reduce-on-plateau on the training loss, explaining a missing `value` (the loss)."""
  inner = _plateau_transform(settings, int(settings["plateau_accumulation_steps"]))

  def update_fn(updates, state, params=None, *, value=None, **extra_args):
    del extra_args
    if value is None:
      raise ValueError("config.optimizer.plateau_factor > 0 needs the loss at every step: "
                       "call optimizer.update(grads, state, params, value=loss).")
    return inner.update(updates, state, params, value=value)

  return optax.GradientTransformationExtraArgs(inner.init, update_fn)


class ValidationPlateauState(NamedTuple):
  """The plateau state of `plateau_metric='validation_loss'` (fed by the observer)."""
  plateau: optax.contrib.ReduceLROnPlateauState


def _validation_plateau(settings: Mapping[str, Any]) -> optax.GradientTransformationExtraArgs:
  """Applies the plateau's current scale; the training loss (`value`) is ignored."""
  inner = _plateau_transform(settings, 1)

  def init_fn(params):
    return ValidationPlateauState(inner.init(params))

  def update_fn(updates, state, params=None, **extra_args):
    del params, extra_args
    scale = state.plateau.scale
    return jax.tree.map(lambda u: (u * scale).astype(u.dtype), updates), state

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def make_plateau_observer(
    opt_config: Mapping[str, Any]) -> Callable[[Any, Any], Any] | None:
  """`observe(opt_state, validation_loss) -> opt_state` for `plateau_metric='validation_loss'`.

  Advances every `ValidationPlateauState` in the optimiser state by one
  observation (the same rule as the training-loss plateau: improve by a
  relative `plateau_rtol`, else count towards `plateau_patience`, then scale by
  `plateau_factor`, cooldown, floor `plateau_min_scale`). Jit-friendly. None
  when the config watches no validation loss (plateau off or on the training
  loss).
  """
  settings = _read_config(opt_config)
  if not (settings["plateau_factor"] > 0
          and settings["plateau_metric"] == "validation_loss"):
    return None
  inner = _plateau_transform(settings, 1)

  def observe(opt_state, value):
    value = jnp.asarray(value, jnp.float32)

    def advance(node):
      if not isinstance(node, ValidationPlateauState):
        return node
      return ValidationPlateauState(inner.update({}, node.plateau, value=value)[1])

    return jax.tree.map(advance, opt_state,
                        is_leaf=lambda node: isinstance(node, ValidationPlateauState))

  return observe


def plateau_scale(opt_state: Any) -> float | None:
  """The current scale of a validation-loss plateau in `opt_state` (None without one)."""
  found = [node.plateau.scale for node in jax.tree.leaves(
      opt_state, is_leaf=lambda node: isinstance(node, ValidationPlateauState))
           if isinstance(node, ValidationPlateauState)]
  return float(jax.device_get(found[0])) if found else None


def _decay_mask(settings: Mapping[str, Any]) -> Callable[[Any], Any]:
  """The weight-decay mask function of `weight_decay_mask` ('kernels' or 'all')."""
  if settings["weight_decay_mask"] == "all":
    return lambda params: jax.tree.map(lambda _: True, params)
  return kernel_weight_decay_mask


def make_optimizer(
    opt_config: Mapping[str, Any], total_steps: int,
    global_batch_size: int) -> optax.GradientTransformation:
  """Returns the optimiser named by `opt_config.name`, with its LR schedule.

  Args:
    opt_config: the `config.optimizer` section: name in ('sgd', 'lars',
      'adamw'), schedule settings (see `make_learning_rate_schedule`),
      momentum / nesterov (sgd, lars), b1 / b2 / eps (adamw), weight_decay
      (on `weight_decay_mask`'s parameters; coupled L2 for sgd and lars,
      decoupled for adamw),
      lars_trust_coefficient / lars_eps, grad_clip_norm (> 0: gradients are
      first clipped to this global norm), lr_multipliers and plateau_* (see
      the module docstring).
    total_steps: number of training steps (> 0).
    global_batch_size: batch size over all devices and hosts.

  Returns:
    An `optax.GradientTransformationExtraArgs`; call `update(grads, state,
    params)` (params are required: weight decay and LARS read them), plus
    `value=loss` when reduce-on-plateau is on.

  Raises:
    ValueError: unknown name, schedule or key; out-of-range values.
  """
  settings = _read_config(opt_config)
  learning_rate = make_learning_rate_schedule(opt_config, total_steps, global_batch_size)
  weight_decay = float(settings["weight_decay"])
  momentum = float(settings["momentum"])
  nesterov = bool(settings["nesterov"])
  name = settings["name"]
  if name == "sgd":
    optimizer = optax.chain(
        optax.add_decayed_weights(weight_decay, mask=_decay_mask(settings)),
        optax.sgd(learning_rate, momentum=momentum or None, nesterov=nesterov),
    )
  elif name == "lars":
    optimizer = optax.lars(
        learning_rate,
        weight_decay=weight_decay,
        weight_decay_mask=_decay_mask(settings),
        trust_coefficient=float(settings["lars_trust_coefficient"]),
        eps=float(settings["lars_eps"]),
        trust_ratio_mask=kernel_weight_decay_mask,
        momentum=momentum,
        nesterov=nesterov,
    )
  else:  # 'adamw'
    optimizer = optax.adamw(
        learning_rate,
        b1=float(settings["b1"]),
        b2=float(settings["b2"]),
        eps=float(settings["eps"]),
        weight_decay=weight_decay,
        mask=_decay_mask(settings),
    )
  if settings["grad_clip_norm"] > 0:
    optimizer = optax.chain(optax.clip_by_global_norm(float(settings["grad_clip_norm"])), optimizer)
  if settings["lr_multipliers"]:
    optimizer = optax.chain(optimizer, scale_by_lr_multipliers(settings["lr_multipliers"]))
  if settings["plateau_factor"] > 0:
    optimizer = optax.chain(optimizer, _reduce_on_plateau(settings)
                            if settings["plateau_metric"] == "train_loss"
                            else _validation_plateau(settings))
  # Every optimiser accepts (and all but reduce-on-plateau ignore) `value=loss`.
  return optax.with_extra_args_support(optimizer)
