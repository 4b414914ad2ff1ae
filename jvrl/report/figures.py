"""The report's pictures: pure functions from arrays to PNG bytes.

Every function draws one matplotlib figure (no pyplot state, Agg renderer)
of a size it computes from its inputs and returns a `Png` that states that
size in pixels. PNGs carry no timestamp or software metadata, so equal inputs
give byte-identical files.
"""
import dataclasses
import io
import textwrap
from typing import Sequence

import numpy as np
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
CORRECT_COLOUR = "#1a9850"
WRONG_COLOUR = "#d73027"
# Curves that say how fast training ran, not how it learned.
_THROUGHPUT_TAGS = frozenset({"steps_per_sec", "clips_per_sec", "nonfinite_steps",
                              "skipped_examples"})


@dataclasses.dataclass(frozen=True)
class Png:
  """PNG bytes and their size in pixels."""
  data: bytes
  width: int
  height: int


def _figure(width_in: float, height_in: float) -> Figure:
  figure = Figure(figsize=(width_in, height_in), dpi=DPI)
  FigureCanvasAgg(figure)
  return figure


def png_size(data: bytes) -> tuple[int, int]:
  """(width, height) from a PNG's header chunk."""
  if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
    raise ValueError("not a PNG")
  return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def _to_png(figure: Figure) -> Png:
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
  data = buffer.getvalue()
  return Png(data, *png_size(data))


def image_png(image: np.ndarray) -> Png:
  """A uint8 [H, W, 3] image saved as it is (one pixel per pixel)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top (matplotlib's own dependency)
  image = np.ascontiguousarray(image, np.uint8)
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="PNG")
  return Png(buffer.getvalue(), image.shape[1], image.shape[0])


def class_name(class_names: Sequence[str], label: int) -> str:
  """The name of class `label` ('class 3' when unnamed; 'unlabelled' for -1)."""
  if label < 0:
    return "unlabelled"
  if label < len(class_names) and class_names[label]:
    return str(class_names[label])
  return f"class {label}"


def _class_colours(num_classes: int) -> np.ndarray:
  """RGBA [C, 4]: tab10 / tab20 colours, then a hue wheel for more classes."""
  from matplotlib import colormaps  # pylint: disable=g-import-not-at-top
  if num_classes <= 10:
    return colormaps["tab10"](np.arange(num_classes))
  if num_classes <= 20:
    return colormaps["tab20"](np.arange(num_classes))
  return colormaps["hsv"](np.linspace(0, 1, num_classes, endpoint=False))


def feature_map_png(panels: Sequence[tuple[str, np.ndarray]], labels: np.ndarray,
                    class_names: Sequence[str]) -> Png:
  """2-D maps of the same videos side by side, coloured by class.

  Args:
    panels: (title, points float [N, 2]) per panel, the same N videos each.
    labels: int [N] their classes (-1 drawn grey).
    class_names: names for the legend (index = class).
  """
  labels = np.asarray(labels)
  classes = np.unique(labels[labels >= 0])
  num_colours = int(classes.max()) + 1 if classes.size else 0
  colours = _class_colours(max(num_colours, 1))
  legend_rows = max(1, -(-len(classes) // 5))
  figure = _figure(4.6 * len(panels), 4.6 + 0.25 * legend_rows)
  handles = []
  for column, (title, points) in enumerate(panels):
    axes = figure.add_subplot(1, len(panels), column + 1)
    points = np.asarray(points, np.float64)
    unlabelled = labels < 0
    if unlabelled.any():
      axes.scatter(points[unlabelled, 0], points[unlabelled, 1], s=9, c="#999999", lw=0)
    for label in classes:
      chosen = labels == label
      handle = axes.scatter(points[chosen, 0], points[chosen, 1], s=12, lw=0,
                            color=colours[label], label=class_name(class_names, int(label)))
      if column == 0:
        handles.append(handle)
    axes.set_title(title, fontsize=10)
    axes.set_xticks([])
    axes.set_yticks([])
  if handles:
    figure.legend(handles=handles, loc="lower center", ncol=min(5, len(handles)), fontsize=8,
                  frameon=False, markerscale=1.5)
  figure.subplots_adjust(left=0.02, right=0.98, top=0.93,
                         bottom=0.02 + 0.25 * legend_rows / figure.get_size_inches()[1] + 0.02,
                         wspace=0.05)
  return _to_png(figure)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
  """int64 [C, C]: entry (i, j) counts videos of class i predicted as class j."""
  matrix = np.zeros((num_classes, num_classes), np.int64)
  keep = (np.asarray(labels) >= 0) & (np.asarray(predictions) >= 0)
  np.add.at(matrix, (np.asarray(labels)[keep], np.asarray(predictions)[keep]), 1)
  return matrix


def confusion_matrix_png(panels: Sequence[tuple[str, np.ndarray, np.ndarray]],
                         class_names: Sequence[str]) -> Png:
  """Row-normalised confusion matrices side by side (counts written in the cells).

  Args:
    panels: (title, labels int [N], predictions int [N]) per panel.
    class_names: tick labels (index = class).
  """
  num_classes = max([len(class_names)] + [int(max(np.max(y, initial=-1), np.max(p, initial=-1)))
                                          + 1 for _, y, p in panels] + [1])
  names = [class_name(class_names, c) for c in range(num_classes)]
  side = min(max(3.2, 0.42 * num_classes + 1.6), 14.0)
  label_space = min(0.075 * max(len(n) for n in names) + 0.3, 2.2)
  figure = _figure(label_space + len(panels) * (side + 0.3) + 0.2, side + label_space + 0.4)
  annotate = num_classes <= 20
  for column, (title, labels, predictions) in enumerate(panels):
    axes = figure.add_subplot(1, len(panels), column + 1)
    counts = confusion_matrix(labels, predictions, num_classes)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    axes.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    if annotate:
      for (row, col), count in np.ndenumerate(counts):
        if count:
          axes.text(col, row, str(count), ha="center", va="center", fontsize=7,
                    color="white" if rates[row, col] > 0.5 else "black")
    ticks = np.arange(num_classes)
    fontsize = 8 if num_classes <= 20 else 5
    axes.set_xticks(ticks, names, rotation=90, fontsize=fontsize)
    axes.set_yticks(ticks, names if column == 0 else [""] * num_classes, fontsize=fontsize)
    axes.set_xlabel("predicted", fontsize=9)
    if column == 0:
      axes.set_ylabel("true class", fontsize=9)
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    axes.set_title(f"{title} (top-1 {accuracy:.3f})", fontsize=10)
  figure.subplots_adjust(left=label_space / figure.get_size_inches()[0] + 0.02, right=0.98,
                         top=1 - 0.4 / figure.get_size_inches()[1],
                         bottom=label_space / figure.get_size_inches()[1] + 0.02, wspace=0.08)
  return _to_png(figure)


def film_strip(frames: np.ndarray, gap: int = 2) -> np.ndarray:
  """uint8 [F, H, W, 3] frames side by side with white gaps -> [H, F*W + (F-1)*gap, 3]."""
  frames = np.asarray(frames, np.uint8)
  count, height, width, _ = frames.shape
  strip = np.full((height, count * width + (count - 1) * gap, 3), 255, np.uint8)
  for i, frame in enumerate(frames):
    strip[:, i * (width + gap):i * (width + gap) + width] = frame
  return strip


@dataclasses.dataclass(frozen=True)
class StripRow:
  """One query and its ranked results.

  Attributes:
    query: uint8 [H, W, 3] image (a film strip), or a text query.
    query_caption: words under the query.
    results: uint8 [H, W, 3] images, best first.
    result_captions: words under each result.
    correct: bool per result (green frame when True, red when False).
  """
  query: np.ndarray | str
  query_caption: str
  results: Sequence[np.ndarray]
  result_captions: Sequence[str]
  correct: Sequence[bool]


_BORDER = 3    # pixels of the coloured frame around each image
_CELL_GAP = 10  # pixels between images
_CAPTION = 16   # pixels of caption under each row of images
_TITLE = 26     # pixels above the first row


def _framed(image: np.ndarray, height: int, colour: str) -> np.ndarray:
  """`image` (white-padded to `height`) in a `_BORDER`-pixel frame of `colour`."""
  from matplotlib import colors  # pylint: disable=g-import-not-at-top
  rgb = (np.asarray(colors.to_rgb(colour)) * 255).astype(np.uint8)
  padded = np.full((height, image.shape[1], 3), 255, np.uint8)
  padded[:image.shape[0]] = image
  framed = np.empty((height + 2 * _BORDER, image.shape[1] + 2 * _BORDER, 3), np.uint8)
  framed[:] = rgb
  framed[_BORDER:-_BORDER, _BORDER:-_BORDER] = padded
  return framed


def retrieval_strips_png(rows: Sequence[StripRow], title: str) -> Png:
  """A query per row, then its results framed green (correct) or red (wrong).

  Images are drawn pixel for pixel (no resampling); each caption sits under
  its image.
  """
  images = [image for row in rows for image in [row.query, *row.results]
            if not isinstance(image, str)]
  height = max(image.shape[0] for image in images)
  text_width = max(image.shape[1] for image in images)
  row_pixels = height + 2 * _BORDER + _CAPTION + 6
  layouts, width = [], 0
  for row in rows:
    query = (np.full((height, text_width, 3), 242, np.uint8) if isinstance(row.query, str)
             else row.query)
    cells = [_framed(query, height, "#333333")] + [
        _framed(image, height, CORRECT_COLOUR if correct else WRONG_COLOUR)
        for image, correct in zip(row.results, row.correct)]
    lefts = np.cumsum([0] + [cell.shape[1] + _CELL_GAP for cell in cells])[:-1]
    canvas = np.full((cells[0].shape[0], int(lefts[-1]) + cells[-1].shape[1], 3), 255, np.uint8)
    for left, cell in zip(lefts, cells):
      canvas[:, left:left + cell.shape[1]] = cell
    layouts.append((canvas, lefts, [c.shape[1] for c in cells]))
    width = max(width, canvas.shape[1])
  width_px, height_px = width + 20, _TITLE + len(rows) * row_pixels
  figure = _figure(width_px / DPI, height_px / DPI)
  figure.text(0.5, 1 - 8 / height_px, title, ha="center", va="top", fontsize=10)
  for index, (row, (canvas, lefts, widths)) in enumerate(zip(rows, layouts)):
    top = _TITLE + index * row_pixels
    axes = figure.add_axes((10 / width_px, 1 - (top + canvas.shape[0]) / height_px,
                            canvas.shape[1] / width_px, canvas.shape[0] / height_px))
    axes.imshow(canvas, interpolation="nearest", aspect="auto")
    axes.set_axis_off()
    if isinstance(row.query, str):
      axes.text(lefts[0] + widths[0] / 2, canvas.shape[0] / 2,
                "\n".join(textwrap.wrap(row.query, max(12, text_width // 6))[:4]),
                ha="center", va="center", fontsize=6.5)
    captions = [row.query_caption, *row.result_captions]
    for cell, (left, cell_width, caption) in enumerate(zip(lefts, widths, captions)):
      figure.text((10 + left + cell_width / 2) / width_px,
                  1 - (top + canvas.shape[0] + 2) / height_px, caption, ha="center", va="top",
                  fontsize=6.5, fontweight="bold" if cell == 0 else "normal")
  return _to_png(figure)


def training_curves_png(curves: Sequence[tuple[str, str, np.ndarray, np.ndarray]]) -> Png:
  """One small panel per (run, tag): the scalar against the training step.

  Args:
    curves: (run name, tag, steps int [S], values float [S]) per panel.
  """
  columns = min(3, len(curves))
  rows = -(-len(curves) // columns)
  figure = _figure(3.6 * columns, 2.5 * rows)
  for index, (run, tag, steps, values) in enumerate(curves):
    axes = figure.add_subplot(rows, columns, index + 1)
    axes.plot(steps, values, lw=1.2, color="#2166ac", marker="." if len(steps) < 30 else None)
    axes.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    axes.set_title(f"{run}: {tag}" if run else tag, fontsize=9)
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)
    if index >= len(curves) - columns:
      axes.set_xlabel("step", fontsize=8)
  figure.subplots_adjust(left=0.07, right=0.98, top=0.92, bottom=0.12 / rows + 0.06,
                         hspace=0.55, wspace=0.28)
  return _to_png(figure)


def is_learning_curve(tag: str) -> bool:
  """Whether a training scalar says how training learned (not its throughput)."""
  return tag not in _THROUGHPUT_TAGS


@dataclasses.dataclass(frozen=True)
class TimelineTrack:
  """One encoder's outputs on a video.

  Attributes:
    name: the encoder.
    clip_centres: float [N] seconds.
    foreground_probability: float [N] in [0, 1].
    detections: float [K, 2] detected (start, end) segments, best first.
    detection_scores: float [K] in [0, 1].
  """
  name: str
  clip_centres: np.ndarray
  foreground_probability: np.ndarray
  detections: np.ndarray
  detection_scores: np.ndarray


def timeline_png(title: str, duration: float, segments: np.ndarray, segment_labels: np.ndarray,
                 tracks: Sequence[TimelineTrack], class_names: Sequence[str] = (),
                 max_detections: int = 5) -> Png:
  """A video's time axis: ground-truth segments (shaded), and per encoder its
  foreground probability (line) and its best detected segments (bars whose
  opacity is the score)."""
  lanes = len(tracks)
  figure = _figure(9.0, 0.9 + 0.75 * lanes)
  axes = figure.add_subplot(1, 1, 1)
  segments = np.reshape(np.asarray(segments, np.float64), (-1, 2))
  for (start, end), label in zip(segments, np.asarray(segment_labels)):
    axes.axvspan(start, end, color="#fdae61", alpha=0.35, lw=0)
    axes.text((start + end) / 2, lanes + 0.05, class_name(class_names, int(label)),
              ha="center", va="bottom", fontsize=7)
  for lane, track in enumerate(tracks):
    base = lanes - 1 - lane
    axes.axhline(base, color="#cccccc", lw=0.6)
    axes.plot(track.clip_centres, base + 0.1 + 0.8 * np.asarray(track.foreground_probability),
              color="#2166ac", lw=1.2)
    detections = np.reshape(np.asarray(track.detections, np.float64), (-1, 2))[:max_detections]
    for (start, end), score in zip(detections, np.asarray(track.detection_scores)):
      axes.add_patch(_rectangle(start, base + 0.02, end - start, 0.1, float(score)))
  axes.set_xlim(0, max(duration, 1e-6))
  axes.set_ylim(0, lanes + 0.35)
  axes.set_yticks(np.arange(lanes) + 0.5, [t.name for t in reversed(tracks)], fontsize=8)
  axes.set_xlabel("seconds", fontsize=8)
  axes.tick_params(axis="x", labelsize=7)
  axes.set_title(title, fontsize=9)
  figure.subplots_adjust(left=0.11, right=0.99, top=1 - 0.3 / figure.get_size_inches()[1],
                         bottom=0.45 / figure.get_size_inches()[1])
  return _to_png(figure)


def _rectangle(x: float, y: float, width: float, height: float, score: float):
  from matplotlib.patches import Rectangle  # pylint: disable=g-import-not-at-top
  return Rectangle((x, y), width, height, color="#b2182b", alpha=0.25 + 0.75 * min(score, 1.0),
                   lw=0)
