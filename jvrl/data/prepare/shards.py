"""Which video goes to which shard, and resumable, atomic shard writing.

Plan: within a split, entries are ordered by a hash of (split, file, start,
end) -- a fixed pseudo-random order, so no shard holds one class only and the
order does not depend on how the input was listed -- and shard k of N gets the
k-th contiguous block. Shards are named like every jvrl record file
(`records.shard_path`): `OUT/{split}-{k:05d}-of-{N:05d}.tfrecord`.

Writing: a shard is written to `OUT/.parts/{name}.incomplete`, renamed to its
final name when all its videos are in, and THEN its sidecar
`OUT/.parts/{name}.json` (its manifest entries, problems and byte size) is
written, atomically. A shard is complete when its sidecar exists and its
record file has the recorded size; anything else is redone from scratch.
"""
import dataclasses
import hashlib
import json
import math
import os
from typing import Any, Iterable, Mapping

from jvrl.data import records
from jvrl.data.prepare import inputs
from jvrl.data.prepare import video_record
from jvrl.data.tf_setup import tf

PARTS_DIR = ".parts"
VIDEOS_PER_SHARD = 100  # Default shard size when the number of shards is not given.
_INCOMPLETE = ".incomplete"


@dataclasses.dataclass(frozen=True)
class ShardSpec:
  """One output shard and the videos planned for it, in write order."""
  split: str
  index: int
  num_shards: int
  entries: tuple[inputs.VideoEntry, ...]

  @property
  def name(self) -> str:
    """File name, e.g. 'train-00003-of-00008.tfrecord'."""
    return os.path.basename(records.shard_path("", self.split, self.index, self.num_shards))


def default_num_shards(num_videos: int) -> int:
  """One shard per `VIDEOS_PER_SHARD` videos, at least one."""
  return max(1, math.ceil(num_videos / VIDEOS_PER_SHARD))


def _order_key(entry: inputs.VideoEntry) -> str:
  text = "|".join(str(part) for part in entry.key)
  return hashlib.sha1(text.encode("utf-8")).hexdigest()


def plan_shards(entries: Iterable[inputs.VideoEntry],
                num_shards: Mapping[str, int]) -> list[ShardSpec]:
  """Assigns every entry to one shard (see the module docstring).

  Args:
    entries: the videos to write (distinct `key`s).
    num_shards: split -> number of shards, for every split of `entries`.

  Returns:
    The shards of every split (splits sorted by name, shards by index).
  """
  by_split: dict[str, list[inputs.VideoEntry]] = {}
  for entry in entries:
    by_split.setdefault(entry.split, []).append(entry)
  plan = []
  for split in sorted(by_split):
    ordered = sorted(by_split[split], key=lambda e: (_order_key(e), e.key))
    count = num_shards[split]
    if count < 1:
      raise ValueError(f"num_shards must be >= 1, got {count} for split {split!r}.")
    for k in range(count):
      block = ordered[k * len(ordered) // count:(k + 1) * len(ordered) // count]
      plan.append(ShardSpec(split, k, count, tuple(block)))
  return plan


def parts_dir(output_dir: str) -> str:
  """`OUT/.parts`, the working directory of a preparation."""
  return os.path.join(output_dir, PARTS_DIR)


def record_path(output_dir: str, spec: ShardSpec) -> str:
  """Final path of the shard's records."""
  return os.path.join(output_dir, spec.name)


def sidecar_path(output_dir: str, spec: ShardSpec) -> str:
  """Path of the shard's completion sidecar."""
  return os.path.join(parts_dir(output_dir), f"{spec.name}.json")


def write_json(path: str, content: Any) -> None:
  """Writes JSON atomically (a temporary file, then a rename)."""
  temp = f"{path}{_INCOMPLETE}"
  with open(temp, "w", encoding="utf-8") as f:
    json.dump(content, f, indent=1, ensure_ascii=False)
    f.write("\n")
  os.replace(temp, path)


def read_sidecar(output_dir: str, spec: ShardSpec) -> dict[str, Any]:
  """The sidecar of a complete shard: 'videos' (manifest entries), 'problems', 'bytes'."""
  with open(sidecar_path(output_dir, spec), encoding="utf-8") as f:
    return json.load(f)


def is_complete(output_dir: str, spec: ShardSpec) -> bool:
  """True when the shard was finished by `ShardWriter.finish` and is intact."""
  try:
    sidecar = read_sidecar(output_dir, spec)
    return os.path.getsize(record_path(output_dir, spec)) == sidecar["bytes"]
  except (OSError, ValueError, KeyError):
    return False


class ShardWriter:
  """Writes one shard's records, then publishes it atomically with its sidecar."""

  def __init__(self, output_dir: str, spec: ShardSpec):
    """Starts (or restarts, discarding any earlier attempt) shard `spec`."""
    self._output_dir = output_dir
    self._spec = spec
    os.makedirs(parts_dir(output_dir), exist_ok=True)
    self._temp_path = os.path.join(parts_dir(output_dir), spec.name + _INCOMPLETE)
    self._writer = tf.io.TFRecordWriter(self._temp_path)
    self._videos: list[dict[str, Any]] = []
    self._problems: list[dict[str, Any]] = []

  def add(self, result: video_record.VideoResult) -> None:
    """Adds one video's outcome: its record (if any) and its problems."""
    if result.record is not None:
      self._writer.write(result.record)
      self._videos.append({**result.info, "shard": self._spec.name})
    self._problems.extend(p.to_dict() for p in result.problems)

  def finish(self) -> dict[str, Any]:
    """Closes, renames the records into place, writes the sidecar; returns it."""
    self._writer.close()
    final = record_path(self._output_dir, self._spec)
    os.replace(self._temp_path, final)
    sidecar = {"shard": self._spec.name, "split": self._spec.split,
               "bytes": os.path.getsize(final), "videos": self._videos,
               "problems": self._problems}
    write_json(sidecar_path(self._output_dir, self._spec), sidecar)
    return sidecar

  def abort(self) -> None:
    """Closes and deletes the unfinished shard."""
    self._writer.close()
    if os.path.exists(self._temp_path):
      os.remove(self._temp_path)
