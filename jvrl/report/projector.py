"""Frozen features in TensorBoard's embedding projector format.

`write_projector_files(run_dir, ...)` writes, into a TensorBoard run directory
(one that holds event files, e.g. WORKDIR/tensorboard/eval):

  projector_config.pbtxt          one embedding per encoder, all sharing
  projector/<encoder>.tsv         the metadata and the sprite;
  projector/metadata.tsv          a header row, then one row per feature row;
  projector/sprite.png            the thumbnails in a square grid, row-major.

`tensorboard --logdir=WORKDIR` then shows each encoder's test features in the
Projector tab, coloured or labelled by class, with thumbnails. Paths in the
config are relative to it (TensorBoard refuses paths outside its folder).
"""
import dataclasses
import math
import os
from typing import Mapping, Sequence

import numpy as np

CONFIG_FILE = "projector_config.pbtxt"
SUBDIR = "projector"
METADATA_FILE = "metadata.tsv"
SPRITE_FILE = "sprite.png"
MAX_SPRITE_SIDE = 8192  # TensorBoard's limit on the sprite's width and height


@dataclasses.dataclass(frozen=True)
class ProjectorFiles:
  """Where the projector files went and the sprite's layout."""
  config_path: str
  tensor_paths: dict[str, str]
  metadata_path: str
  sprite_path: str | None
  thumbnail_size: tuple[int, int]
  grid: int


def sprite_grid(num_images: int) -> int:
  """Thumbnails per sprite row (and column): ceil(sqrt(N))."""
  return max(1, math.ceil(math.sqrt(num_images)))


def sprite_image(thumbnails: np.ndarray) -> np.ndarray:
  """uint8 [N, h, w, 3] -> the sprite uint8 [g*h, g*w, 3], g = `sprite_grid(N)`,
  thumbnail i at row i // g, column i % g; empty cells white."""
  count, height, width, _ = thumbnails.shape
  grid = sprite_grid(count)
  sprite = np.full((grid * height, grid * width, 3), 255, np.uint8)
  for index, thumbnail in enumerate(thumbnails):
    row, column = divmod(index, grid)
    sprite[row * height:(row + 1) * height, column * width:(column + 1) * width] = thumbnail
  return sprite


def _clean(text: str) -> str:
  return str(text).replace("\t", " ").replace("\n", " ") or "-"


def write_projector_files(
    run_dir: str, features: Mapping[str, np.ndarray], metadata: Mapping[str, Sequence],
    thumbnails: np.ndarray | None = None,
) -> ProjectorFiles:
  """Writes the projector files of `features` into `run_dir` (see the module docstring).

  Args:
    run_dir: a TensorBoard run directory.
    features: {embedding name: float [N, D]}, the same N rows each.
    metadata: {column: N values} (e.g. 'class', 'label', 'filename').
    thumbnails: uint8 [N, h, w, 3], one per row, or None for no sprite.
  """
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.projector import (  # pylint: disable=g-import-not-at-top
      projector_config_pb2)
  sizes = {np.asarray(x).shape[0] for x in features.values()}
  sizes |= {len(values) for values in metadata.values()}
  if thumbnails is not None:
    sizes.add(thumbnails.shape[0])
  if len(sizes) != 1:
    raise ValueError(f"features, metadata and thumbnails must have the same rows, got {sizes}.")
  (num_rows,) = sizes
  directory = os.path.join(run_dir, SUBDIR)
  os.makedirs(directory, exist_ok=True)
  config = projector_config_pb2.ProjectorConfig()

  columns = list(metadata)
  metadata_path = os.path.join(directory, METADATA_FILE)
  with open(metadata_path, "w") as f:
    if len(columns) > 1:  # a header row only with several columns (TensorBoard's rule)
      f.write("\t".join(columns) + "\n")
    for row in range(num_rows):
      f.write("\t".join(_clean(metadata[c][row]) for c in columns) + "\n")

  sprite_path, grid, thumbnail_size = None, 0, (0, 0)
  if thumbnails is not None and num_rows:
    grid = sprite_grid(num_rows)
    thumbnail_size = (int(thumbnails.shape[1]), int(thumbnails.shape[2]))
    if grid * max(thumbnail_size) > MAX_SPRITE_SIDE:
      raise ValueError(f"{num_rows} thumbnails of {thumbnail_size} make a sprite wider than "
                       f"{MAX_SPRITE_SIDE} pixels: pass fewer rows or smaller thumbnails.")
    sprite_path = os.path.join(directory, SPRITE_FILE)
    Image.fromarray(sprite_image(np.asarray(thumbnails, np.uint8))).save(sprite_path)

  tensor_paths = {}
  for name, values in features.items():
    values = np.asarray(values, np.float32)
    tensor_paths[name] = os.path.join(directory, f"{name}.tsv")
    np.savetxt(tensor_paths[name], values, fmt="%.6g", delimiter="\t")
    embedding = config.embeddings.add()
    embedding.tensor_name = name
    embedding.tensor_path = f"{SUBDIR}/{name}.tsv"
    embedding.tensor_shape.extend(values.shape)
    embedding.metadata_path = f"{SUBDIR}/{METADATA_FILE}"
    if sprite_path:
      embedding.sprite.image_path = f"{SUBDIR}/{SPRITE_FILE}"
      embedding.sprite.single_image_dim.extend([thumbnail_size[1], thumbnail_size[0]])
  config_path = os.path.join(run_dir, CONFIG_FILE)
  with open(config_path, "w") as f:
    f.write(text_format.MessageToString(config))
  return ProjectorFiles(config_path=config_path, tensor_paths=tensor_paths,
                        metadata_path=metadata_path, sprite_path=sprite_path,
                        thumbnail_size=thumbnail_size, grid=grid)


def read_projector_config(run_dir: str):
  """The `ProjectorConfig` message in `run_dir` (for checks and tests)."""
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.projector import (  # pylint: disable=g-import-not-at-top
      projector_config_pb2)
  with open(os.path.join(run_dir, CONFIG_FILE)) as f:
    return text_format.Parse(f.read(), projector_config_pb2.ProjectorConfig())
