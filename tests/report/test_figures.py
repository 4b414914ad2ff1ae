"""The report's pictures: real PNGs of the size they state, byte-identical on equal input."""
import io

import numpy as np
from PIL import Image

from jvrl.report import figures


def _check_png(png: figures.Png) -> None:
  image = Image.open(io.BytesIO(png.data))
  assert image.format == "PNG"
  assert image.size == (png.width, png.height)
  assert png.width > 50 and png.height > 50


def test_feature_map_and_confusion_matrix():
  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(4), 5)
  labels[0] = -1  # unlabelled videos are drawn grey
  panels = [("a", rng.normal(size=(20, 2))), ("b", rng.normal(size=(20, 2)))]
  names = ["left", "right", "", "up"]
  png = figures.feature_map_png(panels, labels, names)
  _check_png(png)
  assert figures.feature_map_png(panels, labels, names) == png  # deterministic
  predictions = labels.copy()
  predictions[1] = 3
  _check_png(figures.confusion_matrix_png([("a", labels, predictions)], names))
  matrix = figures.confusion_matrix(labels, predictions, 4)
  assert matrix.sum() == 19 and matrix[0, 3] == 1 and matrix[3, 3] == 5
  assert figures.class_name(names, 2) == "class 2" and figures.class_name(names, -1) == "unlabelled"


def test_strips_curves_and_timeline():
  frames = np.random.default_rng(0).integers(0, 256, (4, 12, 16, 3), np.uint8)
  strip = figures.film_strip(frames, gap=2)
  assert strip.shape == (12, 4 * 16 + 3 * 2, 3)
  rows = [figures.StripRow(strip, "query", [strip] * 3, ["x", "y", "z"], [True, False, True]),
          figures.StripRow("a red square moves left", "text query", [strip] * 2, ["x", "y"],
                           [False, True])]
  _check_png(figures.retrieval_strips_png(rows, "title"))
  steps = np.arange(1, 11)
  _check_png(figures.training_curves_png([("", "loss", steps, 1.0 / steps),
                                          ("tac", "learning_rate", steps, steps * 1e-3)]))
  track = figures.TimelineTrack("tsp", np.linspace(0.5, 9.5, 10), np.linspace(0, 1, 10),
                                np.array([[2.0, 5.0]]), np.array([0.7]))
  _check_png(figures.timeline_png("video", 10.0, np.array([[1.0, 4.0]]), np.array([2]),
                                  [track, track]))
  image = figures.image_png(strip)
  assert Image.open(io.BytesIO(image.data)).size == (image.width, image.height) == (70, 12)
  assert not figures.is_learning_curve("steps_per_sec") and figures.is_learning_curve("loss")
