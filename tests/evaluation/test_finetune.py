"""Full fine-tuning: the derived supervised run, starting from the given encoder,
multi-clip logit averaging, results and resume."""
import os

import jax
import numpy as np
import pytest
from conftest import make_tiny_cvrl_config

from jvrl import config_validation
from jvrl import models
from jvrl.data import held_out
from jvrl.data import pipeline
from jvrl.data import sources
from jvrl.evaluation import evaluate
from jvrl.evaluation import finetune
from jvrl.objectives import build_objective
from jvrl.train import sharding
from jvrl.train import trainer

FINETUNE_STEPS = 3


def _tiny_finetune_config(cache_dir: str):
  config = make_tiny_cvrl_config(cache_dir)
  config.eval.finetune.steps = FINETUNE_STEPS
  config.eval.finetune.batch_size = 8
  config.eval.finetune.resize_short_side = 20
  config.eval.finetune.num_clips = 3
  config.eval.finetune.optimizer = dict(learning_rate=0.0, warmup_steps=1)
  return config


@pytest.fixture(scope="module")
def finetuned(synthetic_cache_dir, tmp_path_factory):
  """Fine-tunes (lr 0) from an encoder of random weights: (config, workdir, given, results)."""
  config = _tiny_finetune_config(synthetic_cache_dir)
  encoder = models.build_model(config.model_name, **config.model.to_dict())
  given = jax.device_get(evaluate.random_init_variables(config, encoder))
  workdir = str(tmp_path_factory.mktemp("finetune"))
  results = finetune.run_finetuning(config, workdir, given, init_name="step_7")
  return config, workdir, given, results


def test_finetune_config_derives_a_supervised_run_on_eval_train(tiny_cvrl_config):
  config = tiny_cvrl_config
  config.eval.finetune.steps = 40
  config.init_from = "/pretraining/started/here"
  config.eval.clip_length = 8  # the frozen evaluation's clips; fine-tuning tests its own
  config.train.export_teacher = True  # e.g. SVT's pretraining
  derived = finetune.finetune_config(config)
  assert derived.train.export_teacher is False and config.train.export_teacher  # no teacher
  assert derived.eval.clip_length is None and config.eval.clip_length == 8
  assert derived.init_from == ""  # fine-tuning starts from the evaluated encoder
  assert derived.objective == "supervised"
  assert derived.data.train_split == "eval_train"
  assert derived.supervised.augmentation == "crop"
  assert derived.supervised.num_classes == config.eval.finetune.num_classes
  assert derived.train.num_steps == 40 and derived.train.batch_size == 16
  assert derived.optimizer.learning_rate == config.eval.finetune.optimizer.learning_rate
  assert derived.optimizer.name == config.optimizer.name  # unset fields come from pretraining
  assert (derived.eval.num_clips, derived.eval.num_crops) == (10, 1)
  assert derived.model.to_dict() == config.model.to_dict()
  assert config.objective == "cvrl" and "train_split" not in config.data  # not mutated
  config_validation.validate_config(derived, mode="train_and_eval")


def test_finetune_is_off_by_default_and_validated(tiny_cvrl_config):
  assert not finetune.finetune_enabled(tiny_cvrl_config)
  config = tiny_cvrl_config
  config.eval.finetune.steps = 5
  assert finetune.finetune_enabled(config)
  config.eval.finetune.resize_short_side = config.data.crop_size - 1
  with pytest.raises(config_validation.ConfigError, match="finetune.resize_short_side"):
    config_validation.validate_config(config, mode="eval")
  config_validation.validate_config(config, mode="train")  # fine-tuning is evaluation's
  config.eval.finetune.resize_short_side = 20
  config.eval.finetune.num_classes = 1
  with pytest.raises(config_validation.ConfigError, match="finetune.num_classes"):
    config_validation.validate_config(config, mode="eval")
  config.eval.finetune.num_classes = 10
  config.data.train_split = "test"
  with pytest.raises(config_validation.ConfigError, match="train_split"):
    config_validation.validate_config(config, mode="eval")


def test_finetuning_starts_from_the_given_encoder(finetuned):
  """With lr 0 the fine-tuned encoder's parameters are exactly the given ones."""
  config, workdir, given, results = finetuned
  derived = finetune.finetune_config(config)
  restored, step = trainer.restore_encoder_variables(
      derived, os.path.join(workdir, finetune.FINETUNE_SUBDIR, "step_7"))
  assert step == FINETUNE_STEPS
  for got, want in zip(jax.tree.leaves(restored["params"]), jax.tree.leaves(given["params"])):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  # The encoder's fresh initialisation (seed of the fine-tuning run) differs from it.
  fresh = trainer.Setup(derived)
  spec = pipeline.make_train_dataset(derived, fresh.objective.preprocess_train, 8).element_spec
  _, shardings = fresh.abstract_state(spec)
  fresh_encoder = trainer.encoder_variables(fresh.fresh_state(spec, shardings))
  assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(
      jax.tree.leaves(fresh_encoder["params"]), jax.tree.leaves(given["params"])))
  assert set(results) == {"finetune_top1"} and 0.0 <= results["finetune_top1"] <= 1.0


def test_rerun_retests_the_finished_run_without_training(finetuned):
  config, workdir, given, results = finetuned
  again = finetune.run_finetuning(config, workdir, given, init_name="step_7",
                                  prefix=evaluate.RANDOM_INIT_PREFIX)
  assert again == {"random_init_finetune_top1": results["finetune_top1"]}


def test_multi_clip_top1_averages_the_views_logits(finetuned):
  """Against a slow reference: every view classified on its own, logits averaged."""
  config, workdir, _, results = finetuned
  derived = finetune.finetune_config(config)
  model = build_objective(derived).model
  state, step = trainer.restore_latest_state(
      derived, os.path.join(workdir, finetune.FINETUNE_SUBDIR, "step_7"))
  assert step == FINETUNE_STEPS
  variables = jax.device_get(trainer.model_variables(state))

  hits, count, per_view_differs = 0, 0, False
  for batch in pipeline.make_eval_dataset(derived, "eval_test", 8).as_numpy_iterator():
    video = batch["video"][batch["mask"]]
    assert video.shape[1] == 3  # num_clips x num_crops views
    view_logits = np.stack([
        np.asarray(model.apply(variables, {"clip": video[:, v]}, train=False)["logits"])
        for v in range(video.shape[1])], axis=1)
    per_view_differs |= not np.allclose(view_logits[:, 0], view_logits[:, 1])
    hits += int(np.sum(view_logits.mean(axis=1).argmax(-1) == batch["label"][batch["mask"]]))
    count += len(video)
  mesh = sharding.make_mesh(derived.mesh.to_dict())
  top1, videos = finetune.multi_clip_top1(derived, model, variables, mesh)
  assert per_view_differs  # the views really are different clips
  assert videos == count == config.data.synthetic.eval_test_videos
  assert top1 == pytest.approx(hits / count)
  assert top1 == pytest.approx(results["finetune_top1"])


def test_with_encoder_variables_rejects_another_model(tiny_cvrl_config):
  config = tiny_cvrl_config
  setup = trainer.Setup(config)
  spec = pipeline.make_train_dataset(config, setup.objective.preprocess_train, 8).element_spec
  state = setup.fresh_state(spec, setup.abstract_state(spec)[1])
  wider = models.build_model(config.model_name, **dict(config.model.to_dict(),
                                                      width_multiplier=0.125))
  other = jax.device_get(evaluate.random_init_variables(config, wider))
  with pytest.raises(ValueError, match="do not fit"):
    trainer.with_encoder_variables(state, other, "encoder")
  with pytest.raises(ValueError, match="collections"):
    trainer.with_encoder_variables(state, {"params": other["params"]}, "encoder")


def test_run_evaluation_fine_tunes_the_encoder_and_a_random_init_one(synthetic_cache_dir,
                                                                    tmp_path):
  """Wired into the shared evaluation: both fine-tunings run, each in its own run dir.
  Given the random-init encoder itself, the two must agree exactly (determinism)."""
  config = _tiny_finetune_config(synthetic_cache_dir)
  encoder = models.build_model(config.model_name, **config.model.to_dict())
  given = jax.device_get(evaluate.random_init_variables(config, encoder))
  results = evaluate.run_evaluation(config, str(tmp_path), variables=given, step=5)
  assert set(os.listdir(tmp_path / finetune.FINETUNE_SUBDIR)) == {"step_5", "random_init"}
  assert 0.0 <= results["finetune_top1"] <= 1.0
  assert results["random_init_finetune_top1"] == results["finetune_top1"]
  assert results["random_init_linear_probe_top1"] == results["linear_probe_top1"]


def test_held_out_validation_picks_the_tested_state(synthetic_cache_dir, tmp_path):
  """validation_videos: held out of training by name, validated every `validation_every`
  steps, the best state tested (PRP's ft_classfy.py); the choice is reported."""
  config = _tiny_finetune_config(synthetic_cache_dir)
  config.eval.finetune.update(dict(validation_videos=6, validation_every=2,
                                   optimizer=dict(learning_rate=0.01, warmup_steps=0,
                                                  plateau_factor=0.5, plateau_patience=1)))
  config_validation.validate_config(config, mode="eval")
  encoder = models.build_model(config.model_name, **config.model.to_dict())
  given = jax.device_get(evaluate.random_init_variables(config, encoder))
  workdir = str(tmp_path)
  results = finetune.run_finetuning(config, workdir, given, init_name="step_1")
  assert set(results) == {"finetune_top1", "finetune_best_step", "finetune_validation_top1"}
  assert results["finetune_best_step"] in (2.0, 3.0)  # validated after steps 2 and 3 (last)

  derived = finetune.finetune_config(config, workdir)
  assert derived.optimizer.plateau_metric == "validation_loss"
  chosen = held_out.read_ids(derived.data.held_out.ids_file)
  assert len(chosen) == 6

  def names(data_config, split):
    return {e["filename"].decode() for e in sources.make_example_dataset(
        data_config, split, shuffle_files=False, seed=0).as_numpy_iterator()}

  assert not names(derived.data, "eval_train") & set(chosen)  # never trained on
  assert len(names(derived.data, "eval_train")) == config.data.synthetic.eval_train_videos - 6
  assert names(finetune.validation_config(derived).data, "eval_train") == set(chosen)
  run_dir = os.path.join(workdir, finetune.FINETUNE_SUBDIR, "step_1")
  best_state, best = trainer.restore_best_state(derived, run_dir)
  assert best["step"] == results["finetune_best_step"]
  assert best["top1"] == results["finetune_validation_top1"]
  model = build_objective(derived).model
  mesh = sharding.make_mesh(derived.mesh.to_dict())
  top1, _ = finetune.multi_clip_top1(derived, model,
                                     jax.device_get(trainer.model_variables(best_state)), mesh)
  assert top1 == pytest.approx(results["finetune_top1"])  # the best state was tested

  config.eval.finetune.validation_every = 0
  with pytest.raises(config_validation.ConfigError, match="validation_every"):
    config_validation.validate_config(config, mode="eval")
