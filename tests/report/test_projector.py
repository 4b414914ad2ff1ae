"""TensorBoard projector files: they parse, and rows, metadata and sprite agree."""
import os

import numpy as np
from PIL import Image

from jvrl.report import projector


def test_projector_files_parse_and_agree(tmp_path):
  rng = np.random.default_rng(0)
  rows, thumb = 11, (8, 8)
  features = {"pretrained": rng.normal(size=(rows, 6)), "random_init": rng.normal(size=(rows, 6))}
  metadata = {"class": [f"c{i % 3}" for i in range(rows)], "label": [i % 3 for i in range(rows)],
              "filename": [f"video\t{i}" for i in range(rows)]}  # tabs are cleaned
  thumbnails = rng.integers(0, 256, (rows,) + thumb + (3,), np.uint8)
  files = projector.write_projector_files(str(tmp_path), features, metadata, thumbnails)

  config = projector.read_projector_config(str(tmp_path))
  assert [e.tensor_name for e in config.embeddings] == ["pretrained", "random_init"]
  for embedding in config.embeddings:
    values = np.loadtxt(tmp_path / embedding.tensor_path, delimiter="\t")
    np.testing.assert_allclose(values, features[embedding.tensor_name], rtol=1e-5)
    assert list(embedding.tensor_shape) == [rows, 6]
    with open(tmp_path / embedding.metadata_path) as f:
      lines = f.read().splitlines()
    assert lines[0] == "class\tlabel\tfilename"
    assert len(lines) - 1 == values.shape[0]  # header + one row per feature row
    assert all(len(line.split("\t")) == 3 for line in lines)
    sprite = Image.open(tmp_path / embedding.sprite.image_path)
    grid = projector.sprite_grid(rows)
    assert grid == 4 and files.grid == grid
    assert sprite.size == (grid * thumb[1], grid * thumb[0])
    assert list(embedding.sprite.single_image_dim) == [thumb[1], thumb[0]]
    np.testing.assert_array_equal(np.asarray(sprite)[8:16, 0:8], thumbnails[4])  # row-major
    assert not os.path.isabs(embedding.tensor_path)  # TensorBoard wants paths inside run_dir
