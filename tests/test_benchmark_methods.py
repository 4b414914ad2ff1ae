"""Tests of benchmarks.methods: each method's command on the CVRL budget, the resume rule,
the table from results.json files, unknown names (a fake runner stands in for jvrl.main)."""
import json
import os
import subprocess

import ml_collections
import pytest
from absl import app

from benchmarks import methods

ROOT = "/tmp/methods_root"


def _plans(names, extra=()):
  return {plan.name: plan for plan in methods.plan_methods(names, list(extra))}


def _flags(command):
  return [a for a in command if a.startswith("--config.")]


def test_budget_is_read_from_the_cvrl_main_job():
  budget = methods.budget(methods.load_config("cvrl"))
  assert budget["model_name"] == "r3d_prp"
  assert budget["model.input_transform"] == "frame_difference"
  assert (budget["data.clip_length"], budget["data.crop_size"]) == (8, 32)
  assert (budget["train.batch_size"], budget["train.num_steps"]) == (16, 1800)
  assert budget["optimizer.name"] == "adamw" and budget["eval.num_clips"] == 2
  assert budget["eval.retrieval_ks"] == (1, 5, 10, 20, 50)
  assert "eval.clip_length" not in budget  # an unset placeholder: nothing to impose
  assert "seed" not in budget and "cvrl.temperature" not in budget  # per seed / the method's


def test_the_contrastive_family_runs_its_configs_as_they_are():
  plans = _plans(["cvrl", "simclr", "simclr_frame", "concur", "fame", "stor", "teg", "stc_mix"])
  for name, plan in plans.items():
    command = plan.command(ROOT, 1)
    assert command[3:6] == [f"--config=configs/{name}_synthetic.py",
                            f"--workdir={ROOT}/{name}/seed_1", "--config.seed=1"]
    assert _flags(command) == ["--config.seed=1"], name  # already on the budget
  assert set(plans["simclr_frame"].kept) == {"model.input_transform"}  # RGB frames: its own
  assert all(not plans[n].kept for n in plans if n != "simclr_frame")


def test_svt_gets_the_budget_but_keeps_its_transformer_and_optimiser():
  plan = _plans(["svt"])["svt"]
  assert _flags(plan.command(ROOT, 0)) == [
      "--config.seed=0", "--config.train.batch_size=16", "--config.train.num_steps=1800"]
  assert set(plan.kept) == {"model_name", "model.*", "optimizer.*", "data.frame_stride"}
  shorter = _plans(["svt"], ["--config.train.num_steps=2"])["svt"]  # the caller's flag wins
  assert _flags(shorter.command(ROOT, 0)) == [
      "--config.seed=0", "--config.train.batch_size=16", "--config.train.num_steps=2"]


def test_coclr_keeps_its_two_stage_schedule():
  plan = _plans(["coclr"], ["--config.train.log_every=1"])["coclr"]
  assert _flags(plan.command(ROOT, 0)) == ["--config.seed=0", "--config.train.log_every=1"]
  assert set(plan.kept) == {"train.num_steps", "optimizer.warmup_steps"}


def test_a_method_config_off_the_budget_gets_overrides_and_extra_flags_come_last():
  def load(name):
    config = methods.load_config("cvrl")
    if name == "concur":
      config.train.batch_size = 32
      config.eval.retrieval_ks = (1, 5)
      config.model.width_multiplier = 0.25
    return config

  plan = methods.plan_methods(["concur"], ["--config.train.num_steps=2"], load=load)[0]
  command = _flags(plan.command(ROOT, 0))
  assert command[0] == "--config.seed=0" and command[-1] == "--config.train.num_steps=2"
  assert sorted(command[1:-1]) == [
      "--config.eval.retrieval_ks=(1, 5, 10, 20, 50)", "--config.model.width_multiplier=0.125",
      "--config.train.batch_size=16"]


def test_a_budget_field_missing_from_a_method_config_is_named():
  def load(name):
    config = methods.load_config("cvrl")
    if name == "fame":
      del config["data"]["crop_size"]
    return config

  with pytest.raises(ValueError, match="fame_synthetic.py has no field data.crop_size"):
    methods.plan_methods(["fame"], [], load=load)


def test_unknown_method_names_fail_with_the_available_configs():
  with pytest.raises(app.UsageError, match=r"Unknown method\(s\) \['simclrr'\].*'simclr'"):
    methods.check_methods(["cvrl", "simclrr"])
  with pytest.raises(app.UsageError, match="no budget rule"):
    methods.check_methods(["prp"])  # a config, but no rule for the shared budget
  with pytest.raises(app.UsageError, match="twice"):
    methods.check_methods(["cvrl", "cvrl"])
  methods.check_methods(list(methods.DEFAULT_METHODS))
  assert set(methods.DEFAULT_METHODS) <= set(methods.available_configs())


def _results(probe, knn, r1, prefix="", random_prefix="random_init_"):
  out = {"step": 10}
  for p, scale in ((prefix, 1.0), (random_prefix, 0.25)):
    out.update({f"{p}linear_probe_top1": probe * scale, f"{p}knn_top1": knn * scale,
                f"{p}retrieval_recall@1": r1 * scale})
  return out


def _fake_runner(results_by_method, calls):
  def run(command, cwd, check):
    assert cwd == methods.REPO and check is False
    calls.append(command)
    workdir = next(a for a in command if a.startswith("--workdir=")).split("=", 1)[1]
    name = os.path.basename(os.path.dirname(workdir))
    seed = int(next(a for a in command if a.startswith("--config.seed=")).split("=")[1])
    os.makedirs(os.path.join(workdir, "eval"))
    with open(os.path.join(workdir, "eval", "results.json"), "w") as f:
      json.dump(results_by_method[name][seed], f)
    return subprocess.CompletedProcess(command, 0)
  return run


def test_runs_resume_and_the_table_reads_the_results(tmp_path):
  root = str(tmp_path)
  plans = methods.plan_methods(["cvrl", "simclr_frame", "coclr"], [])
  fake = {"cvrl": {0: _results(0.5, 0.4, 0.3), 1: _results(0.7, 0.6, 0.5)},
          "simclr_frame": {0: _results(0.1, 0.1, 0.1), 1: _results(0.2, 0.2, 0.2)},
          "coclr": {s: {**_results(0.6, 0.5, 0.4, "coclr_rgb_", "random_init_rgb_"),
                        **_results(0.8, 0.7, 0.6, "coclr_two_stream_", "random_init_flow_")}
                    for s in (0, 1)}}
  calls = []
  machine = lambda: {"cpus": 2, "backend": "cpu", "jax": "0.10.2"}
  # seed 1 of cvrl finished earlier (by hand): read back, never rerun, no wall time known.
  done = os.path.join(root, "cvrl", "seed_1", "eval")
  os.makedirs(done)
  with open(os.path.join(done, "results.json"), "w") as f:
    json.dump(fake["cvrl"][1], f)
  runner = _fake_runner(fake, calls)
  method_runs = {p.name: methods.run_method(p, root, [0, 1], runner, machine) for p in plans}
  assert len(calls) == 5 and all("seed_1" not in c[4] for c in calls if "cvrl/" in c[4])
  assert os.path.isfile(os.path.join(root, "coclr", "run_seed_1.json"))
  assert method_runs["cvrl"][1]["wall_seconds"] is None
  # A second pass runs nothing and reads the wall times and machines back.
  again = {p.name: methods.run_method(p, root, [0, 1], runner, machine) for p in plans}
  assert len(calls) == 5
  assert again["coclr"][0]["wall_seconds"] == method_runs["coclr"][0]["wall_seconds"]
  assert not any(run["stale"] for seed_runs in again.values() for run in seed_runs.values())

  rows = methods.table_rows(plans, again)
  labels = [row["label"] for row in rows]
  assert labels == ["cvrl", "simclr_frame", "coclr (RGB stream)",
                    "coclr (two-stream: RGB + flow)",
                    "random init (the budget's encoder; from the cvrl runs)",
                    "random init (simclr_frame's encoder)"]
  cvrl = rows[0]["metrics"]
  assert cvrl["linear_probe_top1"]["mean"] == pytest.approx(0.6)
  assert cvrl["linear_probe_top1"]["std"] == pytest.approx(0.1414, abs=1e-4)
  assert (cvrl["knn_top1"]["min"], cvrl["knn_top1"]["max"]) == (0.4, 0.6)
  assert rows[3]["metrics"]["retrieval_recall@1"]["mean"] == pytest.approx(0.6)
  assert rows[4]["metrics"]["linear_probe_top1"]["mean"] == pytest.approx(0.15)

  markdown = methods.format_markdown(rows)
  lines = markdown.splitlines()
  assert lines[0].startswith("| method | linear probe top-1 | kNN top-1 | retrieval R@1 | "
                             "wall time per run | machine |")
  assert lines[2].startswith("| cvrl | 0.600 ± 0.141 (0.500–0.700) | 0.500 ± 0.141 "
                             "(0.400–0.600) | 0.400 ± 0.141 (0.300–0.500) | ")
  assert "2 CPUs, cpu, jax 0.10.2" in lines[2] and "| none | none |" in lines[2]
  assert "model.input_transform: single frames" in lines[3]
  methods.write_report(root, rows, plans, [0, 1], markdown)
  with open(os.path.join(root, "methods.md")) as f:
    assert f.read() == markdown + "\n"
  with open(os.path.join(root, "methods.json")) as f:
    report = json.load(f)
  assert report["methods"] == ["cvrl", "simclr_frame", "coclr"]
  assert report["commands"]["coclr"]["0"][2] == "--config=configs/coclr_synthetic.py"


def test_results_of_a_run_with_another_command_are_flagged(tmp_path):
  root = str(tmp_path)
  plan = methods.plan_methods(["cvrl"], [])[0]
  calls = []
  runner = _fake_runner({"cvrl": {0: _results(0.5, 0.4, 0.3)}}, calls)
  methods.run_method(plan, root, [0], runner, lambda: {"cpus": 2})
  shorter = methods.plan_methods(["cvrl"], ["--config.train.num_steps=2"])[0]
  runs = methods.run_method(shorter, root, [0], runner, lambda: {"cpus": 2})
  assert len(calls) == 1 and runs[0]["stale"]
  markdown = methods.format_markdown(methods.table_rows([shorter], {"cvrl": runs}))
  assert "(†)" in markdown
  assert markdown.splitlines()[2].startswith("| cvrl (†) | 0.500 | 0.400 | 0.300 |")  # one seed
