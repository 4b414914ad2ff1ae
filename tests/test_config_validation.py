"""Start-up config checks: every problem is one line that says what to change."""
import numpy as np
import pytest

from jvrl import config_validation


def _replace(config, path, value):
  """Sets `path` to `value` even if the field holds another type.

  A ConfigDict field refuses a value of another type; here the wrong type is
  the point (e.g. a hand-built config), so the field is replaced.
  """
  *parents, leaf = path.split(".")
  node = config
  for parent in parents:
    node = node[parent]
  if leaf in node:
    del node[leaf]
  node[leaf] = value


def test_the_shipped_tiny_config_is_valid(tiny_cvrl_config):
  config_validation.validate_config(tiny_cvrl_config)


@pytest.mark.parametrize("path, value, match", [
    # shapes
    ("data.crop_size", 64, r"config.data.crop_size=64 is larger than the synthetic frames"),
    ("data.clip_length", 0, r"config.data.clip_length=0 must be a positive integer"),
    ("eval.crop_size", 24, r"config.eval.crop_size=24 exceeds config.eval.resize_short_side"),
    # batch size vs devices (8 simulated) and processes
    ("train.batch_size", 12, r"config.train.batch_size=12 must be a positive multiple of 8 .*"
                             r"e.g. 16"),
    ("eval.batch_size", 4, r"config.eval.batch_size=4 must be a positive multiple of 8"),
    ("mesh", {"data": 3}, r"config.mesh"),
    ("sharding_rules", ((".*", "shard_all"),), r"tactic 'shard_all'"),
    # model / objective combinations
    ("objective", "simclr", r"config.objective='simclr' is unknown"),
    ("model_name", "r3d_101", r"config.model_name='r3d_101' is unknown"),
    ("model.num_classes", 400, r"num_classes=400 makes 'r3d_prp' a classifier, but objective "
                               r"'cvrl' needs its feature map"),
    ("model.depth", 50, r"config.model.depth is not an option of 'r3d_prp'"),
    ("model.dtype", "int8", r"config.model.dtype='int8' must be one of"),
    ("cvrl", None, r"config.objective='cvrl' needs a config.cvrl section"),
    # training settings
    ("train.checkpoint_every", 0, r"config.train.checkpoint_every=0"),
    ("optimizer.warmup_steps", 10, r"config.optimizer.warmup_steps=10 exceeds "
                                   r"config.train.num_steps=4"),
    ("train.skip_nonfinite", "yes", r"config.train.skip_nonfinite='yes' must be True or False"),
    ("data.on_corrupt_record", "ignore", r"config.data.on_corrupt_record='ignore'"),
    # missing files
    ("data.source", "records", r"No file pattern for split 'train': set "
                               r"config.data.train_files"),
])
def test_each_problem_is_one_line_naming_the_field(tiny_cvrl_config, path, value, match):
  config = tiny_cvrl_config
  config.unlock()
  if value is None:
    del config[path]
  else:
    _replace(config, path, value)
  with pytest.raises(config_validation.ConfigError, match=match) as error:
    config_validation.validate_config(config)
  assert "\n" not in str(error.value)


def test_missing_record_files_name_the_pattern(tiny_cvrl_config, tmp_path):
  config = tiny_cvrl_config
  config.data.source = "records"
  config.data.train_files = str(tmp_path / "train-*.tfrecord")
  with pytest.raises(config_validation.ConfigError, match=r"train-\*.tfrecord.*matches no file"):
    config_validation.validate_config(config, mode="train")
  # Eval-only runs do not need training files, but do need the eval ones.
  with pytest.raises(config_validation.ConfigError, match="config.data.eval_train_files"):
    config_validation.validate_config(config, mode="eval")


def test_the_pod_recipe_is_valid_with_its_files(tmp_path):
  from configs import cvrl_k400_r3d50  # pylint: disable=g-import-not-at-top
  from jvrl.data import records  # pylint: disable=g-import-not-at-top
  config = cvrl_k400_r3d50.get_config()
  config.data.train_files = config.data.eval_train_files = config.data.eval_test_files = (
      str(tmp_path / "*.tfrecord"))
  records.write_sharded_records(
      [records.make_sequence_example(jpeg_frames=[b"x"])], str(tmp_path), 1, "train")
  config_validation.validate_config(config)
  config.mesh.fsdp = 8
  config.model.dtype = "bfloat16"
  config_validation.validate_config(config)


@pytest.mark.parametrize("config_name", ["cvrl_synthetic", "prp_synthetic", "vatt_synthetic",
                                         "cvrl_prp_synthetic", "supervised_synthetic"])
@pytest.mark.parametrize("mode", ["train", "eval", "train_and_eval"])
def test_validating_writes_nothing(config_name, mode, tmp_path, monkeypatch):
  """Checking a synthetic config on an empty cache generates no data and writes no file."""
  import importlib  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv("JVRL_CACHE_DIR", str(tmp_path / "env_cache"))
  monkeypatch.setenv("HOME", str(tmp_path / "home"))
  config = importlib.import_module(f"configs.{config_name}").get_config()
  config.data.synthetic.cache_dir = str(tmp_path / "cache")
  config_validation.validate_config(config, mode=mode)
  assert list(tmp_path.iterdir()) == []


def test_objectives_check_their_own_sections(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.cvrl.temperature = 0.0
  with pytest.raises(config_validation.ConfigError, match=r"config.cvrl.temperature=0.0 must"):
    config_validation.validate_config(config)


def test_combined_with_a_whole_model_evaluation_is_refused(tiny_vatt_config):
  config = tiny_vatt_config
  config.objective = "combined"
  config.combined = {"vatt": 1.0}
  with pytest.raises(config_validation.ConfigError, match=r"contains \['vatt'\], whose "
                                                          r"whole-model evaluation"):
    config_validation.validate_config(config, mode="train")


def test_the_finetuning_run_is_validated_at_start_up(tiny_cvrl_config):
  """The derived fine-tuning config is checked once at the entry point, as a training run."""
  config = tiny_cvrl_config
  config.eval.finetune.steps = 4
  config.eval.finetune.batch_size = 8
  config.eval.finetune.optimizer = {"learning_rate": 0.01, "warmup_steps": 1}
  config_validation.validate_config(config)
  config.eval.finetune.batch_size = 12  # not a multiple of the 8 simulated devices
  with pytest.raises(config_validation.ConfigError, match=r"config.eval.finetune.batch_size=12"):
    config_validation.validate_config(config)


def _export(config, directory, **model_overrides):
  """encoder.json (and stand-in variables: the check reads encoder.json only) of an
  export of `config`'s encoder with `model_overrides`."""
  from jvrl.train import checkpointing  # pylint: disable=g-import-not-at-top
  checkpointing.export_encoder(
      directory, model_name=config.model_name,
      model_kwargs={**config.model.to_dict(), **model_overrides},
      variables={"params": {"w": np.zeros(1, np.float32)}})
  return str(directory)


def test_init_from_must_be_an_export_of_this_architecture(tiny_cvrl_config, tmp_path):
  config = tiny_cvrl_config
  config.init_from = _export(config, tmp_path / "fits", dtype="bfloat16")  # compute only
  config_validation.validate_config(config)
  config.init_from = _export(config, tmp_path / "kinetics", input_normalization="kinetics")
  with pytest.raises(config_validation.ConfigError,
                     match=r"config.init_from='.*kinetics' is not the architecture this run "
                           r"trains \(model.input_normalization is 'kinetics' there, 'none' "
                           r"here\): set config.model_name / config.model to match it"):
    config_validation.validate_config(config)
  config_validation.validate_config(config, mode="eval")  # only training reads it
  config.init_from = str(tmp_path / "missing")
  with pytest.raises(config_validation.ConfigError,
                     match=r"config.init_from='.*missing'.*encoder.json missing"):
    config_validation.validate_config(config, mode="train")


def test_an_experiment_with_its_own_start_refuses_init_from(tiny_tsp_config, tmp_path):
  config = tiny_tsp_config
  config.init_from = _export(config, tmp_path / "export")
  with pytest.raises(config_validation.ConfigError,
                     match=r"config.init_from is not read by objective 'tsp', whose experiment "
                           r"starts its encoder from config.tsp.initial_encoder: set that"):
    config_validation.validate_config(config)
  config.init_from = ""
  config.tsp.initial_encoder = _export(config, tmp_path / "wide", width_multiplier=1.0)
  with pytest.raises(config_validation.ConfigError,
                     match=r"config.tsp.initial_encoder='.*wide' is not the architecture"):
    config_validation.validate_config(config)
