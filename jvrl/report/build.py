"""Builds a finished run's report from what its evaluation saved (no re-evaluation).

Reads WORKDIR/eval/results.json, the evaluation's saved outputs
(`jvrl.evaluation.saved_outputs`), WORKDIR/config.json and command.txt, the
training runs' TensorBoard scalars, and the frames of the few videos it shows
(from the run's records); writes

  WORKDIR/eval/report.html     one self-contained page (images embedded);
  WORKDIR/eval/figures/*.png   the same pictures as files;
  WORKDIR/tensorboard/eval/projector_config.pbtxt (+ projector/): the test
                               features of each encoder with class metadata
                               and a thumbnail sprite, for TensorBoard's
                               projector (shared evaluation only).

Sections, each present when the run has what it needs: results (every
metric, pretrained vs random init, or one column per encoder of TSP's
comparison); feature maps (t-SNE / UMAP of the test features, by class);
the linear probe's confusion matrices; retrieval examples (test queries and
their nearest train videos, as film strips); localization timelines (TSP);
zero-shot text->video examples (VATT); training curves; the command and
config. A section that fails says why on the page and in a warning; the
others are still drawn.
"""
import dataclasses
import glob
import os
import time
from typing import Any, Callable, Mapping, Sequence

import ml_collections
import numpy as np
from absl import logging

import jvrl
from jvrl.evaluation import saved_outputs
from jvrl.report import figures
from jvrl.report import frames as frames_lib
from jvrl.report import html
from jvrl.report import layout_2d
from jvrl.report import projector
from jvrl.report import run_files
from jvrl.train.metrics_writer import log_info

REPORT_FILE = "report.html"
FIGURES_SUBDIR = "figures"
PROJECTOR_RUN = os.path.join("tensorboard", "eval")
ENCODER_TITLES = {"pretrained": "pretrained", "random_init": "random init"}
NUM_RETRIEVAL_QUERIES = 6
NUM_NEIGHBOURS_SHOWN = 5
STRIP_FRAMES = 4
STRIP_HEIGHT = 48
THUMBNAIL_SIZE = 32
MAX_TIMELINES = 8
MAX_PROJECTOR_POINTS = 4096  # a sprite of 64 x 64 thumbnails of 32 pixels
MAX_CURVE_PANELS = 24


@dataclasses.dataclass(frozen=True)
class Report:
  """What `build_report` wrote.

  Attributes:
    path: WORKDIR/eval/report.html.
    figures: {file name in WORKDIR/eval/figures: the picture}.
    sections: the titles of the page's sections, in order.
    problems: one line per section that could not be drawn (empty when all were).
    projector: the projector files, when written.
  """
  path: str
  figures: dict[str, figures.Png]
  sections: list[str]
  problems: list[str]
  projector: projector.ProjectorFiles | None


class _Builder:
  """Collects sections and pictures; a section that raises becomes a problem line."""

  def __init__(self):
    self.sections: list[html.Section] = []
    self.figures: dict[str, figures.Png] = {}
    self.problems: list[str] = []

  def add(self, anchor: str, title: str, draw: Callable[[], str]) -> None:
    try:
      body = draw()
    except Exception as error:  # pylint: disable=broad-except
      problem = f"{title}: not drawn ({type(error).__name__}: {error})"
      logging.warning("Report section %s", problem, exc_info=True)
      self.problems.append(problem)
      body = html.paragraph(problem, "problem")
    self.sections.append(html.Section(anchor, title, body))

  def figure(self, name: str, png: figures.Png, alt: str) -> str:
    self.figures[name] = png
    return html.image(png, alt)


def _format(value: Any) -> str:
  if value is None:
    return "-"
  value = float(value)
  if value != value:  # NaN
    return "nan"
  return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"


def results_table(results: Mapping[str, float], columns: Sequence[tuple[str, str]],
                  with_gain: bool = False) -> tuple[list[str], list[list[str]]]:
  """(header, rows): one row per metric, one column per (title, key prefix).

  The metrics are the keys of the first column (whose prefix may be '');
  with '' as the first prefix, keys carrying another column's prefix belong
  to that column, not to the first. `with_gain` adds first - second.
  """
  first, others = columns[0][1], [prefix for _, prefix in columns[1:] if prefix]
  names = [name[len(first):] for name in results
           if name.startswith(first) and name != "step"
           and not any(name.startswith(p) for p in others if p.startswith(first) and p != first)]
  header = ["metric"] + [title for title, _ in columns] + (["gain"] if with_gain else [])
  rows = []
  for name in names:
    values = [results.get(prefix + name) for _, prefix in columns]
    row = [name] + [_format(v) for v in values]
    if with_gain:
      gain = (None if values[1] is None else float(values[0]) - float(values[1]))
      row.append("-" if gain is None else f"{gain:+.4f}")
    rows.append(row)
  return header, rows


def _class_names(outputs: saved_outputs.FeatureOutputs) -> list[str]:
  return [str(name) for name in outputs.class_names]


def _encoder_title(name: str) -> str:
  return ENCODER_TITLES.get(name, name)


def retrieval_queries(test_labels: np.ndarray, count: int = NUM_RETRIEVAL_QUERIES) -> np.ndarray:
  """Test rows shown as retrieval queries: the first video of `count` classes spread
  evenly over the classes present (the first `count` videos when unlabelled)."""
  labels = np.asarray(test_labels)
  classes = np.unique(labels[labels >= 0])
  if not classes.size:
    return np.arange(min(count, labels.size))
  picked = classes[np.unique(np.round(np.linspace(0, classes.size - 1,
                                                  min(count, classes.size))).astype(int))]
  return np.asarray([int(np.argmax(labels == c)) for c in picked])


class _Frames:
  """The frames of every video the report shows, read once per split on first use.

  `want(split, indices)` plans reads before any section is drawn, so each split
  is read in one pass; `strip` / `thumbnail` then serve them. Without a config
  the records cannot be found, and every use raises saying so.
  """

  def __init__(self, config):
    self._config = config
    self._wanted: dict[str, dict[int, int]] = {}
    self._read: dict[str, dict[int, frames_lib.VideoFrames]] = {}
    self._expected: dict[str, np.ndarray] = {}

  def want(self, split: str, indices, num_frames: int = STRIP_FRAMES,
           filenames: np.ndarray | None = None) -> None:
    """Plans reading `num_frames` frames of each video of `split` at `indices`."""
    wanted = self._wanted.setdefault(split, {})
    for index in np.ravel(np.asarray(indices, np.int64)):
      wanted[int(index)] = max(wanted.get(int(index), 0), num_frames)
    if filenames is not None:
      self._expected[split] = filenames

  def _video(self, split: str, index: int) -> frames_lib.VideoFrames:
    if self._config is None:
      raise FileNotFoundError("the run has no config.json, so its records cannot be found.")
    if split not in self._read:
      self._read[split] = frames_lib.read_frames(
          self._config.data, split, self._wanted.get(split, {}), height=STRIP_HEIGHT,
          seed=self._config.get("seed", 0))
      expected = self._expected.get(split)
      for i, video in self._read[split].items():
        if expected is not None and expected[i] and video.filename != expected[i]:
          raise ValueError(f"{split} video {i} of the records is {video.filename!r}, but the "
                           f"evaluation saw {expected[i]!r}: the records changed since.")
    return self._read[split][int(index)]

  def strip(self, split: str, index: int) -> np.ndarray:
    """uint8 [H, W, 3]: the video's frames side by side."""
    return figures.film_strip(self._video(split, index).frames)

  def thumbnail(self, split: str, index: int, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """uint8 [size, size, 3]: the centre square of the video's first frame."""
    from PIL import Image  # pylint: disable=g-import-not-at-top (matplotlib's dependency)
    frame = self._video(split, index).frames[0]
    side = min(frame.shape[:2])
    top, left = (frame.shape[0] - side) // 2, (frame.shape[1] - side) // 2
    square = Image.fromarray(frame[top:top + side, left:left + side])
    return np.asarray(square.resize((size, size), Image.Resampling.LANCZOS))


def build_report(workdir: str, config: ml_collections.ConfigDict | None = None, *,
                 layout_method: str = "auto",
                 max_points: int = layout_2d.DEFAULT_MAX_POINTS) -> Report:
  """Builds WORKDIR's report (module docstring) and returns what was written.

  Args:
    workdir: the run directory (evaluated: WORKDIR/eval/results.json exists).
    config: the run's config; None reads WORKDIR/config.json.
    layout_method: 'auto' (UMAP where installed, else t-SNE), 'tsne', 'umap', 'pca'.
    max_points: test videos laid out in the feature maps at most (the projector
      takes up to `MAX_PROJECTOR_POINTS`).

  Raises:
    FileNotFoundError: when the run was not evaluated (no results.json).
  """
  start = time.perf_counter()
  results = run_files.read_results(workdir)
  config = config if config is not None else run_files.read_config(workdir)
  seed = int(config.get("seed", 0)) if config is not None else 0
  features = saved_outputs.load_feature_outputs(workdir)
  localization = saved_outputs.load_localization_outputs(workdir)
  zero_shot = saved_outputs.load_zero_shot_examples(workdir)
  builder = _Builder()
  projector_files = []
  frames = _Frames(config)
  if features is not None:
    rows = layout_2d.subsample(len(features.test_labels), max_points, seed)
    projector_rows = layout_2d.subsample(len(features.test_labels), MAX_PROJECTOR_POINTS, seed)
    queries = retrieval_queries(features.test_labels)
    frames.want("eval_test", projector_rows, 1, features.test_filenames)  # thumbnails
    frames.want("eval_test", queries)
    frames.want("eval_train", [e.neighbours[queries, :NUM_NEIGHBOURS_SHOWN]
                               for e in features.encoders.values()],
                filenames=features.train_filenames)
  for rows_of_encoder in (zero_shot or {}).values():
    frames.want("eval_test", [i for example in rows_of_encoder for i in example["ranked"]])

  builder.add("results", "Results", lambda: _results_section(results, localization))
  if features is not None:
    builder.add("feature-map", "Feature map of the test split",
                lambda: _feature_map_section(builder, features, rows, seed, layout_method))
    builder.add("confusion", "Linear probe: confusion matrices",
                lambda: _confusion_section(builder, features))
    builder.add("retrieval", "Retrieval: test queries and their nearest train videos",
                lambda: _retrieval_section(builder, features, queries, frames))
    builder.add("projector", "Embedding projector (TensorBoard)",
                lambda: _projector_section(workdir, features, projector_rows, frames,
                                           projector_files))
  if localization:
    builder.add("timelines", "Localization timelines (test videos)",
                lambda: _timeline_section(builder, localization))
  if zero_shot:
    builder.add("zero-shot", "Zero-shot text-to-video retrieval examples",
                lambda: _zero_shot_section(builder, zero_shot, features, frames))
  builder.add("training", "Training curves", lambda: _training_section(builder, workdir))
  builder.add("run", "Command and config", lambda: _run_section(workdir, config))

  objective = config.get("objective", "?") if config is not None else "?"
  subtitle = (f"Run {os.path.abspath(workdir)}: objective {objective}, evaluated at step "
              f"{results.get('step', '?')}; jvrl {jvrl.__version__}. Rebuild with "
              f"python -m jvrl.report --workdir={workdir}")
  page = html.page(f"jvrl report: {os.path.basename(os.path.abspath(workdir))}", subtitle,
                   builder.sections)
  path = _write(workdir, page, builder.figures)
  log_info("Report: %s (%d pictures%s) in %.1f s.", path, len(builder.figures),
           f", {len(builder.problems)} section(s) not drawn" if builder.problems else "",
           time.perf_counter() - start)
  return Report(path=path, figures=dict(builder.figures),
                sections=[s.title for s in builder.sections], problems=list(builder.problems),
                projector=projector_files[0] if projector_files else None)


def _write(workdir: str, page: str, pngs: Mapping[str, figures.Png]) -> str:
  eval_dir = saved_outputs.eval_dir(workdir)
  figure_dir = os.path.join(eval_dir, FIGURES_SUBDIR)
  os.makedirs(figure_dir, exist_ok=True)
  for stale in glob.glob(os.path.join(figure_dir, "*.png")):
    if os.path.basename(stale) not in pngs:
      os.remove(stale)
  for name, png in pngs.items():
    with open(os.path.join(figure_dir, name), "wb") as f:
      f.write(png.data)
  path = os.path.join(eval_dir, REPORT_FILE)
  with open(path + ".tmp", "w", encoding="utf-8") as f:
    f.write(page)
  os.replace(path + ".tmp", path)
  return path


def _results_section(results: Mapping[str, float], localization) -> str:
  if localization:
    encoders = list(localization)
    header, rows = results_table(results, [(e, f"{e}_") for e in encoders])
    note = "One column per encoder of the comparison, evaluated identically."
  else:
    header, rows = results_table(
        results, [("pretrained", ""), ("random init", "random_init_")], with_gain=True)
    note = ("The trained encoder and a randomly initialised one, evaluated identically; "
            "gain = pretrained - random init.")
  return html.paragraph(note) + html.table(header, rows)


def _feature_map_section(builder: _Builder, features: saved_outputs.FeatureOutputs,
                         rows: np.ndarray, seed: int, method: str) -> str:
  panels, methods = [], []
  for name, encoder in features.encoders.items():
    points, used = layout_2d.layout_2d(encoder.test_features[rows], seed, method)
    panels.append((f"{_encoder_title(name)} ({used})", points))
    methods.append(used)
  image = builder.figure("feature_map.png", figures.feature_map_png(
      panels, features.test_labels[rows], _class_names(features)), "feature maps")
  return (html.paragraph(
      f"Each dot is a test video ({len(rows)} of {len(features.test_labels)}), placed by "
      f"{' / '.join(sorted(set(methods)))} of its frozen feature (L2-normalised, seed "
      f"{seed}) and coloured by its class. Separate single-colour islands mean the encoder "
      "tells the classes apart without labels; the random-init map is the baseline.") + image)


def _confusion_section(builder: _Builder, features: saved_outputs.FeatureOutputs) -> str:
  if not (features.test_labels >= 0).any():
    return html.paragraph("The test videos have no labels.")
  panels = [(_encoder_title(name), features.test_labels, encoder.probe_predictions)
            for name, encoder in features.encoders.items()]
  image = builder.figure("confusion_matrix.png",
                         figures.confusion_matrix_png(panels, _class_names(features)),
                         "confusion matrices")
  return (html.paragraph("Rows: true class; columns: the linear probe's prediction on the "
                         "test split; shade = fraction of the row, number = videos. A strong "
                         "diagonal is good; bright off-diagonal cells name the classes the "
                         "encoder confuses.") + image)


def _retrieval_section(builder: _Builder, features: saved_outputs.FeatureOutputs,
                       queries: np.ndarray, frames: _Frames) -> str:
  names = _class_names(features)
  parts = [html.paragraph(
      f"Each row: a test video (first column, {STRIP_FRAMES} frames from start to end) and "
      f"its {NUM_NEIGHBOURS_SHOWN} nearest eval-train videos by cosine similarity of the "
      "frozen features, nearest first; green frame = same class as the query, red = "
      "another class.")]
  for name, encoder in features.encoders.items():
    ranked = encoder.neighbours[queries, :NUM_NEIGHBOURS_SHOWN]
    rows = [figures.StripRow(
        query=frames.strip("eval_test", q),
        query_caption=f"query: {figures.class_name(names, int(features.test_labels[q]))}",
        results=[frames.strip("eval_train", i) for i in row],
        result_captions=[figures.class_name(names, int(features.train_labels[i])) for i in row],
        correct=[bool(features.train_labels[i] == features.test_labels[q]) for i in row])
            for q, row in zip(queries, ranked)]
    parts.append(builder.figure(f"retrieval_{name}.png", figures.retrieval_strips_png(
        rows, f"{_encoder_title(name)} encoder"), f"retrieval, {name}"))
  return "".join(parts)


def _projector_section(workdir: str, features: saved_outputs.FeatureOutputs, rows: np.ndarray,
                       frames: _Frames, written: list) -> str:
  names = _class_names(features)
  thumbnails, note = None, ""
  try:
    thumbnails = np.stack([frames.thumbnail("eval_test", i) for i in rows])
  except Exception as error:  # pylint: disable=broad-except  (a projector without thumbnails)
    logging.warning("Projector thumbnails not drawn: %s: %s", type(error).__name__, error)
    note = f" No thumbnails: {type(error).__name__}: {error}"
  files = projector.write_projector_files(
      os.path.join(workdir, PROJECTOR_RUN),
      {name: encoder.test_features[rows] for name, encoder in features.encoders.items()},
      {"class": [figures.class_name(names, int(y)) for y in features.test_labels[rows]],
       "label": [int(y) for y in features.test_labels[rows]],
       "filename": [str(f) for f in features.test_filenames[rows]]},
      thumbnails)
  written.append(files)
  return html.paragraph(
      f"The test features of each encoder ({', '.join(features.encoders)}; {len(rows)} "
      f"videos) with their classes and a thumbnail each are in {files.config_path}: run "
      f"tensorboard --logdir={workdir} and open the Projector tab (colour by 'class')." + note)


def _timeline_section(builder: _Builder, localization: Mapping[str, list]) -> str:
  encoders = list(localization)
  first = localization[encoders[0]]
  parts = [html.paragraph(
      "Per test video: ground-truth action segments shaded orange (class above); per encoder, "
      "the foreground probability of each clip (blue line, 0 at the lane's floor, 1 near its "
      "top) and its best detected segments (red bars, darker = higher score).")]
  for index, video in enumerate(first[:MAX_TIMELINES]):
    tracks = []
    for name in encoders:
      outputs = localization[name][index]
      tracks.append(figures.TimelineTrack(
          name=name, clip_centres=(outputs.clip_starts + outputs.clip_ends) / 2,
          foreground_probability=outputs.foreground_probability,
          detections=outputs.detections.segments, detection_scores=outputs.detections.scores))
    png = figures.timeline_png(
        f"{video.video_id}: {len(video.segment_labels)} annotated segment(s), "
        f"{video.duration:.1f} s", video.duration, video.segments, video.segment_labels,
        tracks)
    parts.append(builder.figure(f"timeline_{index:02d}.png", png, f"timeline {video.video_id}"))
  return "".join(parts)


def _zero_shot_section(builder: _Builder, examples: Mapping[str, list[dict]],
                       features: saved_outputs.FeatureOutputs | None, frames: _Frames) -> str:
  names = _class_names(features) if features is not None else []
  parts = [html.paragraph(
      "Each row: a caption of a test video (first column) and the test videos the model ranks "
      "first for it in the video-text space, best first; green frame = the caption's own "
      "video. 'rank' is where the own video came.")]
  for name, rows in examples.items():
    if not rows:
      continue
    strip_rows = [figures.StripRow(
        query=example["caption"],
        query_caption=f"{figures.class_name(names, example['label'])}, rank {example['rank']}",
        results=[frames.strip("eval_test", i) for i in example["ranked"]],
        result_captions=[figures.class_name(names, label) for label in example["ranked_labels"]],
        correct=[i == example["video"] for i in example["ranked"]]) for example in rows]
    parts.append(builder.figure(f"zero_shot_{name}.png", figures.retrieval_strips_png(
        strip_rows, f"{_encoder_title(name)} model: text -> video"), f"zero-shot, {name}"))
  return "".join(parts)


def _curve_order(tag: str) -> tuple[int, str]:
  return (0 if tag == "loss" else 2 if tag == "learning_rate" else 1, tag)


def _training_section(builder: _Builder, workdir: str) -> str:
  runs = run_files.training_runs(workdir)
  if not runs:
    return html.paragraph("No training events in this run directory (evaluation only).")
  curves = []
  for run, directory in runs.items():
    scalars = run_files.read_scalars(directory)
    for tag in sorted(scalars, key=_curve_order):
      if figures.is_learning_curve(tag) and len(curves) < MAX_CURVE_PANELS:
        curves.append((run, tag, *scalars[tag]))
  if not curves:
    return html.paragraph("The training events hold no scalars.")
  image = builder.figure("training_curves.png", figures.training_curves_png(curves),
                         "training curves")
  return (html.paragraph(
      "Scalars the training loop logged (TensorBoard events under tensorboard/train of "
      + ", ".join(f"'{r}'" if r else "the run" for r in runs) + "), against the step.") + image)


def _run_section(workdir: str, config) -> str:
  command = run_files.read_command(workdir)
  parts = [html.paragraph("Command (the last jvrl.main invocation in this directory):"),
           html.preformatted(command) if command else
           html.paragraph("Not recorded (command.txt is missing).")]
  if config is not None:
    parts += [html.paragraph("Config:"), html.preformatted(config.to_json(indent=2))]
  else:
    parts.append(html.paragraph("No config.json in the run directory."))
  return "".join(parts)


def build_report_or_warn(workdir: str, config: ml_collections.ConfigDict | None = None
                         ) -> Report | None:
  """`build_report`, on process 0 only; a failure is a warning naming its cause, never
  an error: the evaluation's results are already written."""
  import jax  # pylint: disable=g-import-not-at-top
  if jax.process_index() != 0:
    return None
  try:
    return build_report(workdir, config)
  except Exception as error:  # pylint: disable=broad-except
    logging.warning("The evaluation report was not built (%s: %s); the results are in %s. "
                    "Rebuild it with: python -m jvrl.report --workdir=%s",
                    type(error).__name__, error, saved_outputs.eval_dir(workdir), workdir,
                    exc_info=True)
    return None
