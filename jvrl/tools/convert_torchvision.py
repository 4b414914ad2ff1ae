r"""torchvision's Kinetics-400 video ResNets as jvrl encoder exports.

  python -m jvrl.tools.convert_torchvision --model=r3d_18 \
      --input=r3d_18-b3b3357e.pth --output=/tmp/r3d_18_k400 [--keep_classifier]

reads a torchvision state dict of `r3d_18`, `mc3_18` or `r2plus1d_18` (a
`.pth` / `.pt` file, read with torch when it is installed, or a
`.safetensors` file, read without torch by the `safetensors` package: `pip
install -e '.[weights]'`) and writes a jvrl encoder export
(`jvrl.train.checkpointing.export_encoder`): what `config.init_from` (any
objective), `config.tsp.initial_encoder`, `jvrl.extract_features` and
`checkpointing.load_encoder` read. jvrl's `r3d_18`, `mc3_18` and
`r2plus1d_18` compute torchvision's functions exactly (same padding, strides,
mid widths), so the converted encoder gives torchvision's outputs up to float
rounding (tests/tools/test_convert_torchvision.py).

The mapping (`torchvision_key` gives the key of each jvrl variable):
  stem.0 / stem.1                      -> stem_conv / stem_bn (R3D, MC3)
  stem.0, .1, .3, .4 (R(2+1)D)         -> stem_conv/spatial_conv, stem_conv/spatial_bn,
                                          stem_conv/temporal_conv, stem_bn
  layer{i}.{j}.conv1.0 / conv1.1       -> stage{i}_block{j}/conv_a / bn_a (conv2: conv_b / bn_b)
  layer{i}.{j}.conv1.0.0, .0.1, .0.3   -> .../conv_a/spatial_conv, spatial_bn, temporal_conv
  layer{i}.0.downsample.0 / .1         -> stage{i}_block0/shortcut_conv / shortcut_bn
  fc                                   -> classifier (only with --keep_classifier)
  conv `weight` [out, in, t, h, w]     -> `kernel` [t, h, w, in, out]; fc `weight` [K, C] ->
                                          `kernel` [C, K]; BN weight / bias / running_mean /
                                          running_var -> scale / bias / mean / var;
                                          `num_batches_tracked` is ignored.
A state dict with a missing or unexpected key, or an array of the wrong shape,
is refused, naming the first few.

Input convention: jvrl encoders take float video in [0, 1]; torchvision's
Kinetics models expect it standardised with the Kinetics mean and std. The
export records `input_normalization='kinetics'` in its model options, so the
backbone standardises its input itself (`jvrl.models.inputs.normalize_video`)
and a run that starts from it must set `config.model.input_normalization=
'kinetics'` too (checked at start-up). torchvision's batch norm (eps 1e-5,
PyTorch momentum 0.1) is recorded as bn_epsilon=1e-5, bn_momentum=0.9 (flax's
convention: the weight of the old running average).
"""
import os
import sys
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np
from absl import app
from absl import flags
from absl import logging

from jvrl import models
from jvrl.train import checkpointing

MODELS = ("r3d_18", "mc3_18", "r2plus1d_18")
# The backbone options of every converted encoder (torchvision's BatchNorm3d
# defaults and the Kinetics-400 input statistics its weights were trained on).
TORCHVISION_OPTIONS: Mapping[str, Any] = {
    "input_normalization": "kinetics", "bn_epsilon": 1e-5, "bn_momentum": 0.9}
IGNORED_SUFFIXES = (".num_batches_tracked",)
CLASSIFIER_KEYS = ("fc.weight", "fc.bias")
_SHOWN = 5  # problems named per kind in an error message

# jvrl module path -> torchvision module, per stem type.
_STEM_MODULES = {
    "3d": {("stem_conv",): "stem.0", ("stem_bn",): "stem.1"},
    "2plus1d": {("stem_conv", "spatial_conv"): "stem.0", ("stem_conv", "spatial_bn"): "stem.1",
                ("stem_conv", "temporal_conv"): "stem.3", ("stem_bn",): "stem.4"},
}
_BLOCK_MODULES = {"conv_a": "conv1.0", "bn_a": "conv1.1", "conv_b": "conv2.0",
                  "bn_b": "conv2.1", "shortcut_conv": "downsample.0",
                  "shortcut_bn": "downsample.1"}
_FACTORISED_MODULES = {"spatial_conv": "0", "spatial_bn": "1", "temporal_conv": "3"}
_LEAVES = {("params", "kernel"): "weight", ("params", "scale"): "weight",
           ("params", "bias"): "bias", ("batch_stats", "mean"): "running_mean",
           ("batch_stats", "var"): "running_var"}


class ConversionError(ValueError):
  """The input is not a convertible torchvision state dict; one line says why."""


def model_kwargs(num_classes: int | None = None) -> dict[str, Any]:
  """The `build_model` options of a converted encoder (JSON-serialisable)."""
  kwargs = dict(TORCHVISION_OPTIONS)
  if num_classes is not None:
    kwargs["num_classes"] = int(num_classes)
  return kwargs


def torchvision_key(collection: str, path: tuple[str, ...], stem_type: str) -> str:
  """The torchvision state-dict key of the jvrl variable `collection`/`path`.

  Args:
    collection: 'params' or 'batch_stats'.
    path: the variable's names, e.g. ('stage2_block0', 'conv_a', 'spatial_conv', 'kernel').
    stem_type: '3d' (R3D, MC3) or '2plus1d' (R(2+1)D), the backbone's conv_type.

  Returns:
    e.g. 'layer2.0.conv1.0.0.weight'.
  """
  module, leaf = path[:-1], path[-1]
  if module[0].startswith("stage"):
    stage, block = module[0][len("stage"):].split("_block")
    parts = [f"layer{stage}", block, _BLOCK_MODULES[module[1]]]
    parts += [_FACTORISED_MODULES[name] for name in module[2:]]
  elif module == ("classifier",):
    parts = ["fc"]
  else:
    parts = [_STEM_MODULES[stem_type][module]]
  return ".".join(parts + [_LEAVES[(collection, leaf)]])


def _to_torch_layout(shape: tuple[int, ...]) -> tuple[int, ...]:
  """torchvision's shape of a jvrl array: conv [t,h,w,in,out] -> [out,in,t,h,w]; dense
  [in, out] -> [out, in]; vectors unchanged."""
  if len(shape) == 5:
    t, h, w, c_in, c_out = shape
    return (c_out, c_in, t, h, w)
  return tuple(reversed(shape))


def _to_jvrl_layout(array: np.ndarray) -> np.ndarray:
  """The inverse of `_to_torch_layout`, on values (float32, contiguous)."""
  array = np.asarray(array, np.float32)
  if array.ndim == 5:
    array = array.transpose(2, 3, 4, 1, 0)
  elif array.ndim == 2:
    array = array.T
  return np.ascontiguousarray(array)


def expected_variables(model_name: str, kwargs: Mapping[str, Any]
                       ) -> dict[str, tuple[str, tuple[str, ...], tuple[int, ...]]]:
  """torchvision key -> (collection, jvrl path, jvrl shape) of every variable of the
  jvrl model (shapes from `jax.eval_shape`: nothing is allocated)."""
  model = models.build_model(model_name, **kwargs)
  abstract = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 8, 32, 32, 3)), train=False))
  expected = {}
  for key_path, leaf in jax.tree_util.tree_leaves_with_path(abstract):
    collection, *path = (str(entry.key) for entry in key_path)
    expected[torchvision_key(collection, tuple(path), model.conv_type)] = (
        collection, tuple(path), tuple(leaf.shape))
  return expected


def _listed(keys: list[str]) -> str:
  more = f" and {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
  return ", ".join(keys[:_SHOWN]) + more


def convert_state_dict(state_dict: Mapping[str, np.ndarray], model_name: str, *,
                       keep_classifier: bool = False) -> tuple[dict[str, Any], dict]:
  """torchvision `model_name`'s state dict as jvrl's (model_kwargs, variables).

  Args:
    state_dict: torchvision key -> numpy array (e.g. `read_state_dict`).
    model_name: one of `MODELS`.
    keep_classifier: keep `fc` as the `classifier` (num_classes from its
      shape); otherwise `fc` is dropped (and may be absent).

  Returns:
    (model_kwargs, variables): `build_model(model_name, **model_kwargs)` and
    its {'params': ..., 'batch_stats': ...} as float32 numpy arrays.

  Raises:
    ConversionError: a missing or unexpected key or a wrong shape (naming
      the first few of each).
  """
  if model_name not in MODELS:
    raise ConversionError(f"Unknown model {model_name!r}; converts {MODELS}.")
  given = {key: value for key, value in state_dict.items()
           if not key.endswith(IGNORED_SUFFIXES)
           and (keep_classifier or key not in CLASSIFIER_KEYS)}
  num_classes = None
  if keep_classifier:
    if "fc.weight" not in given:
      raise ConversionError("--keep_classifier needs fc.weight, which the state dict lacks.")
    num_classes = int(np.shape(given["fc.weight"])[0])
  kwargs = model_kwargs(num_classes)
  expected = expected_variables(model_name, kwargs)
  missing = sorted(set(expected) - set(given))
  unexpected = sorted(set(given) - set(expected))
  wrong_shapes = sorted(
      f"{key} {tuple(np.shape(given[key]))} (expected {_to_torch_layout(shape)})"
      for key, (_, _, shape) in expected.items()
      if key in given and tuple(np.shape(given[key])) != _to_torch_layout(shape))
  problems = [f"{len(keys)} {kind}: {_listed(keys)}" for kind, keys in (
      ("missing key(s)", missing), ("unexpected key(s)", unexpected),
      ("array(s) of the wrong shape", wrong_shapes)) if keys]
  if problems:
    raise ConversionError(f"Not a state dict of torchvision's {model_name}: "
                          f"{'; '.join(problems)}.")
  variables: dict[str, dict] = {}
  for key, (collection, path, _) in expected.items():
    node = variables.setdefault(collection, {})
    for name in path[:-1]:
      node = node.setdefault(name, {})
    node[path[-1]] = _to_jvrl_layout(given[key])
  return kwargs, variables


def _first_line(error: Exception) -> str:
  lines = str(error).strip().splitlines()
  return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def read_state_dict(path: str) -> dict[str, np.ndarray]:
  """A state dict file as key -> numpy array: `.safetensors` (no torch needed) or
  `.pth` / `.pt` (needs torch).

  Raises:
    ConversionError: an unknown suffix, or the package the suffix needs is
      not installed (one line naming the `pip install` and the alternative).
  """
  if not os.path.isfile(path):
    raise ConversionError(f"{path}: no such file.")
  suffix = os.path.splitext(path)[1]
  if suffix == ".safetensors":
    try:
      from safetensors import numpy as safetensors_numpy  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise ConversionError(
          f"Reading {path} needs the safetensors package: pip install safetensors (or "
          "pip install -e '.[weights]').") from None
    try:
      return dict(safetensors_numpy.load_file(path))
    except Exception as error:  # pylint: disable=broad-except  (the library's own errors)
      raise ConversionError(f"{path} is not a readable .safetensors file: "
                            f"{_first_line(error)}") from None
  if suffix in (".pth", ".pt"):
    try:
      import torch  # pylint: disable=g-import-not-at-top
    except ImportError:
      raise ConversionError(
          f"Reading {path} (a PyTorch pickle) needs torch: pip install torch, or pass the "
          "state dict as a .safetensors file (saved where torch is installed with "
          "safetensors.torch.save_file(state_dict, 'weights.safetensors')).") from None
    try:
      loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pylint: disable=broad-except  (pickle / zip errors)
      raise ConversionError(f"torch.load could not read {path}: {_first_line(error)}") from None
    if not isinstance(loaded, Mapping):
      raise ConversionError(f"{path} holds a {type(loaded).__name__}, not a state dict.")
    not_tensors = sorted(key for key, value in loaded.items() if not torch.is_tensor(value))
    if not_tensors:
      raise ConversionError(f"{path} is not a plain state dict: {_listed(not_tensors)} "
                            "are not tensors.")
    return {key: (value.float() if value.is_floating_point() else value).numpy()
            for key, value in loaded.items()}
  raise ConversionError(f"{path}: expected a .pth, .pt or .safetensors file.")


def convert_file(model_name: str, input_path: str, output_dir: str, *,
                 keep_classifier: bool = False) -> dict[str, Any]:
  """Converts the state dict in `input_path` and exports it to `output_dir`.

  Returns:
    The export's model_kwargs.
  """
  kwargs, variables = convert_state_dict(read_state_dict(input_path), model_name,
                                         keep_classifier=keep_classifier)
  checkpointing.export_encoder(output_dir, model_name=model_name, model_kwargs=kwargs,
                               variables=variables)
  return kwargs


_MODEL = flags.DEFINE_enum("model", None, list(MODELS), "The torchvision architecture.")
_INPUT = flags.DEFINE_string("input", None, "The state dict: a .pth / .pt (needs torch) or "
                             ".safetensors file.")
_OUTPUT = flags.DEFINE_string("output", None, "The export directory to write.")
_KEEP_CLASSIFIER = flags.DEFINE_bool(
    "keep_classifier", False, "Keep the Kinetics-400 classifier (fc) as `classifier`, making "
    "the encoder return logits (num_classes=400); for starting training leave it off.")


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)  # orbax's INFO lines would bury the summary
  try:
    kwargs = convert_file(_MODEL.value, _INPUT.value, _OUTPUT.value,
                          keep_classifier=_KEEP_CLASSIFIER.value)
  except (ConversionError, OSError) as error:
    sys.stderr.write(f"convert_torchvision: {error}\n")
    sys.exit(2)
  spec = checkpointing.read_encoder_spec(_OUTPUT.value)
  print(f"Wrote torchvision's {_MODEL.value} ({spec['param_count']:,} parameters"
        f"{', with its classifier' if 'num_classes' in kwargs else ''}) to {_OUTPUT.value}.")
  if "num_classes" not in kwargs:
    print(f"Start training from it with --config.init_from={_OUTPUT.value} "
          f"--config.model_name={_MODEL.value} --config.model.width_multiplier=1.0 "
          "--config.model.input_transform=rgb --config.model.input_normalization=kinetics")


if __name__ == "__main__":
  flags.mark_flags_as_required(["model", "input", "output"])
  app.run(main)
