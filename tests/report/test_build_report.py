"""The report of a tiny CVRL run: every section drawn, self-contained, rebuilt by the CLI."""
import base64
import html.parser
import io
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import make_tiny_cvrl_config
from jvrl import experiments
from jvrl import report
from jvrl.data import sources
from jvrl.evaluation import saved_outputs
from jvrl.report import build
from jvrl.report import projector

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, synthetic_cache_dir):
  """A tiny CVRL run (2 steps) evaluated through jvrl.experiments, as jvrl.main runs it."""
  config = make_tiny_cvrl_config(synthetic_cache_dir)
  config.train.num_steps, config.train.log_every = 2, 1
  workdir = str(tmp_path_factory.mktemp("report_run"))
  sources.prepare_data_source(config.data, ("train", "eval_train", "eval_test"))
  with open(os.path.join(workdir, "config.json"), "w") as f:  # what jvrl.main writes
    f.write(config.to_json(indent=2))
  with open(os.path.join(workdir, "command.txt"), "w") as f:
    f.write("python -m jvrl.main --config=configs/cvrl_synthetic.py --workdir=tiny\n")
  results = experiments.run_train_and_evaluate(config, workdir, "train_and_eval")
  return config, workdir, results


class _Tags(html.parser.HTMLParser):
  """Every tag's attributes."""

  def __init__(self):
    super().__init__()
    self.tags = []

  def handle_starttag(self, tag, attrs):
    self.tags.append((tag, dict(attrs)))


def _check_page(path: str, figure_dir: str) -> list[str]:
  """Checks the page is self-contained; returns its <h2> titles."""
  with open(path, encoding="utf-8") as f:
    page = f.read()
  assert "http:" not in page and "https:" not in page and "file:" not in page
  parser = _Tags()
  parser.feed(page)
  images = [attrs for tag, attrs in parser.tags if tag == "img"]
  assert images
  files = {}
  for name in os.listdir(figure_dir):
    with open(os.path.join(figure_dir, name), "rb") as f:
      files[f.read()] = name
  for attrs in images:
    prefix = "data:image/png;base64,"
    assert attrs["src"].startswith(prefix)
    data = base64.b64decode(attrs["src"][len(prefix):])
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    assert image.size == (int(attrs["width"]), int(attrs["height"]))
    assert data in files  # the same picture as a file beside the page
  for tag, attrs in parser.tags:
    assert "src" not in attrs or tag == "img"
    assert attrs.get("href", "#").startswith("#"), attrs
  assert not [tag for tag, _ in parser.tags if tag in ("script", "link", "iframe")]
  return [line.split("<h2>")[1].split("</h2>")[0] for line in page.split("\n") if "<h2>" in line]


def test_evaluation_builds_the_report(tiny_run):
  config, workdir, results = tiny_run
  eval_dir = os.path.join(workdir, "eval")
  with open(os.path.join(eval_dir, "results.json")) as f:
    assert json.load(f) == pytest.approx(results)
  titles = _check_page(os.path.join(eval_dir, "report.html"), os.path.join(eval_dir, "figures"))
  assert titles == ["Results", "Feature map of the test split",
                    "Linear probe: confusion matrices",
                    "Retrieval: test queries and their nearest train videos",
                    "Embedding projector (TensorBoard)", "Training curves", "Command and config"]
  assert sorted(os.listdir(os.path.join(eval_dir, "figures"))) == [
      "confusion_matrix.png", "feature_map.png", "retrieval_pretrained.png",
      "retrieval_random_init.png", "training_curves.png"]
  with open(os.path.join(eval_dir, "report.html")) as f:
    page = f.read()
  assert "class=\"problem\"" not in page
  assert "linear_probe_top1" in page
  assert "--workdir=tiny" in page and "cvrl" in page

  # The saved outputs agree with the evaluation.
  outputs = saved_outputs.load_feature_outputs(workdir)
  num_test = config.data.synthetic.eval_test_videos
  num_train = config.data.synthetic.eval_train_videos
  assert list(outputs.encoders) == ["pretrained", "random_init"]
  pretrained = outputs.encoders["pretrained"]
  assert pretrained.test_features.shape[0] == num_test
  assert pretrained.train_features.shape[0] == num_train
  assert pretrained.neighbours.shape == (num_test, 10)
  top1 = np.mean(pretrained.probe_predictions == outputs.test_labels)
  assert top1 == pytest.approx(results["linear_probe_top1"])
  assert all(name.startswith("synthetic/eval_test/") for name in outputs.test_filenames)
  assert "move_right" in list(outputs.class_names)

  # The projector files: metadata rows = feature rows, sprite = thumbnail size x grid.
  run_dir = os.path.join(workdir, "tensorboard", "eval")
  config_proto = projector.read_projector_config(run_dir)
  assert [e.tensor_name for e in config_proto.embeddings] == ["pretrained", "random_init"]
  for embedding in config_proto.embeddings:
    features = np.loadtxt(os.path.join(run_dir, embedding.tensor_path), delimiter="\t")
    assert features.shape == (num_test, pretrained.test_features.shape[1])
    with open(os.path.join(run_dir, embedding.metadata_path)) as f:
      assert len(f.read().splitlines()) - 1 == features.shape[0]
    grid = projector.sprite_grid(num_test)
    sprite = Image.open(os.path.join(run_dir, embedding.sprite.image_path))
    assert sprite.size == (grid * build.THUMBNAIL_SIZE, grid * build.THUMBNAIL_SIZE)
    assert list(embedding.sprite.single_image_dim) == [build.THUMBNAIL_SIZE] * 2


def test_cli_rebuilds_the_same_report_and_draws_zero_shot_examples(tiny_run):
  _, workdir, _ = tiny_run
  figure_dir = os.path.join(workdir, "eval", "figures")
  before = {}
  for name in os.listdir(figure_dir):
    with open(os.path.join(figure_dir, name), "rb") as f:
      before[name] = f.read()
  os.remove(os.path.join(workdir, "eval", "report.html"))
  # VATT's text->video examples (what multimodal.zero_shot_examples saves).
  example = {"caption": "a red square moves to the right", "video": 1, "label": 0,
             "filename": "", "rank": 2, "ranked": [3, 1, 0], "ranked_labels": [0, 0, 1],
             "ranked_filenames": ["", "", ""], "scores": [0.9, 0.8, 0.1]}
  path = saved_outputs.save_zero_shot_examples(workdir, {"pretrained": [example],
                                                         "random_init": [example]})
  env = dict(os.environ, PYTHONPATH=REPO)
  try:
    result = subprocess.run([sys.executable, "-m", "jvrl.report", f"--workdir={workdir}"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
  finally:
    os.remove(path)
  assert result.returncode == 0, result.stderr[-3000:]
  page = result.stdout.strip().splitlines()
  assert page == [os.path.join(workdir, "eval", "report.html")]  # no section left undrawn
  titles = _check_page(page[0], figure_dir)
  assert "Zero-shot text-to-video retrieval examples" in titles
  after = {}
  for name in os.listdir(figure_dir):
    with open(os.path.join(figure_dir, name), "rb") as f:
      after[name] = f.read()
  assert set(after) == set(before) | {"zero_shot_pretrained.png", "zero_shot_random_init.png"}
  for name, data in before.items():  # rebuilt from the saved outputs: the same pictures
    assert after[name] == data, name


def test_a_report_failure_is_a_warning_not_an_error(tmp_path, caplog):
  with caplog.at_level(logging.WARNING):
    assert report.build_report_or_warn(str(tmp_path)) is None  # nothing evaluated here
  assert "evaluation report was not built (FileNotFoundError" in caplog.text
