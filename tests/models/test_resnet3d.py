"""Tests for jvrl.models.resnet3d: layouts, parameter counts, numerics, sync BN."""
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from numpy.lib.stride_tricks import sliding_window_view

from jvrl.models import resnet3d

TINY_VIDEO = (8, 8, 32, 32, 3)  # [B, T, H, W, C]; B divisible by the 8 test devices.
_EVAL_NORM = functools.partial(nn.BatchNorm, use_running_average=True, momentum=0.9,
                               epsilon=1e-5)


@functools.lru_cache(maxsize=None)
def _abstract_variables(builder, width_multiplier=1.0, num_classes=None):
  """ShapeDtypeStructs of a model's variables (nothing is computed or allocated)."""
  model = builder(width_multiplier=width_multiplier, num_classes=num_classes)
  return jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 8, 32, 32, 3)), train=False))


def _count(tree) -> int:
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def _flat_shapes(tree) -> dict[str, tuple[int, ...]]:
  return {"/".join(str(k.key) for k in path): tuple(leaf.shape)
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def _random_variables(abstract, seed=0):
  """Random values for every leaf: fan-in scaled kernels, BN variances positive."""
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name = str(path[-1].key)
    if name == "kernel":
      values = rng.normal(0.0, 1.0 / np.sqrt(np.prod(leaf.shape[:-1])), leaf.shape)
    elif name in ("var", "scale"):
      values = rng.uniform(0.5, 1.5, leaf.shape)
    else:
      values = rng.normal(0.0, 0.3, leaf.shape)
    return jnp.asarray(values, jnp.float32)

  return jax.tree_util.tree_map_with_path(fill, abstract)


# ---------------------------------------------------------------- layouts ---

@pytest.mark.parametrize("builder, expected", [
    (resnet3d.r3d_18, 33_371_472),       # torchvision r3d_18(num_classes=400)
    (resnet3d.r2plus1d_18, 31_505_325),  # torchvision r2plus1d_18(num_classes=400)
    (resnet3d.mc3_18, 11_695_440),       # torchvision mc3_18 (MC3_18_Weights' num_params)
])
def test_torchvision_parameter_counts_are_exact(builder, expected):
  assert _count(_abstract_variables(builder, num_classes=400)["params"]) == expected


def test_r3d_50_backbone_parameter_count_matches_cvrl():
  n = _count(_abstract_variables(resnet3d.r3d_50)["params"])
  assert abs(n - 31.7e6) / 31.7e6 < 0.01  # CVRL README: 31.7M
  assert n == 31_672_128  # regression guard on the exact layout


def test_r3d_18_parameter_names_and_shapes():
  shapes = _flat_shapes(_abstract_variables(resnet3d.r3d_18, num_classes=400)["params"])
  assert shapes["stem_conv/kernel"] == (3, 7, 7, 3, 64)
  assert shapes["stem_bn/scale"] == (64,)
  assert shapes["stage1_block0/conv_a/kernel"] == (3, 3, 3, 64, 64)
  assert shapes["stage2_block0/conv_a/kernel"] == (3, 3, 3, 64, 128)
  assert shapes["stage2_block0/shortcut_conv/kernel"] == (1, 1, 1, 64, 128)
  assert shapes["stage4_block1/conv_b/kernel"] == (3, 3, 3, 512, 512)
  assert shapes["classifier/kernel"] == (512, 400)
  assert "stage1_block0/shortcut_conv/kernel" not in shapes  # identity shortcut
  assert not any(name.startswith("stage1_block1/shortcut") for name in shapes)
  # Convs have no bias: biases live only in BN layers and the classifier.
  for name in shapes:
    if name.endswith("/bias"):
      layer = name.split("/")[-2]
      assert layer.endswith("bn") or layer.startswith("bn_") or layer == "classifier", name
  assert sum(name.endswith("/kernel") for name in shapes) == 1 + 16 + 3 + 1


def test_r2plus1d_18_mid_width_is_computed_once_per_block():
  shapes = _flat_shapes(_abstract_variables(resnet3d.r2plus1d_18, num_classes=400)["params"])
  assert shapes["stem_conv/spatial_conv/kernel"] == (1, 7, 7, 3, 45)
  assert shapes["stem_conv/temporal_conv/kernel"] == (3, 1, 1, 45, 64)
  # Stage 2, block 0: mid from (inplanes=64, planes=128) = 230, for BOTH convs.
  assert shapes["stage2_block0/conv_a/spatial_conv/kernel"] == (1, 3, 3, 64, 230)
  assert shapes["stage2_block0/conv_a/temporal_conv/kernel"] == (3, 1, 1, 230, 128)
  assert shapes["stage2_block0/conv_b/spatial_conv/kernel"] == (1, 3, 3, 128, 230)
  assert shapes["stage2_block0/conv_a/spatial_bn/scale"] == (230,)
  assert shapes["stage2_block1/conv_a/spatial_conv/kernel"] == (1, 3, 3, 128, 288)


def test_r3d_50_layout():
  shapes = _flat_shapes(_abstract_variables(resnet3d.r3d_50)["params"])
  assert shapes["stem_conv/kernel"] == (5, 7, 7, 3, 64)
  assert shapes["stage1_block0/conv_a/kernel"] == (1, 1, 1, 64, 64)
  assert shapes["stage1_block0/shortcut_conv/kernel"] == (1, 1, 1, 64, 256)
  assert shapes["stage2_block0/conv_a/kernel"] == (1, 1, 1, 256, 128)
  assert shapes["stage3_block0/conv_a/kernel"] == (3, 1, 1, 512, 256)
  assert shapes["stage3_block5/conv_b/kernel"] == (1, 3, 3, 256, 256)
  assert shapes["stage4_block2/conv_a/kernel"] == (3, 1, 1, 2048, 512)
  assert shapes["stage4_block2/conv_c/kernel"] == (1, 1, 1, 512, 2048)
  blocks = {name.split("/")[0] for name in shapes if name.startswith("stage")}
  assert len(blocks) == 3 + 4 + 6 + 3


@pytest.mark.parametrize("builder, stem, stage_widths", [
    (resnet3d.r3d_18, 8, (8, 16, 32, 64)),
    (resnet3d.r2plus1d_18, 8, (8, 16, 32, 64)),
    (resnet3d.r3d_50, 8, (32, 64, 128, 256)),
])
def test_width_multiplier_scales_every_channel(builder, stem, stage_widths):
  shapes = _flat_shapes(_abstract_variables(builder, 0.125, num_classes=7)["params"])
  assert shapes["stem_bn/scale"] == (stem,)
  last_bn = "bn_c" if builder is resnet3d.r3d_50 else "bn_b"
  for stage, width in enumerate(stage_widths, start=1):
    assert shapes[f"stage{stage}_block1/{last_bn}/scale"] == (width,)
  if builder is resnet3d.r2plus1d_18:
    assert shapes["stem_conv/spatial_bn/scale"] == (6,)  # 45 / 8 = 5.6 -> 6


def _torchvision_mc3_parameter_count(num_classes):
  """Parameters of torchvision's mc3_18, counted from its layout: the (3,7,7) stem 3->64
  + BN; stage 1's two basic blocks of 3x3x3 convs (Conv3DSimple); stages 2-4 of
  (1,3,3) convs (Conv3DNoTemporal); each conv followed by BN; a 1x1x1 projection +
  BN in the first block of stages 2-4; fc 512 -> classes."""
  bn = lambda c: 2 * c
  count = 3 * 64 * 3 * 7 * 7 + bn(64)
  inplanes = 64
  for planes, kernel_volume in ((64, 27), (128, 9), (256, 9), (512, 9)):
    for block in range(2):
      count += inplanes * planes * kernel_volume + bn(planes)  # conv1
      count += planes * planes * kernel_volume + bn(planes)    # conv2
      if block == 0 and inplanes != planes:
        count += inplanes * planes + bn(planes)
      inplanes = planes
  return count + 512 * num_classes + num_classes


def test_mc3_18_follows_torchvision_s_layout():
  assert _torchvision_mc3_parameter_count(400) == 11_695_440  # MC3_18_Weights' num_params
  assert _count(_abstract_variables(resnet3d.mc3_18, num_classes=400)["params"]) == (
      _torchvision_mc3_parameter_count(400))
  shapes = _flat_shapes(_abstract_variables(resnet3d.mc3_18, num_classes=400)["params"])
  assert shapes["stem_conv/kernel"] == (3, 7, 7, 3, 64)
  assert shapes["stage1_block1/conv_b/kernel"] == (3, 3, 3, 64, 64)
  assert shapes["stage2_block0/conv_a/kernel"] == (1, 3, 3, 64, 128)
  assert shapes["stage2_block0/shortcut_conv/kernel"] == (1, 1, 1, 64, 128)
  assert shapes["stage4_block1/conv_b/kernel"] == (1, 3, 3, 512, 512)
  # Stride (1, 2, 2) in stages 2-4: no temporal downsampling anywhere.
  model = resnet3d.mc3_18()
  features = jax.eval_shape(
      lambda: model.init_with_output(jax.random.key(0), jnp.zeros((1, 16, 112, 112, 3)),
                                     train=False)[0])
  assert features.shape == (1, 16, 7, 7, 512)


@pytest.mark.parametrize("builder, feature_shape", [
    (resnet3d.r3d_18, (2, 1, 2, 2, 64)),        # strides (1,2,2) * 8 in (T, H, W)
    (resnet3d.mc3_18, (2, 8, 2, 2, 64)),        # spatial strides only
    (resnet3d.r2plus1d_18, (2, 1, 2, 2, 64)),
    (resnet3d.r3d_50, (2, 4, 1, 1, 256)),       # temporal stride 2 in the stem only
])
def test_output_shapes(builder, feature_shape):
  video = jax.ShapeDtypeStruct((2, 8, 32, 32, 3), jnp.float32)
  variables = _abstract_variables(builder, 0.125, num_classes=7)
  feature_model = builder(width_multiplier=0.125)  # ignores the classifier params
  features, updates = jax.eval_shape(
      lambda v, x: feature_model.apply(v, x, train=True, mutable=["batch_stats"]),
      variables, video)
  assert features.shape == feature_shape and features.dtype == jnp.float32
  assert jax.tree.structure(updates["batch_stats"]) == jax.tree.structure(
      variables["batch_stats"])
  logits_model = builder(width_multiplier=0.125, num_classes=7)
  logits = jax.eval_shape(lambda v, x: logits_model.apply(v, x, train=False), variables, video)
  assert logits.shape == (2, 7) and logits.dtype == jnp.float32


def test_compute_dtype_keeps_float32_params():
  video = jax.ShapeDtypeStruct((2, 8, 32, 32, 3), jnp.float32)
  for num_classes, out_dtype in [(None, jnp.bfloat16), (3, jnp.float32)]:
    model = resnet3d.r3d_18(width_multiplier=0.125, num_classes=num_classes, dtype=jnp.bfloat16)
    init = lambda m=model: m.init(jax.random.key(0), jnp.zeros(video.shape), train=False)
    variables = jax.eval_shape(init)
    assert {leaf.dtype for leaf in jax.tree.leaves(variables)} == {jnp.dtype(jnp.float32)}
    out = jax.eval_shape(lambda v, x, m=model: m.apply(v, x, train=False), variables, video)
    assert out.dtype == out_dtype


# --------------------------------------------------------- small helpers ---

def test_conv2plus1d_mid_features_matches_torchvision():
  pairs = [(64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 512), (512, 512)]
  assert [resnet3d.conv2plus1d_mid_features(i, o) for i, o in pairs] == [
      144, 230, 288, 460, 576, 921, 1152]


def test_invalid_arguments_raise():
  with pytest.raises(ValueError, match="width_multiplier"):
    resnet3d.r3d_18(width_multiplier=0.0)
  with pytest.raises(ValueError, match="num_classes"):
    resnet3d.r3d_18(num_classes=0)
  with pytest.raises(ValueError, match="conv_type"):
    resnet3d.ResNet3D(stage_sizes=(1,), block_cls=resnet3d.BasicBlock3D, conv_type="4d",
                      stage_features=(8,), stage_strides=((1, 1, 1),),
                      temporal_kernel_sizes=(3,))
  with pytest.raises(ValueError, match="stage_features"):
    resnet3d.ResNet3D(stage_sizes=(1, 1), block_cls=resnet3d.BasicBlock3D)
  with pytest.raises(ValueError, match="conv_type"):
    resnet3d.spatiotemporal_conv("4d", 8, (3, 3, 3))
  model = resnet3d.r3d_18(width_multiplier=0.125)
  with pytest.raises(ValueError, match="video"):
    jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False))


# ------------------------------------------- numerics vs a NumPy reference ---

def _np_conv3d(x, kernel, strides=(1, 1, 1)):
  """Direct 3-D conv, symmetric k // 2 padding; x [B,T,H,W,C], kernel [kt,kh,kw,C,O]."""
  pads = [(0, 0)] + [(k // 2, k // 2) for k in kernel.shape[:3]] + [(0, 0)]
  windows = sliding_window_view(np.pad(x, pads), kernel.shape[:3], axis=(1, 2, 3))
  windows = windows[:, ::strides[0], ::strides[1], ::strides[2]]
  return np.einsum("bthwcijk,ijkco->bthwo", windows, kernel)


def _np_bn(x, params, stats, eps=1e-5):
  return (x - stats["mean"]) / np.sqrt(stats["var"] + eps) * params["scale"] + params["bias"]


def _np_relu(x):
  return np.maximum(x, 0.0)


def _np_conv2plus1d(x, params, stats, strides):
  st, sh, sw = strides
  y = _np_conv3d(x, params["spatial_conv"]["kernel"], (1, sh, sw))
  y = _np_relu(_np_bn(y, params["spatial_bn"], stats["spatial_bn"]))
  return _np_conv3d(y, params["temporal_conv"]["kernel"], (st, 1, 1))


def _np_shortcut(x, params, stats, strides):
  if "shortcut_conv" not in params:
    return x
  if "spatial_conv" in params["shortcut_conv"]:  # factorised (PRP's R(2+1)D)
    y = _np_conv2plus1d(x, params["shortcut_conv"], stats["shortcut_conv"], strides)
  else:
    y = _np_conv3d(x, params["shortcut_conv"]["kernel"], strides)
  return _np_bn(y, params["shortcut_bn"], stats["shortcut_bn"])


def _np_basic_block(x, params, stats, strides, conv_type):
  if conv_type == "3d":
    conv = lambda y, name, s: _np_conv3d(y, params[name]["kernel"], s)
  else:
    conv = lambda y, name, s: _np_conv2plus1d(y, params[name], stats[name], s)
  y = _np_relu(_np_bn(conv(x, "conv_a", strides), params["bn_a"], stats["bn_a"]))
  y = _np_bn(conv(y, "conv_b", (1, 1, 1)), params["bn_b"], stats["bn_b"])
  return _np_relu(y + _np_shortcut(x, params, stats, strides))


def _np_bottleneck(x, params, stats, strides):
  st, sh, sw = strides
  y = _np_relu(_np_bn(_np_conv3d(x, params["conv_a"]["kernel"], (st, 1, 1)),
                      params["bn_a"], stats["bn_a"]))
  y = _np_relu(_np_bn(_np_conv3d(y, params["conv_b"]["kernel"], (1, sh, sw)),
                      params["bn_b"], stats["bn_b"]))
  y = _np_bn(_np_conv3d(y, params["conv_c"]["kernel"]), params["bn_c"], stats["bn_c"])
  return _np_relu(y + _np_shortcut(x, params, stats, strides))


@pytest.mark.parametrize("block, reference", [
    (resnet3d.BasicBlock3D(features=6, norm=_EVAL_NORM, strides=(2, 2, 2)),
     functools.partial(_np_basic_block, strides=(2, 2, 2), conv_type="3d")),
    (resnet3d.BasicBlock3D(features=4, norm=_EVAL_NORM, conv_type="3d"),
     functools.partial(_np_basic_block, strides=(1, 1, 1), conv_type="3d")),
    (resnet3d.BasicBlock3D(features=6, norm=_EVAL_NORM, strides=(2, 2, 2), conv_type="2plus1d"),
     functools.partial(_np_basic_block, strides=(2, 2, 2), conv_type="2plus1d")),
    (resnet3d.Bottleneck3D(features=3, norm=_EVAL_NORM, strides=(1, 2, 2),
                           temporal_kernel_size=3),
     functools.partial(_np_bottleneck, strides=(1, 2, 2))),
    (resnet3d.BasicBlock3D(features=6, norm=_EVAL_NORM, strides=(2, 2, 2), conv_type="2plus1d",
                           mid_features_rule="per_conv", shortcut_conv_type="2plus1d"),
     functools.partial(_np_basic_block, strides=(2, 2, 2), conv_type="2plus1d")),
], ids=["basic_3d_strided", "basic_3d_identity", "basic_2plus1d_strided", "bottleneck",
        "basic_2plus1d_prp"])
def test_blocks_match_numpy_reference(block, reference):
  # Odd sizes check the torchvision-compatible (symmetric) padding with stride 2.
  x = np.random.default_rng(1).normal(size=(2, 5, 7, 6, 4)).astype(np.float32)
  abstract = jax.eval_shape(lambda: block.init(jax.random.key(0), jnp.asarray(x)))
  variables = _random_variables(abstract)
  out = jax.jit(block.apply)(variables, jnp.asarray(x))
  np_vars = jax.tree.map(lambda a: np.asarray(a, np.float64), variables)
  expected = reference(x.astype(np.float64), np_vars["params"], np_vars["batch_stats"])
  assert out.shape == expected.shape
  np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-4)


def test_initialisation_he_fan_out_and_unit_batch_norm():
  block = resnet3d.BasicBlock3D(features=64, norm=_EVAL_NORM, strides=(2, 2, 2))
  # Partitionable threefry (the default) makes XLA:CPU compile each random
  # initializer for seconds; the classic scheme is ~5x cheaper to compile.
  with jax.threefry_partitionable(False):
    variables = jax.jit(lambda key: block.init(key, jnp.zeros((1, 4, 8, 8, 32))))(
        jax.random.key(0))
  params = variables["params"]
  assert set(params) == {"conv_a", "bn_a", "conv_b", "bn_b", "shortcut_conv", "shortcut_bn"}
  kernel = np.asarray(params["conv_b"]["kernel"])
  assert kernel.shape == (3, 3, 3, 64, 64)
  expected_std = np.sqrt(2.0 / (27 * 64))  # He, fan_out = kernel volume * out channels
  assert abs(kernel.std() / expected_std - 1.0) < 0.03
  assert abs(kernel.mean()) < 0.05 * expected_std
  assert np.abs(kernel).max() > 3.0 * expected_std  # untruncated normal (as torch)
  shortcut = np.asarray(params["shortcut_conv"]["kernel"])
  assert abs(shortcut.std() / np.sqrt(2.0 / 64) - 1.0) < 0.15
  for path, leaf in jax.tree_util.tree_leaves_with_path(variables):
    name = str(path[-1].key)
    if name in ("scale", "var"):
      np.testing.assert_array_equal(leaf, 1.0)
    elif name in ("bias", "mean"):
      np.testing.assert_array_equal(leaf, 0.0)


# ------------------------------------------ BN modes and sync BN (r3d_18) ---

@pytest.fixture(scope="module")
def tiny_r3d_18():
  """r3d_18 at width 1/8 with random variables; (model, variables, video, train_fn)."""
  model = resnet3d.r3d_18(width_multiplier=0.125)
  variables = _random_variables(_abstract_variables(resnet3d.r3d_18, 0.125))
  rng = np.random.default_rng(0)
  # Per-example scales make the examples' statistics differ a lot.
  video = rng.normal(size=TINY_VIDEO) * rng.uniform(0.2, 3.0, size=(TINY_VIDEO[0], 1, 1, 1, 1))
  train_fn = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"]))
  return model, variables, jnp.asarray(video, jnp.float32), train_fn


def test_train_mode_updates_batch_stats_and_eval_mode_does_not(tiny_r3d_18):
  model, variables, video, train_fn = tiny_r3d_18
  _, train_updates = train_fn(variables, video)
  changed = jax.tree.map(lambda a, b: not np.allclose(a, b), variables["batch_stats"],
                         train_updates["batch_stats"])
  assert all(jax.tree.leaves(changed))

  eval_fn = jax.jit(lambda v, x: model.apply(v, x, train=False, mutable=["batch_stats"]))
  features, eval_updates = eval_fn(variables, video)
  jax.tree.map(np.testing.assert_array_equal, eval_updates["batch_stats"],
               variables["batch_stats"])
  # Eval mode uses running statistics: an example's output ignores the rest of the batch.
  other = video.at[4:].set(0.0)
  np.testing.assert_allclose(eval_fn(variables, other)[0][:4], features[:4], rtol=1e-6)


def test_batch_norm_statistics_span_the_global_sharded_batch(tiny_r3d_18):
  _, variables, video, train_fn = tiny_r3d_18
  assert jax.device_count() == 8, "tests/conftest.py should give 8 CPU devices"
  mesh = Mesh(np.array(jax.devices()), ("data",))
  sharded_video = jax.device_put(video, NamedSharding(mesh, PartitionSpec("data")))
  replicated = jax.device_put(variables, NamedSharding(mesh, PartitionSpec()))
  sharded_out, sharded_updates = train_fn(replicated, sharded_video)
  assert len(sharded_out.sharding.device_set) == 8
  out, updates = train_fn(variables, video)
  np.testing.assert_allclose(np.asarray(sharded_out), np.asarray(out), atol=1e-5, rtol=1e-4)
  jax.tree.map(functools.partial(np.testing.assert_allclose, atol=1e-5, rtol=1e-4),
               sharded_updates["batch_stats"], updates["batch_stats"])
  # The comparison is meaningful: in train mode examples 0-3 depend on 4-7
  # through the batch statistics (per-device BN would lose that).
  other_out, _ = train_fn(variables, video.at[4:].multiply(5.0))
  assert not np.allclose(other_out[:4], out[:4], atol=1e-3)


# ------------------------------- PRP's one-block-per-stage R3D / R(2+1)D ---

def _mid(t, d, n_in, n_out):
  """R(2+1)D paper: M = floor(t d^2 Nin Nout / (d^2 Nin + t Nout))."""
  return t * d * d * n_in * n_out // (d * d * n_in + t * n_out)


def _count_r3d_prp():
  """Hand count: (3,7,7) stem + BN, then per stage two 3x3x3 convs + BNs (+ 1x1x1 shortcut)."""
  n = 3 * 7 * 7 * 3 * 64 + 2 * 64
  for n_in, n_out in [(64, 64), (64, 128), (128, 256), (256, 512)]:
    n += 27 * n_in * n_out + 2 * n_out + 27 * n_out * n_out + 2 * n_out
    if n_in != n_out:
      n += n_in * n_out + 2 * n_out
  return n


def _count_r2plus1d_prp():
  """Hand count: every (2+1)-D conv = spatial + inner BN + temporal, own mid width."""
  def conv(t, d, n_in, n_out):
    m = _mid(t, d, n_in, n_out)
    return d * d * n_in * m + 2 * m + t * m * n_out
  n = conv(3, 7, 3, 64) + 2 * 64
  for n_in, n_out in [(64, 64), (64, 128), (128, 256), (256, 512)]:
    n += conv(3, 3, n_in, n_out) + 2 * n_out + conv(3, 3, n_out, n_out) + 2 * n_out
    if n_in != n_out:
      n += conv(1, 1, n_in, n_out) + 2 * n_out
  return n


@pytest.mark.parametrize("builder, formula, expected", [
    (resnet3d.r3d_prp, _count_r3d_prp, 14_361_792),
    (resnet3d.r2plus1d_prp, _count_r2plus1d_prp, 14_365_303),
])
def test_prp_resnet_parameter_counts_match_hand_count(builder, formula, expected):
  assert formula() == expected
  assert _count(_abstract_variables(builder)["params"]) == expected
  # With a classifier: + 512 * K + K.
  assert _count(_abstract_variables(builder, num_classes=101)["params"]) == expected + 513 * 101


def test_prp_resnets_have_one_block_per_stage():
  for builder in (resnet3d.r3d_prp, resnet3d.r2plus1d_prp):
    shapes = _flat_shapes(_abstract_variables(builder)["params"])
    blocks = {name.split("/")[0] for name in shapes if name.startswith("stage")}
    assert blocks == {f"stage{i}_block0" for i in range(1, 5)}


def test_r2plus1d_prp_mid_widths_are_per_conv_and_shortcut_is_factorised():
  shapes = _flat_shapes(_abstract_variables(resnet3d.r2plus1d_prp)["params"])
  assert shapes["stem_conv/spatial_conv/kernel"] == (1, 7, 7, 3, 83)  # M(3,7,3,64) = 83
  assert shapes["stage2_block0/conv_a/spatial_conv/kernel"] == (1, 3, 3, 64, 230)
  assert shapes["stage2_block0/conv_b/spatial_conv/kernel"] == (1, 3, 3, 128, 288)
  assert shapes["stage2_block0/shortcut_conv/spatial_conv/kernel"] == (1, 1, 1, 64, 42)
  assert shapes["stage2_block0/shortcut_conv/temporal_conv/kernel"] == (1, 1, 1, 42, 128)
  assert shapes["stage4_block0/shortcut_conv/spatial_bn/scale"] == (170,)


@pytest.mark.parametrize("builder", [resnet3d.r3d_prp, resnet3d.r2plus1d_prp])
def test_prp_resnet_output_shapes(builder):
  """PRP's sizes: 16x112x112 -> 512x2x7x7; a narrow one on the CPU configs' clips."""
  variables = _abstract_variables(builder)
  video = jax.ShapeDtypeStruct((2, 16, 112, 112, 3), jnp.float32)
  features = jax.eval_shape(lambda v, x: builder().apply(v, x, train=False), variables, video)
  assert features.shape == (2, 2, 7, 7, 512)
  narrow = builder(width_multiplier=0.125)
  small = jax.ShapeDtypeStruct((2, 8, 32, 32, 3), jnp.float32)
  features = jax.eval_shape(lambda v, x: narrow.apply(v, x, train=False),
                            _abstract_variables(builder, 0.125), small)
  assert features.shape == (2, 1, 2, 2, 64)


def test_width_multiplier_scales_prp_resnets():
  shapes = _flat_shapes(_abstract_variables(resnet3d.r2plus1d_prp, 0.125)["params"])
  assert shapes["stem_bn/scale"] == (8,)
  assert shapes["stem_conv/spatial_conv/kernel"] == (1, 7, 7, 3, _mid(3, 7, 3, 8))  # 20
  assert shapes["stage4_block0/bn_b/scale"] == (64,)
  shapes = _flat_shapes(_abstract_variables(resnet3d.r3d_prp, 0.25)["params"])
  assert shapes["stage3_block0/conv_b/kernel"] == (3, 3, 3, 64, 64)


def test_prp_options_are_checked():
  with pytest.raises(ValueError, match="mid_features_rule"):
    resnet3d.ResNet3D(stage_sizes=(1, 1, 1, 1), block_cls=resnet3d.BasicBlock3D,
                      mid_features_rule="per_layer")
  with pytest.raises(ValueError, match="BasicBlock3D only"):
    resnet3d.ResNet3D(stage_sizes=(1, 1, 1, 1), block_cls=resnet3d.Bottleneck3D,
                      shortcut_conv_type="2plus1d")


def _torchvision_r2plus1d_parameter_count(layers, num_classes):
  """Parameters of torchvision's VideoResNet(BasicBlock, [Conv2Plus1D] * 4, layers,
  R2Plus1dStem), counted from its layout: stem (1,7,7) 3->45, BN, (3,1,1) 45->64, BN;
  each basic block: mid = in*out*27 // (in*9 + 3*out) for BOTH (2+1)-D convs
  (spatial (1,3,3) -> BN(mid) -> temporal (3,1,1)) each followed by BN(out); a
  1x1x1 projection + BN where the stride or width changes; fc 512 -> classes."""
  bn = lambda c: 2 * c
  count = 3 * 45 * 49 + bn(45) + 45 * 64 * 3 + bn(64)
  inplanes = 64
  for stage, (blocks, planes) in enumerate(zip(layers, (64, 128, 256, 512))):
    for block in range(blocks):
      mid = inplanes * planes * 27 // (inplanes * 9 + 3 * planes)
      count += inplanes * mid * 9 + bn(mid) + mid * planes * 3 + bn(planes)  # conv1
      count += planes * mid * 9 + bn(mid) + mid * planes * 3 + bn(planes)    # conv2
      if block == 0 and (stage > 0 or inplanes != planes):
        count += inplanes * planes + bn(planes)
      inplanes = planes
  return count + 512 * num_classes + num_classes


def test_r2plus1d_34_parameter_count_follows_its_layout():
  # The counting rule reproduces torchvision's published r2plus1d_18 figure ...
  assert _torchvision_r2plus1d_parameter_count((2, 2, 2, 2), 400) == 31_505_325
  # ... and R(2+1)D-34 has exactly the parameters of that layout with [3, 4, 6, 3].
  expected = _torchvision_r2plus1d_parameter_count((3, 4, 6, 3), 400)
  assert _count(_abstract_variables(resnet3d.r2plus1d_34, num_classes=400)["params"]) == expected
  model = resnet3d.r2plus1d_34(width_multiplier=0.125)
  assert model.options.bn_epsilon == 1e-3  # TSP's backbone default ...
  assert resnet3d.r2plus1d_34(bn_epsilon=1e-5).options.bn_epsilon == 1e-5  # ... overridable
  features = jax.eval_shape(
      lambda: model.init_with_output(jax.random.key(0), jnp.zeros((1, 16, 112, 112, 3)),
                                     train=False)[0])
  assert features.shape == (1, 2, 7, 7, 64)
