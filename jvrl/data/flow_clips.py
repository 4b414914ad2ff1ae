"""Optical-flow clips in tf.data: decoding and flow-aware spatial augmentation.

A record's flow (`jvrl.data.records`: 'flow', tf.string [F, 2], the (u, v)
grayscale JPEGs of the flow from frame t to t+1, F = L - 1) is read at the
SAME frame indices as the RGB clip it pairs with; the last frame, which has
no successor, reads the flow of the frame before it. Clips are uint8
[T, H, W, 2] in the records' quantisation (`flow_quantization`: 0..255 for
-bound..+bound pixels), the form batches travel to the devices in; models
read them with `jvrl.models.inputs.to_unit_float` like RGB.

Spatial augmentation is the RGB clip's geometry applied to the flow field:
the same crop box and resize, with u scaled by the horizontal and v by the
vertical resize factor (a displacement grows with the picture), and a
horizontal flip negates u (what moved right moves left in the mirror image).
Colour augmentation does not apply to flow.
"""
from typing import Any, Mapping

from jvrl.data import augment
from jvrl.data import flow_quantization
from jvrl.data import sampling
from jvrl.data.tf_setup import tf

_FLOW_COMPONENT = tf.TensorSpec([None, None, 1], tf.uint8)
# Starts with `pipeline.INVALID_INPUT_MESSAGE` (not imported: pipeline imports this
# module), so a training run stops with this one line, not a TensorFlow traceback.
NO_FLOW_MESSAGE = ("Invalid training input: a record holds no optical flow ('flow/encoded'): "
                   "prepare the videos with data/prepare_videos.py --flow=tvl1|farneback, or "
                   "set config.data.synthetic.flow=True for the built-in videos")


def has_flow(example: Mapping[str, Any]) -> tf.Tensor:
  """bool []: the parsed example holds optical flow."""
  return tf.shape(example["flow"])[0] > 0


def decode_flow_frames(flow: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
  """The flow at frame `indices`, decoded: uint8 [N, H, W, 2].

  Args:
    flow: tf.string [F, 2], (u, v) JPEGs per frame (F >= 1; checked at run time).
    indices: int [N] frame indices in [0, F] (F = the last frame: it reads
      the flow of frame F - 1).
  """
  flow = tf.convert_to_tensor(flow)
  count = tf.shape(flow)[0]
  present = tf.debugging.Assert(count > 0, [NO_FLOW_MESSAGE])
  with tf.control_dependencies([present]):
    indices = tf.clip_by_value(tf.cast(indices, tf.int32), 0, count - 1)
  pairs = tf.gather(flow, indices)

  def decode_component(jpegs):
    return tf.map_fn(lambda jpeg: tf.io.decode_jpeg(jpeg, channels=1), jpegs,
                     fn_output_signature=_FLOW_COMPONENT)

  return tf.concat([decode_component(pairs[:, 0]), decode_component(pairs[:, 1])], axis=-1)


def dequantize(flow: tf.Tensor, bound: float = flow_quantization.FLOW_BOUND) -> tf.Tensor:
  """uint8 flow -> float32 pixels (`flow_quantization.dequantize_flow`)."""
  return tf.cast(flow, tf.float32) * (2.0 * bound / 255.0) - bound


def quantize(flow: tf.Tensor, bound: float = flow_quantization.FLOW_BOUND) -> tf.Tensor:
  """float32 pixels -> uint8 flow, clipped to +-bound (`flow_quantization.quantize_flow`)."""
  flow = tf.clip_by_value(flow, -bound, bound)
  return tf.cast(tf.round((flow + bound) * (255.0 / (2.0 * bound))), tf.uint8)


def resize_flow(flow: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
  """Float flow [T, h, w, 2] resized to `size` = [H', W'] (bilinear), u scaled by W'/w and
  v by H'/h: the displacements of the resized picture."""
  hw = tf.cast(tf.shape(flow)[1:3], tf.float32)
  resized = tf.image.resize(flow, size, method="bilinear")
  scale = tf.cast(size, tf.float32) / hw  # (H'/h, W'/w)
  return resized * tf.stack([scale[1], scale[0]])


def flip_flow(flow: tf.Tensor) -> tf.Tensor:
  """Mirror image of a float flow [T, H, W, 2]: columns reversed, u negated."""
  return tf.reverse(flow, axis=[2]) * tf.constant([-1.0, 1.0])


def augment_flow_clip(flow: tf.Tensor, box: tf.Tensor, flipped: tf.Tensor, crop_size: int,
                      bound: float = flow_quantization.FLOW_BOUND) -> tf.Tensor:
  """uint8 flow [T, H, W, 2] -> uint8 [T, crop_size, crop_size, 2]: cut `box` ([y, x, h,
  w], `augment.cvrl_geometry`), resize with the displacements (`resize_flow`),
  flip when `flipped` (`flip_flow`), quantise again."""
  field = augment.crop_clip(dequantize(flow, bound), box)
  field = resize_flow(field, tf.constant([crop_size, crop_size]))
  field = tf.cond(flipped, lambda: flip_flow(field), lambda: field)
  return tf.ensure_shape(quantize(field, bound), [flow.shape[0], crop_size, crop_size, 2])


def eval_flow_views(example: Mapping[str, Any], *, clip_length: int, frame_stride: int,
                    num_clips: int, num_crops: int, resize_short_side: int,
                    crop_size: int) -> tf.Tensor:
  """The evaluation views of a video's flow, at the RGB views' frames and crops
  (`jvrl.data.pipeline.make_eval_views_fn`): uint8 [num_clips * num_crops, T, S, S, 2]."""
  num_frames = example["num_frames"]
  starts = sampling.evenly_spaced_clip_starts(num_frames, clip_length, frame_stride, num_clips)
  indices = tf.reshape(tf.map_fn(
      lambda start: sampling.clip_frame_indices(start, clip_length, frame_stride, num_frames),
      starts), [-1])
  field = dequantize(decode_flow_frames(example["flow"], indices))
  hw = tf.shape(field, out_type=tf.int32)[1:3]
  short = tf.reduce_min(hw)
  new_hw = (2 * hw * resize_short_side + short) // (2 * short)  # as decode.resize_short_side
  field = resize_flow(field, new_hw)
  crops = augment.spatial_crops(field, crop_size, num_crops)
  crops = tf.reshape(crops, [num_crops, num_clips, clip_length, crop_size, crop_size, 2])
  crops = tf.reshape(tf.transpose(crops, [1, 0, 2, 3, 4, 5]),
                     [num_clips * num_crops, clip_length, crop_size, crop_size, 2])
  return quantize(crops)

