"""Host batches become global arrays split over the mesh's data axis."""
import numpy as np
import pytest

from jvrl.data import device_batches
from jvrl.train import sharding


def test_make_global_batch_shards_leading_axis():
  mesh = sharding.make_mesh({"data": 8})
  batch = {"video": np.arange(16 * 2, dtype=np.uint8).reshape(16, 2), "label": np.arange(16)}
  out = device_batches.make_global_batch(batch, mesh)
  assert out["video"].shape == (16, 2)
  assert len(out["video"].addressable_shards) == 8
  assert out["video"].addressable_shards[0].data.shape == (2, 2)
  np.testing.assert_array_equal(np.asarray(out["label"]), batch["label"])


def test_indivisible_batch_is_a_clear_error():
  mesh = sharding.make_mesh({"data": 8})
  with pytest.raises(ValueError, match="not divisible"):
    device_batches.make_global_batch({"x": np.zeros((6, 2))}, mesh)


def test_prefetch_to_mesh_yields_every_batch_in_order():
  mesh = sharding.make_mesh({"data": 8})
  batches = [{"x": np.full((8, 1), i)} for i in range(5)]
  out = list(device_batches.prefetch_to_mesh(iter(batches), mesh, size=2))
  assert [int(np.asarray(b["x"])[0, 0]) for b in out] == list(range(5))
