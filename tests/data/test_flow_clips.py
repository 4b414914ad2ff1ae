"""Optical flow in records and tf.data: quantisation, decoding at clip frames, and the
flow-aware crop / resize / flip shared with the paired RGB clip."""
import numpy as np

from jvrl.data import augment
from jvrl.data import flow_clips
from jvrl.data import flow_quantization
from jvrl.data import records
from jvrl.data.prepare import sequence_example
from jvrl.data.tf_setup import tf


def test_quantisation_round_trip_within_one_step_and_clipped():
  flow = np.array([-30.0, -20.0, -0.04, 0.0, 3.3, 19.99, 25.0], np.float32)
  quantized = flow_quantization.quantize_flow(flow)
  assert quantized.dtype == np.uint8 and quantized[0] == 0 and quantized[-1] == 255
  back = flow_quantization.dequantize_flow(quantized)
  step = 2 * flow_quantization.FLOW_BOUND / 255
  np.testing.assert_allclose(back[1:-1], flow[1:-1], atol=step / 2 + 1e-6)
  np.testing.assert_allclose(flow_clips.dequantize(tf.constant(quantized)).numpy(), back,
                             atol=1e-6)
  np.testing.assert_array_equal(flow_clips.quantize(tf.constant(flow)).numpy(), quantized)


def _flow_video(frames=5, height=8, width=12):
  """Smooth fields (JPEG keeps them to a fraction of a pixel), different per frame."""
  t, y, x = np.meshgrid(np.arange(frames - 1), np.arange(height), np.arange(width),
                        indexing="ij")
  return np.stack([4 * np.sin(x / 4 + t), 3 * np.cos(y / 3 - t)], -1).astype(np.float32)


def test_records_store_flow_pairs_and_the_clip_reads_them_at_its_frames():
  flow = _flow_video()
  jpegs = [b"frame"] * 5
  pairs = flow_quantization.encode_flow_jpegs(flow)
  example = records.make_sequence_example(jpeg_frames=jpegs, flow_jpegs=pairs,
                                          flow_method="exact")
  serialized = example.SerializeToString(deterministic=True)
  # The workers' TensorFlow-free writer makes the same bytes.
  assert sequence_example.serialize_video_record(
      jpeg_frames=jpegs, flow_jpegs=pairs, flow_method="exact") == serialized
  parsed = records.parse_sequence_example(tf.constant(serialized))
  assert parsed["flow"].shape == (4, 2) and float(parsed["flow_bound"]) == 20.0
  # Frame 4 is the last: it reads the flow of frame 3 (it has no successor).
  clip = flow_clips.decode_flow_frames(parsed["flow"], tf.constant([0, 2, 4]))
  assert clip.dtype == tf.uint8 and clip.shape == (3, 8, 12, 2)
  got = flow_clips.dequantize(clip).numpy()
  np.testing.assert_allclose(got, flow[[0, 2, 3]], atol=0.5)  # quantisation + JPEG
  without = records.parse_sequence_example(tf.constant(records.make_sequence_example(
      jpeg_frames=jpegs).SerializeToString()))
  assert without["flow"].shape == (0, 2) and not bool(flow_clips.has_flow(without))


def test_crop_resize_scales_the_displacements_and_a_flip_negates_u():
  field = np.zeros((2, 16, 16, 2), np.float32)
  field[..., 0], field[..., 1] = 2.0, -1.0
  field[:, :, :8, 1] = 3.0  # the left half moves down
  quantized = flow_clips.quantize(tf.constant(field))
  box = tf.constant([0, 0, 8, 8])  # the top-left quarter, resized x2 to 16 x 16
  out = flow_clips.dequantize(flow_clips.augment_flow_clip(
      quantized, box, tf.constant(False), 16)).numpy()
  np.testing.assert_allclose(out[..., 0], 4.0, atol=0.2)
  np.testing.assert_allclose(out[..., 1], 6.0, atol=0.2)
  box = tf.constant([0, 4, 16, 8])  # the middle columns, width x2; left half moves down
  flipped = flow_clips.dequantize(flow_clips.augment_flow_clip(
      quantized, box, tf.constant(True), 16)).numpy()
  np.testing.assert_allclose(flipped[..., 0], -4.0, atol=0.2)
  # Mirrored: the part that moved down (the box's left half) is now on the right.
  np.testing.assert_allclose(flipped[:, :, -4:, 1], 3.0, atol=0.2)
  np.testing.assert_allclose(flipped[:, :, :4, 1], -1.0, atol=0.2)


def test_geometry_is_the_crop_and_flip_of_the_rgb_view():
  rng = np.random.default_rng(1)
  clip = rng.uniform(0, 1, size=(2, 24, 32, 3)).astype(np.float32)
  for seed in range(6):
    seed = tf.constant([seed, 7], tf.int64)
    view = augment.cvrl_augment_clip(clip, seed, crop_size=16, blur_prob=0.0,
                                     solarize_prob=0.0, color_prob=0.0, grayscale_prob=0.0,
                                     flip_prob=0.5)
    box, flipped = augment.cvrl_geometry(seed, 24, 32, flip_prob=0.5)
    want = tf.image.resize(augment.crop_clip(clip, box), [16, 16])
    want = tf.cond(flipped, lambda w=want: tf.reverse(w, [2]), lambda w=want: w)
    np.testing.assert_allclose(view.numpy(), np.clip(want.numpy(), 0, 1), atol=1e-6)


def test_a_record_without_flow_stops_the_training_input_in_one_line():
  from jvrl.data import pipeline  # pylint: disable=g-import-not-at-top
  assert flow_clips.NO_FLOW_MESSAGE.startswith(pipeline.INVALID_INPUT_MESSAGE)
  empty = tf.zeros([0, 2], tf.string)
  try:
    flow_clips.decode_flow_frames(empty, tf.constant([0]))
  except tf.errors.InvalidArgumentError as error:
    assert "prepare_videos.py --flow" in str(error)
  else:
    raise AssertionError("no error for a record without flow")
