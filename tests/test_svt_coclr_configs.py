"""SVT's and CoCLR's configs validate; SVT's K400 recipe builds a train step (traced)."""
import jax
import jax.numpy as jnp

from configs import coclr_synthetic
from configs import svt_k400_vitb
from configs import svt_synthetic
from jvrl import config_validation
from jvrl import experiments
from jvrl.data import records
from jvrl.train import trainer


def test_synthetic_configs_validate_with_their_derived_runs():
  for module in (svt_synthetic, coclr_synthetic):
    config_validation.validate_config(module.get_config())
  assert len(experiments.derived_configs(coclr_synthetic.get_config())) == 3


def test_svt_k400_recipe_validates_and_builds_a_train_step(tmp_path):
  config = svt_k400_vitb.get_config()
  records.write_sharded_records([records.make_sequence_example(jpeg_frames=[b"x"])],
                                str(tmp_path), 1, "train")
  pattern = str(tmp_path / "*.tfrecord")
  config.data.train_files = config.data.eval_train_files = config.data.eval_test_files = pattern
  config_validation.validate_config(config)
  svt = config.svt
  assert (svt.num_global_views, svt.num_local_views, svt.out_dim) == (2, 8, 65536)
  assert (svt.teacher_temperature, svt.student_temperature, svt.center_momentum) == (
      0.04, 0.1, 0.9)
  assert tuple(svt.teacher_momentum) == (0.996, 1.0)
  setup = trainer.Setup(config)
  batch = 2
  spec = {f"global_{i}": jax.ShapeDtypeStruct((batch, 8, 224, 224, 3), jnp.uint8)
          for i in range(2)}
  spec.update({f"local_{i}": jax.ShapeDtypeStruct((batch, 8, 96, 96, 3), jnp.uint8)
               for i in range(8)})
  abstract_state, _ = setup.abstract_state(spec)
  count = sum(x.size for x in jax.tree.leaves(abstract_state.params["encoder"]))
  assert 85e6 < count < 90e6  # ViT-B sized
  step = trainer.make_train_step(setup.objective, setup.optimizer, setup.learning_rate_fn)
  new_state, metrics = jax.eval_shape(step, abstract_state, spec)
  assert metrics["loss"].shape == () and "teacher_entropy" in metrics
  assert new_state.params["head"]["last_layer"].shape == (256, 65536)
  assert jax.tree.structure(new_state.teacher_params) == jax.tree.structure(
      {k: abstract_state.params[k] for k in ("encoder", "head")})
