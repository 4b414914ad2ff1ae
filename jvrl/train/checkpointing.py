"""Training checkpoints and the exported encoder, both written with orbax.

Two kinds of files:

* Training checkpoints (`Checkpointer`): the whole train state (parameters,
  batch-norm statistics, optimiser state, step) plus a small JSON metadata
  dict, one numbered sub-directory per step under `directory`, the newest
  `max_to_keep` kept. Saves are asynchronous by default: `save` returns once
  the arrays are copied off the devices and the files are written in the
  background. Restoring needs an abstract tree (`abstract_like`, or
  `jax.eval_shape` of the initialiser) whose `jax.ShapeDtypeStruct`s carry the
  shardings the restored arrays should have.
* The exported encoder (`export_encoder` / `load_encoder`): only the video
  encoder's variables and how to rebuild its module, readable without the
  training code, the optimiser or the heads:
    DIRECTORY/encoder.json  {'model_name', 'model_kwargs', 'jvrl_version',
                             'param_count'}
    DIRECTORY/variables/    orbax checkpoint of {'params': ..., 'batch_stats': ...}

Every process of a multi-host run must call `save`, `restore` and
`export_encoder` (orbax coordinates the writes; only process 0 writes
`encoder.json` and the JSON metadata).

An interrupted save (crash, kill, full disk) never replaces or damages the
last good checkpoint: orbax writes a step into `<step>.orbax-checkpoint-tmp-*`
and renames it to `<step>` only once every file (of every process) is
written; `latest_step` and `restore` see finished steps only, and leftover
temporary directories are deleted when the next `Checkpointer` opens.
"""
import json
import os
from typing import Any, Mapping

import flax.core
import flax.linen as nn
import jax
import numpy as np
import orbax.checkpoint as ocp

import jvrl

# Item names inside one training checkpoint step.
_STATE_ITEM = "state"
_METADATA_ITEM = "metadata"
# Layout of an exported encoder directory.
ENCODER_SPEC_FILE = "encoder.json"
ENCODER_VARIABLES_DIR = "variables"


def _require_json(value: Any, argument: str) -> None:
  """Raises ValueError naming `argument` if `value` cannot be written as JSON."""
  try:
    json.dumps(value)
  except (TypeError, ValueError) as error:
    raise ValueError(
        f"{argument} must be JSON-serialisable (dicts, lists, str, numbers, bools, None): "
        f"{error}") from error


class Checkpointer:
  """Saves and restores training states under one directory (orbax CheckpointManager).

  Usage:
    with Checkpointer(os.path.join(workdir, 'checkpoints'), max_to_keep=2) as ckpt:
      if ckpt.latest_step() is not None:
        state, metadata = ckpt.restore(abstract_like(state))
      ...
      ckpt.save(step, state, {'model_name': 'r3d_18'})
  """

  def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 3,
               async_save: bool = True):
    """Opens (creating if needed) the checkpoint directory.

    Args:
      directory: where the numbered step directories live.
      max_to_keep: how many of the newest steps to keep (>= 1); older ones are
        deleted after each save.
      async_save: write in a background thread (`save` returns early; call
        `wait_until_finished` or `close` before reading the files).
    """
    if max_to_keep < 1:
      raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}.")
    self._directory = os.path.abspath(os.fspath(directory))
    self._manager = ocp.CheckpointManager(
        self._directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=async_save, create=True,
            cleanup_tmp_directories=True))
    _await_temporary_cleanup(self._manager)

  @property
  def directory(self) -> str:
    """Absolute path of the checkpoint directory."""
    return self._directory

  def latest_step(self) -> int | None:
    """Newest saved step, or None when the directory holds no checkpoint."""
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    """All saved steps, ascending."""
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: Any, metadata: Mapping[str, Any], *,
           force: bool = False) -> bool:
    """Saves `state` and `metadata` as checkpoint `step`.

    Args:
      step: training step (>= 0) naming the checkpoint.
      state: any pytree of jax.Arrays / numpy arrays (e.g. a flax struct
        TrainState); sharded arrays are written by the processes owning them.
      metadata: small JSON-serialisable dict (config snapshot, model name, ...).
      force: passed to orbax: save even where its save policy would skip.

    Returns:
      True if a save was started; False if orbax skipped it (e.g. `step` is
      already saved).
    """
    if step < 0:
      raise ValueError(f"step must be >= 0, got {step}.")
    _require_json(dict(metadata), "metadata")
    return self._manager.save(
        int(step),
        args=ocp.args.Composite(**{
            _STATE_ITEM: ocp.args.StandardSave(state),
            _METADATA_ITEM: ocp.args.JsonSave(dict(metadata)),
        }),
        force=force)

  def restore(self, abstract_state: Any, step: int | None = None) -> tuple[Any, dict]:
    """Restores checkpoint `step` (the newest when None).

    Args:
      abstract_state: pytree with the saved state's structure whose leaves are
        `jax.ShapeDtypeStruct`s (with `sharding=` for where to put each array;
        see `abstract_like`) or arrays.
      step: which saved step; None for the newest.

    Returns:
      (state, metadata): `state` has `abstract_state`'s structure, shapes,
      dtypes and shardings; `metadata` is the dict given to `save`.

    Raises:
      FileNotFoundError: there is no checkpoint (or no checkpoint `step`).
    """
    self._manager.wait_until_finished()
    steps = self.all_steps()
    if step is None:
      if not steps:
        raise FileNotFoundError(f"No checkpoint to restore in {self._directory}.")
      step = steps[-1]
    elif step not in steps:
      raise FileNotFoundError(
          f"No checkpoint for step {step} in {self._directory}; saved steps: {steps}.")
    restored = self._manager.restore(
        int(step),
        args=ocp.args.Composite(**{
            _STATE_ITEM: ocp.args.StandardRestore(abstract_state),
            _METADATA_ITEM: ocp.args.JsonRestore(),
        }))
    return restored[_STATE_ITEM], dict(restored[_METADATA_ITEM])

  def restore_metadata(self, step: int | None = None) -> dict:
    """The JSON metadata of checkpoint `step` (the newest when None), without the state."""
    self._manager.wait_until_finished()
    step = self.latest_step() if step is None else step
    if step is None or step not in self.all_steps():
      raise FileNotFoundError(f"No checkpoint for step {step} in {self._directory}.")
    restored = self._manager.restore(
        int(step), args=ocp.args.Composite(**{_METADATA_ITEM: ocp.args.JsonRestore()}))
    return dict(restored[_METADATA_ITEM])

  def wait_until_finished(self) -> None:
    """Blocks until every pending asynchronous save is on disk."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    """Finishes pending saves and releases orbax's resources."""
    self._manager.wait_until_finished()
    self._manager.close()

  def __enter__(self) -> "Checkpointer":
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


def _await_temporary_cleanup(manager: ocp.CheckpointManager) -> None:
  """Waits for the deletion of leftover temporary step directories that orbax
  starts in a background thread when a manager opens.

  orbax waits for it only before the next save, so a run that opens a
  manager and stops without saving (a refused resume, an evaluation) left the
  thread running into interpreter shutdown, which printed a long traceback
  ("cannot schedule new futures after interpreter shutdown", "Event loop is
  closed") below the run's real message. Listing the directory takes
  milliseconds, so opening waits for it.
  """
  cleanup = getattr(manager, "_cleanup_tmp_directory_future", None)  # orbax >= 0.11
  if cleanup is not None:
    cleanup.result()
    manager._cleanup_tmp_directory_future = None  # pylint: disable=protected-access


def abstract_like(tree: Any) -> Any:
  """Returns `tree` with each leaf replaced by a `jax.ShapeDtypeStruct`.

  A jax.Array leaf keeps its sharding (so restoring places arrays the same
  way); numpy / Python scalar leaves get no sharding.
  """

  def to_abstract(leaf: Any) -> jax.ShapeDtypeStruct:
    if isinstance(leaf, jax.Array):
      return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=leaf.sharding)
    array = np.asarray(leaf)
    return jax.ShapeDtypeStruct(array.shape, array.dtype)

  return jax.tree.map(to_abstract, tree)


def _lists_to_tuples(value: Any) -> Any:
  """JSON lists back to tuples (recursively), as flax module fields expect."""
  if isinstance(value, list):
    return tuple(_lists_to_tuples(item) for item in value)
  if isinstance(value, dict):
    return {key: _lists_to_tuples(item) for key, item in value.items()}
  return value


def export_encoder(directory: str | os.PathLike, *, model_name: str,
                   model_kwargs: Mapping[str, Any], variables: Mapping[str, Any]) -> None:
  """Writes a stand-alone encoder to `directory` (overwriting a previous export).

  Args:
    directory: output directory, created if needed.
    model_name: registry name for `jvrl.models.build_model`, e.g. 'r3d_18'.
    model_kwargs: JSON-serialisable keyword arguments of `build_model`
      (tuples are stored as lists and come back as tuples).
    variables: the encoder's flax variables, {'params': ..., 'batch_stats':
      ...} (any collections; 'params' required), jax or numpy arrays.

  Writes `directory/variables` (orbax, synchronous) and
  `directory/encoder.json` with model_name, model_kwargs, jvrl_version and
  param_count (number of scalars in 'params').
  """
  if not model_name:
    raise ValueError("model_name must be a non-empty registry name.")
  if "params" not in variables:
    raise ValueError(f"variables must hold a 'params' collection, got {sorted(variables)}.")
  spec = {
      "model_name": model_name,
      "model_kwargs": dict(model_kwargs),
      "jvrl_version": jvrl.__version__,
      "param_count": int(sum(np.size(leaf) for leaf in jax.tree.leaves(variables["params"]))),
  }
  _require_json(spec["model_kwargs"], "model_kwargs")
  directory = os.path.abspath(os.fspath(directory))
  os.makedirs(directory, exist_ok=True)
  with ocp.Checkpointer(ocp.StandardCheckpointHandler()) as checkpointer:
    checkpointer.save(
        os.path.join(directory, ENCODER_VARIABLES_DIR),
        args=ocp.args.StandardSave(flax.core.unfreeze(variables)), force=True)
  if jax.process_index() == 0:
    spec_path = os.path.join(directory, ENCODER_SPEC_FILE)
    with open(spec_path + ".tmp", "w") as spec_file:
      json.dump(spec, spec_file, indent=2, sort_keys=True)
    os.replace(spec_path + ".tmp", spec_path)


def read_encoder_spec(directory: str | os.PathLike) -> dict:
  """The `encoder.json` of an exported encoder (reads nothing else).

  Raises:
    FileNotFoundError: `directory` holds no `encoder.json`.
  """
  spec_path = os.path.join(os.fspath(directory), ENCODER_SPEC_FILE)
  if not os.path.isfile(spec_path):
    raise FileNotFoundError(f"{os.fspath(directory)!r} holds no exported encoder "
                            f"({ENCODER_SPEC_FILE} missing; written by export_encoder).")
  with open(spec_path) as spec_file:
    return json.load(spec_file)


def check_export_fits(directory: str | os.PathLike, model_name: str,
                      model_kwargs: Mapping[str, Any], *, field: str) -> dict:
  """Checks that the export in `directory` is the encoder a run builds, and returns its spec.

  The run's encoder is `build_model(model_name, **model_kwargs)`; the export
  fits when it has the same model name and the same architecture options
  (`jvrl.models.architecture_options`: everything but dtype, conv policy, BN
  momentum, dropout), defaults filled in on both sides. Reads encoder.json only.

  Args:
    directory: the exported encoder's directory.
    model_name, model_kwargs: the run's `config.model_name` / `config.model`.
    field: the config field that named `directory` (for the message), e.g.
      'config.init_from'.

  Raises:
    FileNotFoundError: `directory` holds no exported encoder.
    ValueError: one line naming every differing field.
  """
  from jvrl import models  # pylint: disable=g-import-not-at-top  (avoids a cycle)

  try:
    spec = read_encoder_spec(directory)
  except FileNotFoundError as error:
    raise FileNotFoundError(f"{field}={os.fspath(directory)!r}: {error}") from None
  if spec["model_name"] != model_name:
    differ = [f"model_name is {spec['model_name']!r} there, {model_name!r} here"]
  else:
    given = models.architecture_options(model_name, spec["model_kwargs"])
    wanted = models.architecture_options(model_name, model_kwargs)
    differ = [f"model.{key} is {given.get(key)!r} there, {wanted.get(key)!r} here"
              for key in sorted(set(given) | set(wanted)) if given.get(key) != wanted.get(key)]
  if differ:
    raise ValueError(f"The encoder exported in {field}={os.fspath(directory)!r} is not the "
                     f"architecture this run trains ({'; '.join(differ)}): set "
                     "config.model_name / config.model to match it.")
  return spec


def load_encoder(directory: str | os.PathLike) -> tuple[nn.Module, dict]:
  """Loads an encoder written by `export_encoder`.

  Returns:
    (module, variables): the module from `jvrl.models.build_model(model_name,
    **model_kwargs)` and its variables as nested dicts of host numpy arrays
    (no sharding), ready for `module.apply(variables, ...)`.

  Raises:
    FileNotFoundError: `directory` holds no exported encoder.
    ValueError: the restored parameter count disagrees with encoder.json.
  """
  from jvrl import models  # pylint: disable=g-import-not-at-top  (avoids a cycle)

  directory = os.path.abspath(os.fspath(directory))
  spec_path = os.path.join(directory, ENCODER_SPEC_FILE)
  variables_path = os.path.join(directory, ENCODER_VARIABLES_DIR)
  if not (os.path.isfile(spec_path) and os.path.isdir(variables_path)):
    raise FileNotFoundError(
        f"No exported encoder in {directory} (expected {ENCODER_SPEC_FILE} and "
        f"{ENCODER_VARIABLES_DIR}/, written by export_encoder).")
  with open(spec_path) as spec_file:
    spec = json.load(spec_file)
  module = models.build_model(spec["model_name"], **_lists_to_tuples(spec["model_kwargs"]))
  with ocp.PyTreeCheckpointer() as checkpointer:
    tree_metadata = checkpointer.metadata(variables_path).item_metadata.tree
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree_metadata)
    variables = checkpointer.restore(
        variables_path, args=ocp.args.PyTreeRestore(restore_args=restore_args))
  param_count = sum(np.size(leaf) for leaf in jax.tree.leaves(variables["params"]))
  if param_count != spec["param_count"]:
    raise ValueError(
        f"{variables_path} holds {param_count} parameters but {spec_path} says "
        f"{spec['param_count']}: the export is incomplete or mixed up.")
  return module, variables
