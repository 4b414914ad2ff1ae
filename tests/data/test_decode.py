"""Tests for jvrl.data.decode: gathering/decoding frames and resizing clips."""
import numpy as np
import pytest

from jvrl.data import decode
from jvrl.data.tf_setup import tf

NUM_FRAMES, HEIGHT, WIDTH = 6, 24, 40


def _video() -> np.ndarray:
  """uint8 [L, H, W, 3]: smooth frames, each with its own brightness."""
  rng = np.random.default_rng(0)
  base = rng.integers(0, 120, size=(HEIGHT // 8, WIDTH // 8, 3)).repeat(8, 0).repeat(8, 1)
  return np.stack([base + 20 * i for i in range(NUM_FRAMES)]).astype(np.uint8)


def _jpegs(video: np.ndarray) -> tf.Tensor:
  return tf.stack([tf.io.encode_jpeg(frame, quality=95) for frame in video])


def _decode_each(jpegs: tf.Tensor) -> np.ndarray:
  return np.stack([tf.io.decode_jpeg(jpeg, channels=3).numpy() for jpeg in jpegs])


@pytest.mark.parametrize("indices", [[0, 1, 2], [5, 0, 3, 3, 1], [4], [2, 2, 2, 2]])
def test_decode_frames_both_kinds(indices):
  video = _video()
  jpegs = _jpegs(video)
  decoded = decode.decode_frames(jpegs, tf.constant(indices))
  assert decoded.dtype == tf.uint8 and decoded.shape == (len(indices), HEIGHT, WIDTH, 3)
  np.testing.assert_array_equal(decoded, _decode_each(jpegs)[indices])
  # JPEG is lossy, but each output is closest to the frame it was asked for.
  distances = np.abs(decoded.numpy()[:, None].astype(int) - video[None].astype(int))
  np.testing.assert_array_equal(distances.mean(axis=(2, 3, 4)).argmin(axis=1), indices)
  gathered = decode.decode_frames(tf.constant(video), tf.constant(indices, tf.int64))
  np.testing.assert_array_equal(gathered, video[indices])


def test_decode_frames_decodes_only_gathered_frames():
  jpegs = _jpegs(_video()).numpy().tolist()
  jpegs[1] = b"not a jpeg"
  frames = tf.constant(jpegs)
  assert decode.decode_frames(frames, tf.constant([0, 2, 5])).shape[0] == 3
  with pytest.raises(tf.errors.InvalidArgumentError):
    decode.decode_frames(frames, tf.constant([0, 1]))


def test_decode_frames_grayscale_jpeg_gives_three_channels():
  gray = tf.io.encode_jpeg(np.full((8, 8, 1), 100, np.uint8))
  decoded = decode.decode_frames(tf.stack([gray, gray]), tf.constant([1]))
  assert decoded.shape == (1, 8, 8, 3)
  assert np.all(np.abs(decoded.numpy().astype(int) - 100) <= 1)


def test_decode_frames_in_dataset_map():
  jpegs = _jpegs(_video())
  dataset = tf.data.Dataset.from_tensors(jpegs).map(
      lambda frames: decode.decode_frames(frames, tf.constant([3, 1])))
  (decoded,) = list(dataset.as_numpy_iterator())
  np.testing.assert_array_equal(decoded, _decode_each(jpegs)[[3, 1]])


@pytest.mark.parametrize("window", [[0, 0, HEIGHT, WIDTH], [8, 16, 8, 16], [3, 5, 17, 29]])
def test_decode_frames_and_crop_matches_decode_then_slice(window):
  video = _video()
  jpegs = _jpegs(video)
  indices = tf.constant([4, 0, 4])
  y, x, h, w = window
  cropped = decode.decode_frames_and_crop(jpegs, indices, tf.constant(window))
  full = decode.decode_frames(jpegs, indices).numpy()
  # Partial decoding upsamples chroma without the pixels outside the window:
  # only the window's 1-pixel rim may differ.
  assert cropped.shape == (3, h, w, 3)
  difference = np.abs(cropped.numpy().astype(int) - full[:, y:y + h, x:x + w])
  assert difference[:, 1:-1, 1:-1].max() == 0 and difference.mean() < 2
  cropped_uint8 = decode.decode_frames_and_crop(tf.constant(video), indices, window)
  np.testing.assert_array_equal(cropped_uint8, video[[4, 0, 4], y:y + h, x:x + w])


def test_decode_frames_and_crop_rejects_window_outside_frame():
  with pytest.raises(tf.errors.InvalidArgumentError, match="inside the frame"):
    decode.decode_frames_and_crop(tf.constant(_video()), tf.constant([0]), [20, 0, 8, 8])


def test_frame_size_both_kinds():
  video = _video()
  np.testing.assert_array_equal(decode.frame_size(_jpegs(video)), [HEIGHT, WIDTH])
  np.testing.assert_array_equal(decode.frame_size(tf.constant(video)), [HEIGHT, WIDTH])


@pytest.mark.parametrize("height,width,size,expected", [
    (24, 40, 12, (12, 20)), (40, 24, 12, (20, 12)), (30, 30, 45, (45, 45)),
    (25, 39, 10, (10, 16)), (24, 40, 24, (24, 40)),
])
def test_resize_short_side_shapes(height, width, size, expected):
  clip = tf.zeros([3, height, width, 3], tf.uint8)
  resized = decode.resize_short_side(clip, size)
  assert resized.dtype == tf.float32
  assert resized.shape == (3,) + expected + (3,)


def test_resize_short_side_values():
  video = _video()
  resized = decode.resize_short_side(tf.constant(video), 12).numpy()
  # One op for all frames = the same as each frame on its own, range kept.
  for t in (0, 5):
    np.testing.assert_allclose(
        resized[t], tf.image.resize(video[t].astype(np.float32), [12, 20]).numpy(), atol=1e-4)
  assert resized.min() >= 0 and resized.max() <= 255
  constant = decode.resize_short_side(tf.fill([2, 9, 13, 3], 0.25), 5).numpy()
  np.testing.assert_allclose(constant, 0.25, atol=1e-6)
  # Same size: bilinear resize is the identity.
  np.testing.assert_allclose(decode.resize_short_side(video, HEIGHT), video, atol=1e-4)


def test_bad_arguments_raise():
  with pytest.raises(ValueError, match="frames"):
    decode.decode_frames(tf.zeros([4, 8, 8, 3], tf.float32), tf.constant([0]))
  with pytest.raises(ValueError, match="frames"):
    decode.decode_frames(tf.zeros([4, 8, 8], tf.uint8), tf.constant([0]))
  with pytest.raises(ValueError, match="indices"):
    decode.decode_frames(tf.zeros([4, 8, 8, 3], tf.uint8), tf.constant([[0]]))
  with pytest.raises(ValueError, match="indices"):
    decode.decode_frames(tf.zeros([4, 8, 8, 3], tf.uint8), tf.constant([0.0]))
  with pytest.raises(ValueError, match="crop_window"):
    decode.decode_frames_and_crop(tf.zeros([4, 8, 8, 3], tf.uint8), [0], [0, 0, 4])
  with pytest.raises(ValueError, match="size"):
    decode.resize_short_side(tf.zeros([1, 8, 8, 3]), 0)
  with pytest.raises(ValueError, match="clip"):
    decode.resize_short_side(tf.zeros([8, 8, 3]), 4)
