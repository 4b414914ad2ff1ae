"""Frame decoding and resizing for clips (TF graph ops).

A video's `frames` come in one of two kinds:
- tf.string [L]: one JPEG per frame (the SequenceExample format, REFERENCE §5);
- tf.uint8 [L, H, W, 3]: frames already decoded (synthetic data, TFDS videos).
Only the frames a clip needs are decoded: indices are gathered first.
"""
from jvrl.data.tf_setup import tf

_DECODED_FRAME = tf.TensorSpec([None, None, 3], tf.uint8)


def _check_frames(frames: tf.Tensor) -> tf.Tensor:
  """`frames` as a tensor, checked to be tf.string [L] or tf.uint8 [L, H, W, 3]."""
  frames = tf.convert_to_tensor(frames)
  if frames.dtype == tf.string:
    if frames.shape.rank not in (None, 1):
      raise ValueError(f"frames of JPEG bytes must have shape [L], got {frames.shape}.")
  elif frames.dtype == tf.uint8:
    if not frames.shape.is_compatible_with([None, None, None, 3]):
      raise ValueError(f"decoded frames must have shape [L, H, W, 3], got {frames.shape}.")
  else:
    raise ValueError(
        f"frames must be tf.string (JPEG bytes) or tf.uint8 (decoded), got {frames.dtype}.")
  return frames


def _check_indices(indices: tf.Tensor) -> tf.Tensor:
  """`indices` as an int tensor of rank 1."""
  indices = tf.convert_to_tensor(indices)
  if indices.dtype not in (tf.int32, tf.int64):
    raise ValueError(f"indices must be int32 or int64, got {indices.dtype}.")
  if indices.shape.rank not in (None, 1):
    raise ValueError(f"indices must have shape [N], got {indices.shape}.")
  return indices


def frame_size(frames: tf.Tensor) -> tf.Tensor:
  """Height and width of a video's frames, int32 [2], without decoding pixels.

  For JPEG bytes this reads the first frame's header (all frames of a video
  share one size), so a crop window can be chosen before decoding.
  """
  frames = _check_frames(frames)
  if frames.dtype == tf.string:
    return tf.io.extract_jpeg_shape(frames[0], output_type=tf.int32)[:2]
  return tf.shape(frames, out_type=tf.int32)[1:3]


def decode_frames(frames: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
  """The frames at `indices`, decoded: tf.uint8 [N, H, W, 3], N = len(indices).

  Args:
    frames: tf.string [L] of JPEG bytes, or tf.uint8 [L, H, W, 3].
    indices: int32/int64 [N], values in [0, L); repeats and any order allowed.

  JPEG frames are gathered first and only those N are decoded (a repeated
  index is decoded once per occurrence), with 3 channels.
  """
  frames = _check_frames(frames)
  indices = _check_indices(indices)
  gathered = tf.gather(frames, indices)
  if frames.dtype == tf.uint8:
    return gathered
  return tf.map_fn(
      lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3),
      gathered, fn_output_signature=_DECODED_FRAME)


def decode_frames_and_crop(
    frames: tf.Tensor, indices: tf.Tensor, crop_window: tf.Tensor
) -> tf.Tensor:
  """The frames at `indices`, decoded and cropped to ONE window: uint8 [N, h, w, 3].

  Args:
    frames: tf.string [L] of JPEG bytes, or tf.uint8 [L, H, W, 3].
    indices: int32/int64 [N], values in [0, L).
    crop_window: int32 [4] = [offset_y, offset_x, h, w], inside the frame
      (the box format of `augment.sample_random_resized_crop_box`).

  JPEG frames are decoded with `tf.image.decode_and_crop_jpeg`, which decodes
  only the window's region; decoded frames are gathered, then sliced. The
  result equals `decode_frames` followed by slicing, except that for
  chroma-subsampled JPEGs the window's 1-pixel rim may differ by a few levels
  (colour is upsampled without the pixels outside the window).
  """
  frames = _check_frames(frames)
  indices = _check_indices(indices)
  crop_window = tf.cast(tf.convert_to_tensor(crop_window), tf.int32)
  if not crop_window.shape.is_compatible_with([4]):
    raise ValueError(f"crop_window must have shape [4], got {crop_window.shape}.")
  gathered = tf.gather(frames, indices)
  if frames.dtype == tf.string:
    return tf.map_fn(
        lambda jpeg: tf.image.decode_and_crop_jpeg(jpeg, crop_window, channels=3),
        gathered, fn_output_signature=_DECODED_FRAME)
  offset_y, offset_x, height, width = tf.unstack(crop_window)
  size = tf.shape(frames, out_type=tf.int32)[1:3]
  in_frame = tf.debugging.assert_equal(
      tf.reduce_all([offset_y >= 0, offset_x >= 0, height >= 1, width >= 1,
                     offset_y + height <= size[0], offset_x + width <= size[1]]),
      True, message="crop_window must lie inside the frame")
  with tf.control_dependencies([in_frame]):
    return gathered[:, offset_y:offset_y + height, offset_x:offset_x + width, :]


def resize_short_side(clip: tf.Tensor, size: int, antialias: bool = False) -> tf.Tensor:
  """Resizes every frame so its shorter side is `size`, keeping the aspect ratio.

  Args:
    clip: uint8 or float [T, H, W, C].
    size: target length of the shorter side (> 0).
    antialias: passed to `tf.image.resize` (helps when shrinking a lot).

  Returns:
    float32 [T, H', W', C] with min(H', W') = size and the longer side
    round(long * size / short); bilinear, one op for all frames; values keep
    the input's range (0..255 for uint8 input).
  """
  if not isinstance(size, int) or size < 1:
    raise ValueError(f"size must be a Python int >= 1, got {size!r}.")
  clip = tf.convert_to_tensor(clip)
  if clip.shape.rank not in (None, 4):
    raise ValueError(f"clip must have shape [T, H, W, C], got {clip.shape}.")
  hw = tf.shape(clip, out_type=tf.int32)[1:3]
  short = tf.reduce_min(hw)
  # round(side * size / short), half up, in integer arithmetic.
  new_hw = (2 * hw * size + short) // (2 * short)
  resized = tf.image.resize(
      tf.cast(clip, tf.float32), new_hw, method="bilinear", antialias=antialias)
  return resized
