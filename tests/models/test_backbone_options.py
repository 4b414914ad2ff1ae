"""Tests for jvrl.models.backbone_options: one option list for every conv backbone."""
import jax.numpy as jnp
import pytest

from jvrl import models
from jvrl.models import backbone_options
from jvrl.models import conv3d
from jvrl.models import strided_conv
from jvrl.models import temporal_taps_conv
from jvrl.models.backbone_options import BackboneOptions


def test_scale_width():
  assert backbone_options.scale_width(64, 0.125) == 8
  assert backbone_options.scale_width(45, 0.125) == 6
  assert backbone_options.scale_width(64, 1.0) == 64
  assert backbone_options.scale_width(64, 0.001) == 1
  assert backbone_options.scale_width(20, 0.125) == 3  # 2.5 rounds half up
  with pytest.raises(ValueError, match="width_multiplier"):
    backbone_options.scale_width(64, 0.0)
  assert BackboneOptions(width_multiplier=0.25).width(64) == 16


@pytest.mark.parametrize("field, value", [
    ("width_multiplier", 0.0), ("num_classes", 0), ("strided_conv", "fft"),
    ("conv_impl", "winograd"), ("input_transform", "optical_flow"),
    ("input_normalization", "imagenet")])
def test_bad_values_name_the_option(field, value):
  with pytest.raises(ValueError, match=field):
    BackboneOptions(**{field: value})


def test_string_dtype_becomes_a_dtype():
  assert BackboneOptions(dtype="bfloat16").dtype == jnp.bfloat16


def test_builder_refuses_unknown_options_with_the_accepted_list():
  with pytest.raises(ValueError, match=r"Unknown option\(s\) \['widht'\].*width_multiplier"):
    models.build_model("c3d", widht=0.5)
  with pytest.raises(ValueError, match="accepts"):
    models.build_model("r3d_prp", stage_sizes=(1, 1))  # architecture is not an option


@pytest.mark.parametrize("strided, impl, expected", [
    ("native", "native", None),
    ("native", "temporal_taps", temporal_taps_conv.temporal_taps_conv_general_dilated),
])
def test_conv_policy_resolves_once(strided, impl, expected):
  conv = BackboneOptions(strided_conv=strided, conv_impl=impl, dtype="bfloat16").conv_factory()
  module = conv(4, (3, 3, 3), (1, 2, 2), name="c")
  assert module.conv_general_dilated is expected
  assert module.dtype == jnp.bfloat16 and module.strides == (1, 2, 2)


def test_space_to_depth_composes_with_temporal_taps():
  impl = conv3d.conv_general_dilated_for("space_to_depth", "temporal_taps")
  assert impl.func is strided_conv.space_to_depth_conv_general_dilated
  assert impl.keywords["stride1_conv"] is temporal_taps_conv.temporal_taps_conv_general_dilated
