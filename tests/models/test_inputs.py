"""The model-boundary pixel convention and the backbones' input transform."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jvrl import models
from jvrl.models import inputs


def test_to_unit_float():
  video = np.array([[0, 128, 255]], np.uint8)
  np.testing.assert_allclose(inputs.to_unit_float(video), [[0.0, 128 / 255, 1.0]])
  floats = np.array([0.25], np.float32)
  assert inputs.to_unit_float(floats) is not None
  np.testing.assert_array_equal(inputs.to_unit_float(floats), floats)


def test_frame_difference_matches_a_loop():
  video = np.random.default_rng(0).uniform(size=(2, 5, 3, 4, 3)).astype(np.float32)
  out = np.asarray(inputs.transform_video(jnp.asarray(video), "frame_difference"))
  assert out.shape == video.shape
  for t in range(4):
    np.testing.assert_allclose(out[:, t], video[:, t + 1] - video[:, t], atol=1e-7)
  np.testing.assert_array_equal(out[:, 4], out[:, 3])  # last residual repeated
  static = np.repeat(video[:, :1], 5, axis=1)  # a still video has no residual
  assert not np.any(np.asarray(inputs.transform_video(jnp.asarray(static), "frame_difference")))
  assert inputs.transform_video(video, "rgb") is video


def test_bad_transform_or_too_short_video_raises():
  with pytest.raises(ValueError, match="Unknown input_transform"):
    inputs.transform_video(jnp.zeros((1, 2, 2, 2, 3)), "optical_flow")
  with pytest.raises(ValueError, match="T>=2"):
    inputs.transform_video(jnp.zeros((1, 1, 2, 2, 3)), "frame_difference")
  for name in ("r3d_18", "c3d"):
    with pytest.raises(ValueError, match="input_transform"):
      models.build_model(name, input_transform="flow")


def test_backbone_sees_the_residual_frames():
  """r3d_prp(input_transform='frame_difference') on a video = the rgb backbone (same
  parameters) on that video's residual frames."""
  video = jax.random.uniform(jax.random.key(0), (2, 4, 16, 16, 3))
  residual = models.build_model("r3d_prp", width_multiplier=0.0625,
                                input_transform="frame_difference")
  rgb = models.build_model("r3d_prp", width_multiplier=0.0625)
  variables = residual.init(jax.random.key(1), video, train=False)
  got = residual.apply(variables, video, train=False)
  want = rgb.apply(variables, inputs.transform_video(video, "frame_difference"), train=False)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  assert not np.allclose(got, rgb.apply(variables, video, train=False), atol=1e-3)


def test_kinetics_normalization_standardises_each_channel():
  video = np.random.default_rng(0).uniform(size=(1, 2, 3, 4, 3)).astype(np.float32)
  got = np.asarray(inputs.normalize_video(jnp.asarray(video), "kinetics"))
  mean = np.array([0.43216, 0.394666, 0.37645], np.float32)  # torchvision's Kinetics-400
  std = np.array([0.22803, 0.22145, 0.216989], np.float32)
  np.testing.assert_allclose(got, (video - mean) / std, rtol=1e-6, atol=1e-6)
  assert inputs.normalize_video(video, "none") is video
  with pytest.raises(ValueError, match="Unknown input_normalization"):
    inputs.normalize_video(video, "imagenet")
  with pytest.raises(ValueError, match="3 channels"):
    inputs.normalize_video(jnp.zeros((1, 2, 2, 2, 1)), "kinetics")


@pytest.mark.parametrize("name", ["r3d_prp", "c3d"])
def test_backbone_normalises_its_input_before_the_transform(name):
  """input_normalization='kinetics' on [0, 1] video = 'none' on the standardised video
  (same parameters), also composed with the residual-frame transform."""
  video = jax.random.uniform(jax.random.key(0), (2, 8, 16, 16, 3))  # C3D pools T by 8
  standardised = inputs.normalize_video(video, "kinetics")
  for transform in ("rgb", "frame_difference"):
    normalising = models.build_model(name, width_multiplier=0.0625, input_transform=transform,
                                     input_normalization="kinetics")
    plain = models.build_model(name, width_multiplier=0.0625, input_transform=transform)
    variables = plain.init(jax.random.key(1), video, train=False)
    got = normalising.apply(variables, video, train=False)
    np.testing.assert_allclose(got, plain.apply(variables, standardised, train=False),
                               rtol=1e-5, atol=1e-5)
    assert not np.allclose(got, plain.apply(variables, video, train=False), atol=1e-3)
