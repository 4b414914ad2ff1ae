"""STC-mix: box statistics, the mixing masks and targets, 1 vs 8 devices, composition with
FAME, and the refusal of objectives whose loss ignores mixed targets."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from configs import fame_synthetic
from configs import stc_mix_synthetic
from configs import teg_synthetic
from jvrl.objectives import check_objective_config
from jvrl.objectives import device_augmentations
from jvrl.objectives import stc_mix


def test_boxes_take_about_one_minus_lambda_and_only_the_configured_share_of_clips():
  shape = (8, 32, 32)
  starts, ends = jax.jit(lambda k: stc_mix.sample_boxes(k, 4000, shape, 1.0, 0.5))(
      jax.random.key(0))
  starts, ends = np.asarray(starts), np.asarray(ends)
  assert np.all(starts >= 0) and np.all(ends <= np.array(shape)) and np.all(ends >= starts)
  taken = np.prod(ends - starts, axis=1) / np.prod(shape)
  mixed = taken > 0
  assert np.mean(mixed) == pytest.approx(0.5, abs=0.04)
  # lambda ~ U(0, 1) before the borders clip the box: the clipped share is smaller,
  # on average about a quarter (each side keeps ~3/4 of its length in expectation).
  assert 0.1 < np.mean(taken[mixed]) < 0.5 and taken.max() > 0.8


def test_cutmix_pastes_the_partners_box_and_records_its_share():
  rng = np.random.default_rng(0)
  clips = rng.uniform(size=(3, 4, 6, 6, 3)).astype(np.float32)
  starts = np.array([[0, 0, 0], [1, 2, 3], [0, 0, 0]], np.int32)
  ends = np.array([[4, 6, 6], [3, 5, 6], [0, 0, 0]], np.int32)
  masks = np.asarray(stc_mix.box_masks(jnp.asarray(starts), jnp.asarray(ends), (4, 6, 6)))
  np.testing.assert_array_equal(masks.sum(axis=(1, 2, 3)), [144, 2 * 3 * 3, 0])
  assert masks[1, 1:3, 2:5, 3:6].all()
  partners = np.array([1, 2, 0])
  mixed, mixing = (np.asarray(x) for x in stc_mix.cutmix(
      jnp.asarray(clips), jnp.asarray(masks), jnp.asarray(partners)))
  np.testing.assert_array_equal(mixed[0], clips[1])          # the whole clip taken
  np.testing.assert_array_equal(mixed[1, 1:3, 2:5, 3:6], clips[2, 1:3, 2:5, 3:6])
  np.testing.assert_array_equal(mixed[1, 0], clips[1, 0])
  np.testing.assert_array_equal(mixed[2], clips[2])
  np.testing.assert_allclose(mixing, [[0, 1, 0], [0, 1 - 18 / 144, 18 / 144], [0, 0, 1]],
                             atol=1e-6)


def test_augmentation_on_1_and_8_devices_and_after_fame():
  config = stc_mix_synthetic.get_config()
  config.device_augment = ("fame", "stc_mix")
  config.fame = fame_synthetic.get_config().fame
  augment = device_augmentations.build(config)
  clips = np.random.default_rng(1).integers(0, 256, (8, 8, 32, 32, 3)).astype(np.uint8)
  batch = {"view1": clips, "view2": clips.copy()}
  single = jax.jit(augment)(batch, jax.random.key(5))
  mesh = Mesh(np.array(jax.devices()[:8]), ("data",))
  sharded = jax.device_put(batch, NamedSharding(mesh, PartitionSpec("data")))
  multi = jax.jit(augment)(sharded, jax.random.key(5))
  assert multi["view1"].sharding.num_devices == 8
  for key in ("view1", "view1_mixing"):
    np.testing.assert_array_equal(np.asarray(multi[key]), np.asarray(single[key]))
  mixing = np.asarray(single["view1_mixing"])
  np.testing.assert_allclose(mixing.sum(axis=1), 1.0, rtol=1e-6)
  assert single["view1"].dtype == np.uint8 and "view2_mixing" not in single


def test_objectives_whose_loss_ignores_mixing_are_refused(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.device_augment = ("stc_mix",)
  config.stc_mix = stc_mix_synthetic.get_config().stc_mix
  check_objective_config(config)  # CVRL reads mixed targets
  config.objective = "teg"
  config.teg = teg_synthetic.get_config().teg
  config.data.clip_length = 8
  with pytest.raises(ValueError, match="reads mixed targets only for"):
    check_objective_config(config)


@pytest.mark.parametrize("field, value", [("alpha", 0.0), ("prob", 1.5)])
def test_bad_stc_mix_config_raises(tiny_cvrl_config, field, value):
  config = tiny_cvrl_config
  config.device_augment = ("stc_mix",)
  config.stc_mix = dict(stc_mix_synthetic.get_config().stc_mix.to_dict(), **{field: value})
  with pytest.raises(ValueError, match=field):
    check_objective_config(config)
