"""SimCLR as configs of the CVRL objective: no temporal gap, and single-frame views."""
import numpy as np
import pytest
from conftest import counting_video, parsed_examples, without_view_augmentation

from jvrl.data.tf_setup import tf
from jvrl.objectives import check_objective_config
from jvrl.objectives import cvrl


def _frames_read(config, seeds):
  """(view 1 frame indices, view 2 frame indices) per seed, read off a counting video."""
  preprocess = cvrl.make_cvrl_preprocess(without_view_augmentation(config))
  example = parsed_examples([counting_video(32)])[0]
  out = []
  for seed in seeds:
    views = preprocess(example, tf.constant([3, seed], tf.int64))
    out.append(tuple(np.asarray(views[k])[:, 0, 0, 0].astype(int) // 2
                     for k in ("view1", "view2")))
  return out


def test_simclr_views_are_two_augmentations_of_one_clip(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.cvrl.positive_gap = "none"
  for view1, view2 in _frames_read(config, range(8)):
    np.testing.assert_array_equal(view1, view2)
    np.testing.assert_array_equal(np.diff(view1), config.data.frame_stride)
  config.cvrl.positive_gap = "cvrl"
  assert any(v1[0] != v2[0] for v1, v2 in _frames_read(config, range(8)))


def test_frame_level_simclr_views_are_one_frame(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.cvrl.positive_gap, config.cvrl.view_frames = "none", 1
  starts = set()
  for view1, view2 in _frames_read(config, range(8)):
    assert view1.shape == (1,) and view1[0] == view2[0]
    starts.add(int(view1[0]))
  assert len(starts) > 1


def test_frame_level_simclr_needs_rgb_input(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.cvrl.view_frames = 1
  with pytest.raises(ValueError, match="input_transform='rgb'"):
    check_objective_config(config)
