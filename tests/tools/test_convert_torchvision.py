"""torchvision's Kinetics video ResNets ported to jvrl: the key mapping, the numerics
against a NumPy re-implementation of torchvision's forward pass (and torchvision
itself when torch is installed), the refusals and the command line."""
import functools
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from jvrl import models
from jvrl.models import inputs
from jvrl.tools import convert_torchvision
from jvrl.train import checkpointing

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# torchvision's conv_makers per model: 'simple' = Conv3DSimple (3x3x3), 'no_temporal'
# = Conv3DNoTemporal ((1,3,3), stride (1,s,s)), '2plus1d' = Conv2Plus1D.
CONV_MAKERS = {"r3d_18": ("simple",) * 4, "mc3_18": ("simple",) + ("no_temporal",) * 3,
               "r2plus1d_18": ("2plus1d",) * 4}
VIDEO_SHAPE = (1, 8, 32, 32, 3)  # [B, T, H, W, C] in [0, 1]


# ------------------------------------- torchvision's layout, written out in NumPy ---

def torchvision_shapes(model_name: str) -> dict[str, tuple[int, ...]]:
  """Every key of torchvision's `model_name` state dict and its shape (num_classes=400),
  written out from torchvision's VideoResNet(BasicBlock, conv_makers, [2, 2, 2, 2], stem)."""
  shapes = {}

  def conv(name, out_channels, in_channels, kernel):
    shapes[f"{name}.weight"] = (out_channels, in_channels, *kernel)

  def bn(name, channels):
    for leaf in ("weight", "bias", "running_mean", "running_var"):
      shapes[f"{name}.{leaf}"] = (channels,)
    shapes[f"{name}.num_batches_tracked"] = ()

  if model_name == "r2plus1d_18":  # R2Plus1dStem
    conv("stem.0", 45, 3, (1, 7, 7))
    bn("stem.1", 45)
    conv("stem.3", 64, 45, (3, 1, 1))
    bn("stem.4", 64)
  else:  # BasicStem
    conv("stem.0", 64, 3, (3, 7, 7))
    bn("stem.1", 64)
  inplanes = 64
  for layer, (planes, maker) in enumerate(zip((64, 128, 256, 512), CONV_MAKERS[model_name]),
                                          start=1):
    for block in range(2):
      prefix = f"layer{layer}.{block}"
      mid = inplanes * planes * 27 // (inplanes * 9 + 3 * planes)  # BasicBlock's midplanes
      for conv_name, in_channels in (("conv1", inplanes), ("conv2", planes)):
        if maker == "2plus1d":
          conv(f"{prefix}.{conv_name}.0.0", mid, in_channels, (1, 3, 3))
          bn(f"{prefix}.{conv_name}.0.1", mid)
          conv(f"{prefix}.{conv_name}.0.3", planes, mid, (3, 1, 1))
        else:
          conv(f"{prefix}.{conv_name}.0", planes, in_channels,
               (3, 3, 3) if maker == "simple" else (1, 3, 3))
        bn(f"{prefix}.{conv_name}.1", planes)
      if block == 0 and layer > 1:
        conv(f"{prefix}.downsample.0", planes, inplanes, (1, 1, 1))
        bn(f"{prefix}.downsample.1", planes)
      inplanes = planes
  shapes["fc.weight"], shapes["fc.bias"] = (400, 512), (400,)
  return shapes


@functools.lru_cache(maxsize=None)
def random_state_dict(model_name: str) -> dict[str, np.ndarray]:
  """A torchvision-layout state dict with random float32 values (fan-in scaled conv
  weights, BN statistics away from the identity) and int64 num_batches_tracked."""
  rng = np.random.default_rng(0)
  state = {}
  for key, shape in torchvision_shapes(model_name).items():
    leaf = key.rsplit(".", 1)[1]
    if leaf == "num_batches_tracked":
      value = np.array(1000, np.int64)
    elif len(shape) in (2, 5):  # conv / fc weight [out, in, ...]
      value = rng.normal(0.0, 1.0 / np.sqrt(np.prod(shape[1:])), shape)
    elif leaf in ("running_var", "weight"):
      value = rng.uniform(0.5, 1.5, shape)
    else:
      value = rng.normal(0.0, 0.2, shape)
    state[key] = np.asarray(value, np.float32 if leaf != "num_batches_tracked" else np.int64)
  return state


def _conv3d(x, weight, stride, padding):
  """torch.nn.functional.conv3d without bias: x [B, C, T, H, W], weight [O, C, t, h, w]."""
  x = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in padding])
  windows = sliding_window_view(x, weight.shape[2:], axis=(2, 3, 4))
  windows = windows[:, :, ::stride[0], ::stride[1], ::stride[2]]
  return np.einsum("bcthwijk,ocijk->bothw", windows, weight, optimize=True)


def _batch_norm(x, state, name, eps=1e-5):
  """BatchNorm3d in eval mode (running statistics), channels on axis 1."""
  def channel(leaf):
    return state[f"{name}.{leaf}"][None, :, None, None, None]
  return ((x - channel("running_mean")) / np.sqrt(channel("running_var") + eps)
          * channel("weight") + channel("bias"))


def _relu(x):
  return np.maximum(x, 0.0)


def _block_conv(maker, state, name, x, stride):
  """torchvision's conv_builder(in, out, mid, stride) applied to x."""
  if maker == "simple":
    return _conv3d(x, state[f"{name}.weight"], (stride,) * 3, (1, 1, 1))
  if maker == "no_temporal":
    return _conv3d(x, state[f"{name}.weight"], (1, stride, stride), (0, 1, 1))
  y = _conv3d(x, state[f"{name}.0.weight"], (1, stride, stride), (0, 1, 1))
  y = _relu(_batch_norm(y, state, f"{name}.1"))
  return _conv3d(y, state[f"{name}.3.weight"], (stride, 1, 1), (1, 0, 0))


def torchvision_logits(state, model_name, video_ncthw):
  """torchvision's VideoResNet.forward in eval mode, in float64 NumPy."""
  state = {key: np.asarray(value, np.float64) for key, value in state.items()}
  x = np.asarray(video_ncthw, np.float64)
  if model_name == "r2plus1d_18":
    x = _relu(_batch_norm(_conv3d(x, state["stem.0.weight"], (1, 2, 2), (0, 3, 3)),
                          state, "stem.1"))
    x = _relu(_batch_norm(_conv3d(x, state["stem.3.weight"], (1, 1, 1), (1, 0, 0)),
                          state, "stem.4"))
  else:
    x = _relu(_batch_norm(_conv3d(x, state["stem.0.weight"], (1, 2, 2), (1, 3, 3)),
                          state, "stem.1"))
  for layer, maker in enumerate(CONV_MAKERS[model_name], start=1):
    for block in range(2):
      prefix = f"layer{layer}.{block}"
      stride = 2 if layer > 1 and block == 0 else 1
      out = _relu(_batch_norm(_block_conv(maker, state, f"{prefix}.conv1.0", x, stride),
                              state, f"{prefix}.conv1.1"))
      out = _batch_norm(_block_conv(maker, state, f"{prefix}.conv2.0", out, 1),
                        state, f"{prefix}.conv2.1")
      residual = x
      if f"{prefix}.downsample.0.weight" in state:  # get_downsample_stride
        ds_stride = (1, stride, stride) if maker == "no_temporal" else (stride,) * 3
        residual = _batch_norm(
            _conv3d(x, state[f"{prefix}.downsample.0.weight"], ds_stride, (0, 0, 0)),
            state, f"{prefix}.downsample.1")
      x = _relu(out + residual)
  return x.mean(axis=(2, 3, 4)) @ state["fc.weight"].T + state["fc.bias"]


def kinetics_input(video_nthwc):
  """What torchvision's Kinetics models are fed: standardised, [B, C, T, H, W]."""
  mean, std = inputs.INPUT_NORMALIZATIONS["kinetics"]
  return ((video_nthwc - np.array(mean)) / np.array(std)).transpose(0, 4, 1, 2, 3)


def _video(seed=1):
  return np.random.default_rng(seed).uniform(size=VIDEO_SHAPE).astype(np.float32)


def jvrl_outputs(model_name, kwargs, variables, video):
  model = models.build_model(model_name, **kwargs)
  return np.asarray(jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, video))


# ----------------------------------------------------------------------- tests ---

@pytest.mark.parametrize("model_name", convert_torchvision.MODELS)
def test_ported_weights_compute_torchvision_s_function(model_name):
  """Random weights in torchvision's layout, converted: jvrl's logits on [0, 1] video =
  torchvision's forward pass (NumPy, float64) on the Kinetics-standardised video."""
  state = random_state_dict(model_name)
  kwargs, variables = convert_torchvision.convert_state_dict(state, model_name,
                                                             keep_classifier=True)
  assert kwargs == {"input_normalization": "kinetics", "bn_epsilon": 1e-5, "bn_momentum": 0.9,
                    "num_classes": 400}
  video = _video()
  got = jvrl_outputs(model_name, kwargs, variables, video)
  want = torchvision_logits(state, model_name, kinetics_input(video.astype(np.float64)))
  assert got.shape == want.shape == (1, 400)
  assert np.abs(want).max() > 0.1  # the comparison is not between near-zeros
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_every_key_maps_to_its_jvrl_variable():
  """Spot checks of the mapping and the layouts (the numerics test covers the rest)."""
  state = random_state_dict("r2plus1d_18")
  _, variables = convert_torchvision.convert_state_dict(state, "r2plus1d_18")
  params, stats = variables["params"], variables["batch_stats"]
  np.testing.assert_array_equal(
      params["stage2_block0"]["conv_a"]["spatial_conv"]["kernel"],
      state["layer2.0.conv1.0.0.weight"].transpose(2, 3, 4, 1, 0))  # [t, h, w, in, out]
  np.testing.assert_array_equal(params["stem_conv"]["temporal_conv"]["kernel"][:, 0, 0],
                                state["stem.3.weight"][:, :, :, 0, 0].transpose(2, 1, 0))
  np.testing.assert_array_equal(stats["stage4_block0"]["shortcut_bn"]["var"],
                                state["layer4.0.downsample.1.running_var"])
  np.testing.assert_array_equal(params["stage3_block1"]["bn_b"]["scale"],
                                state["layer3.1.conv2.1.weight"])
  np.testing.assert_array_equal(stats["stem_bn"]["mean"], state["stem.4.running_mean"])
  assert "classifier" not in params  # fc is dropped unless asked for
  assert convert_torchvision.torchvision_key(
      "params", ("stage1_block1", "conv_b", "kernel"), "3d") == "layer1.1.conv2.0.weight"
  assert convert_torchvision.torchvision_key(
      "params", ("classifier", "kernel"), "3d") == "fc.weight"


@pytest.mark.parametrize("change, match", [
    (lambda s: s.pop("layer3.1.conv2.1.running_var"),
     r"1 missing key\(s\): layer3.1.conv2.1.running_var"),
    (lambda s: s.update({"module.fc.weight": np.zeros((400, 512), np.float32)}),
     r"1 unexpected key\(s\): module.fc.weight"),
    (lambda s: s.update({"stem.0.weight": np.zeros((64, 3, 7, 7, 3), np.float32)}),
     r"wrong shape: stem.0.weight \(64, 3, 7, 7, 3\) \(expected \(64, 3, 3, 7, 7\)\)"),
])
def test_a_state_dict_of_another_layout_is_refused(change, match):
  state = dict(random_state_dict("r3d_18"))
  change(state)
  with pytest.raises(convert_torchvision.ConversionError, match=match):
    convert_torchvision.convert_state_dict(state, "r3d_18")


def test_another_model_s_state_dict_is_refused_naming_the_first_keys():
  with pytest.raises(convert_torchvision.ConversionError,
                     match=r"Not a state dict of torchvision's r3d_18: .*wrong shape: "
                           r"layer2.0.conv1.0.weight \(128, 64, 1, 3, 3\).* and \d+ more"):
    convert_torchvision.convert_state_dict(random_state_dict("mc3_18"), "r3d_18")
  with pytest.raises(convert_torchvision.ConversionError,
                     match=r"101 missing key\(s\): layer1.0.conv1.0.0.weight, .* and 96 more; "
                           r"16 unexpected key\(s\): layer1.0.conv1.0.weight"):
    convert_torchvision.convert_state_dict(random_state_dict("r3d_18"), "r2plus1d_18")
  with pytest.raises(convert_torchvision.ConversionError, match="needs fc.weight"):
    headless = {k: v for k, v in random_state_dict("r3d_18").items() if not k.startswith("fc")}
    convert_torchvision.convert_state_dict(headless, "r3d_18", keep_classifier=True)


def test_safetensors_file_to_export_and_back(tmp_path):
  """The .safetensors route end to end (no torch): the export loads as the converted
  encoder, with the Kinetics normalisation recorded in its model options."""
  safetensors_numpy = pytest.importorskip("safetensors.numpy")
  state = random_state_dict("mc3_18")
  path = str(tmp_path / "mc3_18.safetensors")
  safetensors_numpy.save_file(state, path)
  output = str(tmp_path / "export")
  result = _run_command_line("--model=mc3_18", f"--input={path}", f"--output={output}")
  assert result.returncode == 0, result.stderr[-2000:]
  assert f"Wrote torchvision's mc3_18 (11,490,240 parameters) to {output}." in result.stdout
  assert f"--config.init_from={output} --config.model_name=mc3_18" in result.stdout
  module, variables = checkpointing.load_encoder(output)
  assert module.options.input_normalization == "kinetics"
  assert module.options.num_classes is None
  spec = checkpointing.read_encoder_spec(output)
  assert spec["model_name"] == "mc3_18"
  assert spec["model_kwargs"] == {"input_normalization": "kinetics", "bn_epsilon": 1e-5,
                                  "bn_momentum": 0.9}
  assert spec["param_count"] == 11_695_440 - 512 * 400 - 400  # torchvision's, less fc
  _, direct = convert_torchvision.convert_state_dict(state, "mc3_18")
  jax.tree.map(np.testing.assert_array_equal, variables, direct)


def _run_command_line(*flags):
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [REPO] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
  return subprocess.run([sys.executable, "-m", "jvrl.tools.convert_torchvision", *flags],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_command_line_errors_are_one_line(tmp_path):
  """A .pth without torch (or a bad file) ends with one line naming the fix, exit 2."""
  bad = tmp_path / "weights.pth"
  bad.write_bytes(b"not a pickle")
  result = _run_command_line("--model=r3d_18", f"--input={bad}",
                             f"--output={tmp_path / 'out'}")
  assert result.returncode == 2, result.stderr[-2000:]
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith("convert_torchvision: ")
  try:
    import torch  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    assert "needs torch: pip install torch, or pass the state dict as a .safetensors" in last
  assert not os.path.exists(tmp_path / "out")


@pytest.mark.parametrize("model_name", convert_torchvision.MODELS)
def test_matches_torchvision_itself(model_name, tmp_path):
  """Only where torch and torchvision import: torchvision's own module, random weights
  and BN statistics, saved as a .pth and converted."""
  torch = pytest.importorskip("torch")
  video_models = pytest.importorskip("torchvision.models.video")
  torch.manual_seed(0)
  network = getattr(video_models, model_name)()
  with torch.no_grad():
    for module in network.modules():
      if isinstance(module, torch.nn.BatchNorm3d):
        module.weight.uniform_(0.5, 1.5)
        module.bias.uniform_(-0.2, 0.2)
        module.running_mean.uniform_(-0.2, 0.2)
        module.running_var.uniform_(0.5, 1.5)
  network.eval()
  path = str(tmp_path / f"{model_name}.pth")
  torch.save(network.state_dict(), path)
  kwargs, variables = convert_torchvision.convert_state_dict(
      convert_torchvision.read_state_dict(path), model_name, keep_classifier=True)
  video = _video(seed=2)
  with torch.no_grad():
    want = network(torch.from_numpy(kinetics_input(video).astype(np.float32))).numpy()
  got = jvrl_outputs(model_name, kwargs, variables, video)
  print(f"{model_name}: max |jvrl - torchvision| = {np.abs(got - want).max():.2e} "
        f"(logits up to {np.abs(want).max():.2f})")
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
