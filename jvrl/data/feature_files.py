"""Per-video feature files: one [num_clips, D] array per video, keyed by video name.

The format TSP's released features use (and what localization models such as
G-TAD, BMN or BMT read): an HDF5 file whose datasets are named after the
videos. Written by `jvrl.extract_features` and by TSP's global video
features (GVFs: one [D] vector per video). Two layouts:

* 'h5': one HDF5 file; each video is a dataset named `video_key(filename)`
  with attributes (clip start times, fps, ...) and `complete=1`, written last.
* 'npy': a directory with one `<key>.npy` per video (written to a temporary
  name, then renamed) and `manifest.json` (per-video attributes), rewritten
  atomically after every video.

Both are resumable: `completed()` lists the videos already written whole,
and a video half-written when a run died is written again.
"""
import json
import os
from typing import Any, Iterable, Mapping

import numpy as np

FORMATS = ("h5", "npy")
MANIFEST = "manifest.json"


def video_key(filename: str | bytes) -> str:
  """The name a video's features are stored under: its file name without folders or
  extension ('ucf/v_Run_g01.avi' -> 'v_Run_g01'), as TSP's released feature files."""
  if isinstance(filename, bytes):
    filename = filename.decode("utf-8")
  key = os.path.splitext(os.path.basename(filename.rstrip("/")))[0]
  if not key:
    raise ValueError(f"Cannot name the features of a video with filename {filename!r}; "
                     "the records need video/filename.")
  return key


def _jsonable(value: Any) -> Any:
  if isinstance(value, np.ndarray):
    return value.tolist()
  if isinstance(value, np.generic):
    return value.item()
  return value


class FeatureWriter:
  """Writes per-video arrays in one of `FORMATS`; resumable (see the module docstring)."""

  def __init__(self, path: str, file_format: str = "h5"):
    if file_format not in FORMATS:
      raise ValueError(f"Unknown feature file format {file_format!r}; known: {FORMATS}.")
    self.path, self.format = path, file_format
    if file_format == "h5":
      import h5py  # pylint: disable=g-import-not-at-top
      parent = os.path.dirname(os.path.abspath(path))
      os.makedirs(parent, exist_ok=True)
      self._h5 = h5py.File(path, "a")
      for key in [k for k in self._h5 if not self._h5[k].attrs.get("complete", 0)]:
        del self._h5[key]  # half-written by a run that died: write it again
    else:
      os.makedirs(path, exist_ok=True)
      manifest_path = os.path.join(path, MANIFEST)
      self._manifest = {}
      if os.path.isfile(manifest_path):
        with open(manifest_path) as f:
          self._manifest = json.load(f)["videos"]

  def completed(self) -> set[str]:
    """Keys of the videos already written whole."""
    if self.format == "h5":
      return set(self._h5.keys())
    return set(self._manifest)

  def write(self, key: str, array: np.ndarray, attributes: Mapping[str, Any] = ()) -> None:
    """Stores `array` under `key` with `attributes` (numbers, strings or 1-D arrays)."""
    array = np.asarray(array)
    attributes = dict(attributes)
    if self.format == "h5":
      if key in self._h5:
        del self._h5[key]
      dataset = self._h5.create_dataset(key, data=array)
      for name, value in attributes.items():
        dataset.attrs[name] = value
      dataset.attrs["complete"] = 1
      self._h5.flush()
      return
    final = os.path.join(self.path, f"{key}.npy")
    temporary = final + ".incomplete.npy"
    np.save(temporary, array)
    os.replace(temporary, final)
    self._manifest[key] = {name: _jsonable(value) for name, value in attributes.items()}
    self._write_manifest()

  def _write_manifest(self) -> None:
    manifest_path = os.path.join(self.path, MANIFEST)
    with open(manifest_path + ".tmp", "w") as f:
      json.dump({"format": "jvrl per-video features, one <key>.npy per video",
                 "videos": self._manifest}, f, indent=1, sort_keys=True)
    os.replace(manifest_path + ".tmp", manifest_path)

  def close(self) -> None:
    if self.format == "h5":
      self._h5.close()

  def __enter__(self) -> "FeatureWriter":
    return self

  def __exit__(self, *unused) -> None:
    self.close()


def read_features(path: str, keys: Iterable[str] | None = None) -> dict[str, np.ndarray]:
  """Video key -> array from an 'h5' file (jvrl's, or TSP's released ones) or an 'npy'
  directory; only `keys` when given (a missing key is a KeyError naming the file)."""
  if os.path.isdir(path):
    with open(os.path.join(path, MANIFEST)) as f:
      available = json.load(f)["videos"]
    wanted = list(available) if keys is None else list(keys)
    missing = [k for k in wanted if k not in available]
    if missing:
      raise KeyError(f"{path} has no features for {missing[:5]} ({len(missing)} missing).")
    return {k: np.load(os.path.join(path, f"{k}.npy")) for k in wanted}
  import h5py  # pylint: disable=g-import-not-at-top
  with h5py.File(path, "r") as h5:
    wanted = list(h5.keys()) if keys is None else list(keys)
    missing = [k for k in wanted if k not in h5]
    if missing:
      raise KeyError(f"{path} has no features for {missing[:5]} ({len(missing)} missing).")
    return {k: np.asarray(h5[k]) for k in wanted}
