"""One label map for every split: class name -> index, and `labels.txt`.

The map is built once from the labels of ALL listed videos (every split,
found or missing), so the same name has the same index in train and test.
Names are sorted (Python string order) unless the input has an official order
(UCF101's classInd.txt) or a label file from an earlier run is given.
`labels.txt` holds one name per line; line i (from 0) is index i.
"""
import os
from typing import Iterable, Optional, Sequence

LABELS_FILE = "labels.txt"


def _check_name(name: str) -> str:
  if not name.strip() or "\n" in name or "\r" in name or name != name.strip():
    raise ValueError(f"Label names must be non-empty single lines without surrounding "
                     f"spaces, got {name!r}.")
  return name


def build_label_map(names: Iterable[str],
                    order: Optional[Sequence[str]] = None) -> list[str]:
  """The class names in index order.

  Args:
    names: every video's label ('' = unlabelled, ignored); repeats allowed.
    order: a fixed class order (official list or an earlier labels.txt);
      every non-empty name must be in it. None = sorted names.

  Returns:
    The list whose position i is the name of class i.

  Raises:
    ValueError: a name is not in `order`, or `order` repeats a name.
  """
  used = {_check_name(n) for n in names if n}
  if order is None:
    return sorted(used)
  order = [_check_name(n) for n in order]
  if len(set(order)) != len(order):
    raise ValueError("The label order names a class twice.")
  unknown = sorted(used.difference(order))
  if unknown:
    raise ValueError(f"{len(unknown)} label(s) not in the given label list: "
                     f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}.")
  return list(order)


def label_index(labels: Sequence[str]) -> dict[str, int]:
  """Name -> index of a label list."""
  return {name: i for i, name in enumerate(labels)}


def write_labels(path: str, labels: Sequence[str]) -> None:
  """Writes `labels` one per line (atomically: a temporary file, then a rename)."""
  temp = f"{path}.tmp"
  with open(temp, "w", encoding="utf-8") as f:
    f.writelines(f"{name}\n" for name in labels)
  os.replace(temp, path)


def read_labels(path: str) -> list[str]:
  """Reads a labels.txt (one name per line; blank lines are ignored)."""
  with open(path, encoding="utf-8") as f:
    return [_check_name(line.strip()) for line in f if line.strip()]
