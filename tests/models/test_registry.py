"""Tests for the backbone registry in jvrl.models (and the contract every backbone keeps)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import pytest

from jvrl import models
from jvrl.models import resnet3d
from jvrl.models.backbone_options import BackboneOptions


def test_model_names():
  assert models.MODEL_NAMES[:4] == ("r3d_18", "r2plus1d_18", "r2plus1d_34", "r3d_50")
  assert {"c3d", "r3d_prp", "r2plus1d_prp"} <= set(models.MODEL_NAMES)  # PRP's backbones
  assert "mc3_18" in models.MODEL_NAMES  # torchvision's third Kinetics model
  assert tuple(models.MODEL_BUILDERS) == models.MODEL_NAMES
  with pytest.raises(TypeError):
    models.MODEL_BUILDERS["new"] = resnet3d.r3d_18  # read-only


def test_build_model_passes_options():
  model = models.build_model("r2plus1d_18", width_multiplier=0.25, num_classes=10,
                             bn_momentum=0.99, bn_epsilon=1e-3, dtype="bfloat16")
  assert isinstance(model, resnet3d.ResNet3D)
  assert model.conv_type == "2plus1d"
  options = model.options
  assert (options.width_multiplier, options.num_classes) == (0.25, 10)
  assert (options.bn_momentum, options.bn_epsilon) == (0.99, 1e-3)
  assert options.dtype == jnp.bfloat16  # a config's string becomes a dtype
  assert models.build_model("r3d_50").block_cls is resnet3d.Bottleneck3D


def test_unknown_name_lists_known_models():
  with pytest.raises(ValueError, match="r3d_18.*r2plus1d_18.*r3d_50"):
    models.build_model("resnet_3d_18")


def test_unknown_option_is_named():
  with pytest.raises(ValueError, match=r"\['depth'\].*width_multiplier"):
    models.build_model("r3d_18", width_multiplier=0.5, depth=18)


def test_invalid_option_value_raises_value_error():
  with pytest.raises(ValueError, match="width_multiplier"):
    models.build_model("r3d_18", width_multiplier=-1.0)


def test_model_options():
  assert set(models.model_options("r3d_50")) >= {
      "width_multiplier", "num_classes", "dtype", "bn_momentum", "bn_epsilon"}
  # Every convolutional backbone accepts exactly the shared option list.
  for name in CONV_BACKBONES:
    assert models.model_options(name) == BackboneOptions.names()
  assert "patch_size" in models.model_options("vatt_video")  # its own signature


def test_architecture_options_fill_defaults_and_leave_out_computation():
  given = models.architecture_options("r2plus1d_34", {"width_multiplier": 0.5, "dtype": "bfloat16",
                                                      "conv_impl": "temporal_taps"})
  assert given == {"width_multiplier": 0.5, "num_classes": None, "bn_epsilon": 1e-3,
                   "input_normalization": "none", "input_transform": "rgb"}
  assert models.option_values("r3d_18", {})["bn_momentum"] == 0.9
  # JSON lists and tuples compare equal; VATT's options come from its signature.
  vatt = models.architecture_options("vatt_video", {"patch_size": [2, 8, 8]})
  assert vatt["patch_size"] == (2, 8, 8) and vatt["size"] == "base"
  assert "dropout_rate" not in vatt


# VATT's transformers keep the feature-map part of the contract only (no
# width_multiplier / num_classes / batch norm): see tests/models/test_vatt_model.py.
CONV_BACKBONES = tuple(name for name in models.MODEL_NAMES if not name.startswith("vatt"))


@pytest.mark.parametrize("name", CONV_BACKBONES)
def test_every_backbone_keeps_the_contract(name):
  """Defaults and the feature-map / logits outputs every objective relies on."""
  model = models.build_model(name)
  assert isinstance(model, nn.Module)
  options = model.options
  assert (options.width_multiplier, options.num_classes, options.dtype) == (1.0, None,
                                                                            jnp.float32)
  # BN defaults: jvrl's, unless the backbone's published weights need others.
  expected_bn = {"bn_momentum": 0.9, "bn_epsilon": 1e-5, **models.MODEL_BUILDERS[name].defaults}
  assert (options.bn_momentum, options.bn_epsilon) == (expected_bn["bn_momentum"],
                                                       expected_bn["bn_epsilon"])
  video = jax.ShapeDtypeStruct((2, 8, 32, 32, 3), jnp.float32)
  logits_model = models.build_model(name, width_multiplier=0.125, num_classes=5)
  variables = jax.eval_shape(
      lambda: logits_model.init(jax.random.key(0), jnp.zeros(video.shape), train=False))
  logits = jax.eval_shape(lambda v, x: logits_model.apply(v, x, train=False), variables, video)
  assert logits.shape == (2, 5)
  feature_model = models.build_model(name, width_multiplier=0.125)
  features, updates = jax.eval_shape(
      lambda v, x: feature_model.apply(v, x, train=True, mutable=["batch_stats"]),
      variables, video)
  assert features.ndim == 5 and features.shape[0] == 2
  assert features.shape[-1] == variables["params"]["classifier"]["kernel"].shape[0]
  assert set(updates) == {"batch_stats"}
  # Weight decay masks and sharding rules rely on the leaf names.
  leaf_names = {str(path[-1].key)
                for path, _ in jax.tree_util.tree_leaves_with_path(variables["params"])}
  assert leaf_names <= {"kernel", "bias", "scale"}
