"""Tests for jvrl.data.augment: temporally consistent clip augmentation."""
import colorsys
import functools

import numpy as np
import pytest

from jvrl.data import augment
from jvrl.data import decode
from jvrl.data.tf_setup import tf

CROP = 16


def _seed(i: int, dtype=tf.int64) -> tf.Tensor:
  return tf.constant([11, i], dtype)


def _clip(num_frames: int = 4, height: int = 24, width: int = 32, seed: int = 0) -> np.ndarray:
  """float32 [T, H, W, 3] in [0, 1], every frame different."""
  return np.random.default_rng(seed).uniform(size=(num_frames, height, width, 3)).astype(np.float32)


def _identical_frames_clip(num_frames: int = 4) -> np.ndarray:
  """float32 [T, H, W, 3]: one random frame repeated T times."""
  return np.repeat(_clip(1), num_frames, axis=0)


def _map_over_seeds(fn, num_seeds: int) -> np.ndarray:
  """fn(seed) for seeds (11, 0..num_seeds-1) in a tf.data map (graph mode), stacked."""
  dataset = tf.data.Dataset.range(num_seeds).map(
      lambda i: fn(tf.stack([tf.constant(11, tf.int64), i])),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return tf.nest.map_structure(lambda x: x.numpy(), next(iter(dataset.batch(num_seeds))))


# Every random op with its randomness switched on, plus both CVRL views.
RANDOM_OPS = {
    "crop": lambda x, s: augment.random_resized_crop(x, s, CROP),
    "distorted_crop": lambda x, s: augment.random_resized_crop(
        x, s, CROP, sampler="tf_distorted"),
    "fixed_size_crop": lambda x, s: augment.random_crop(x, s, CROP),
    "flip": lambda x, s: augment.random_flip_left_right(x, s, prob=0.5),
    "color": lambda x, s: augment.color_jitter(x, s, prob=1.0),
    "grayscale": lambda x, s: augment.random_grayscale(x, s, prob=0.5),
    "blur": lambda x, s: augment.random_gaussian_blur(x, s, prob=1.0),
    "solarize": lambda x, s: augment.random_solarize(x, s, prob=0.5),
    "cvrl_view1": lambda x, s: augment.cvrl_augment_clip(
        x, s, crop_size=CROP, blur_prob=1.0, solarize_prob=0.0),
    "cvrl_view2": lambda x, s: augment.cvrl_augment_clip(
        x, s, crop_size=CROP, blur_prob=0.1, solarize_prob=0.2),
}


@pytest.mark.parametrize("name", sorted(RANDOM_OPS))
def test_identical_frames_stay_identical(name):
  op = RANDOM_OPS[name]
  clip = _identical_frames_clip()
  for i in range(10):
    out = op(clip, _seed(i)).numpy()
    np.testing.assert_allclose(out, np.broadcast_to(out[:1], out.shape), atol=1e-6)


# Ops that also read a clip statistic (the colour jitter's contrast takes the
# clip's mean), so a frame augmented alone differs from the same frame in its clip.
CLIP_STATISTIC_OPS = ("color", "cvrl_view1", "cvrl_view2")


def _equal_mean_frames_clip(num_frames: int = 4) -> np.ndarray:
  """float32 [T, H, W, 3]: T different spatial shuffles of one frame (equal channel means)."""
  frame = _clip(1)[0]
  rng = np.random.default_rng(1)
  pixels = frame.reshape(-1, 3)
  return np.stack([pixels[rng.permutation(len(pixels))].reshape(frame.shape)
                   for _ in range(num_frames)])


@pytest.mark.parametrize("name", sorted(set(RANDOM_OPS) - {"cvrl_view1", "cvrl_view2"}))
def test_each_frame_gets_the_clips_parameters(name):
  """Augmenting the clip = augmenting each frame alone with the same seed (for the
  colour jitter, on frames whose channel means equal the clip's)."""
  op = RANDOM_OPS[name]
  clip = _equal_mean_frames_clip() if name in CLIP_STATISTIC_OPS else _clip()
  for i in range(3):
    whole = op(clip, _seed(i)).numpy()
    for t in range(clip.shape[0]):
      np.testing.assert_allclose(whole[t], op(clip[t:t + 1], _seed(i)).numpy()[0], atol=1e-5)


@pytest.mark.parametrize("name", sorted(RANDOM_OPS))
def test_frame_order_does_not_change_a_frames_augmentation(name):
  """Reordering the frames reorders the output the same way: no parameter depends on
  a frame's position in the clip."""
  op = RANDOM_OPS[name]
  clip = _clip()
  order = [2, 0, 3, 1]
  for i in range(3):
    np.testing.assert_allclose(op(clip[order], _seed(i)).numpy(),
                               op(clip, _seed(i)).numpy()[order], atol=1e-5)


@pytest.mark.parametrize("name", sorted(RANDOM_OPS))
def test_deterministic_in_range_and_seed_dependent(name):
  op = RANDOM_OPS[name]
  clip = _clip()
  outputs = [op(clip, _seed(i)).numpy() for i in range(6)]
  np.testing.assert_array_equal(outputs[0], op(clip, _seed(0, tf.int32)).numpy())
  crops = name in ("crop", "distorted_crop", "fixed_size_crop", "cvrl_view1", "cvrl_view2")
  expected_shape = (4, CROP, CROP, 3) if crops else clip.shape
  for out in outputs:
    assert out.shape == expected_shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
  assert len({out.tobytes() for out in outputs}) > 1


def test_cvrl_views_differ_across_seeds():
  clip = _clip()
  views = [RANDOM_OPS["cvrl_view2"](clip, _seed(i)).numpy() for i in range(8)]
  assert len({view.tobytes() for view in views}) == 8


def test_cvrl_augment_clip_dynamic_shape():
  clip = _clip(height=30, width=26)
  traced = tf.function(
      lambda x, s: RANDOM_OPS["cvrl_view1"](x, s),
      input_signature=[tf.TensorSpec([4, None, None, 3]), tf.TensorSpec([2], tf.int64)])
  out = traced(clip, _seed(3))
  assert traced.get_concrete_function().structured_outputs.shape == (4, CROP, CROP, 3)
  np.testing.assert_allclose(out, RANDOM_OPS["cvrl_view1"](clip, _seed(3)), atol=1e-6)


def test_fused_decode_and_crop_path_matches_cvrl_augment_clip():
  frames = tf.constant((_clip(6) * 255).astype(np.uint8))
  indices = tf.constant([0, 2, 4, 1])
  seed = _seed(5)
  options = dict(blur_prob=1.0, solarize_prob=0.2, color_prob=1.0)
  decoded = tf.cast(decode.decode_frames(frames, indices), tf.float32) / 255.0
  expected = augment.cvrl_augment_clip(decoded, seed, crop_size=CROP, **options)
  crop_seed, after_seed = augment.split_cvrl_seed(seed)
  height, width = tf.unstack(decode.frame_size(frames))
  box = augment.sample_distorted_crop_box(crop_seed, height, width)
  cropped = decode.decode_frames_and_crop(frames, indices, box)
  clip = tf.image.resize(tf.cast(cropped, tf.float32) / 255.0, [CROP, CROP])
  fused = augment.cvrl_augment_cropped_clip(clip, after_seed, **options)
  np.testing.assert_allclose(fused, expected, atol=1e-5)


# ---- crop -----------------------------------------------------------------------

def test_crop_box_within_ranges():
  height, width = 48, 64
  boxes = _map_over_seeds(
      lambda seed: augment.sample_random_resized_crop_box(seed, height, width), 500)
  y, x, h, w = boxes.T
  assert np.all((y >= 0) & (x >= 0) & (h >= 1) & (w >= 1))
  assert np.all((y + h <= height) & (x + w <= width))
  area = h * w / (height * width)
  aspect = w / h
  # Rounding h and w to whole pixels moves area and aspect slightly.
  assert area.min() >= 0.3 - 0.05 and area.max() <= 1.0
  assert aspect.min() >= 0.5 - 0.08 and aspect.max() <= 2.0 + 0.15
  assert area.max() - area.min() > 0.5 and aspect.min() < 0.7 and aspect.max() > 1.5
  assert y.min() == 0 and x.min() == 0 and (y + h).max() == height and (x + w).max() == width


def _box_statistics(boxes: np.ndarray, height: int, width: int) -> dict[str, np.ndarray]:
  """Mean and 10/50/90% quantiles of a box sample's area fraction, aspect w/h and
  height / width fractions."""
  _, _, h, w = boxes.T.astype(np.float64)
  values = {"area": h * w / (height * width), "aspect": w / h, "h": h / height, "w": w / width}
  return {name: np.array([v.mean(), *np.quantile(v, [0.1, 0.5, 0.9])])
          for name, v in values.items()}


def test_distorted_crop_box_follows_tf_sample_distorted_bounding_box():
  """CVRL's boxes have the distribution of the op its reference calls
  (preprocess_ops_3d.py `random_crop_resize`: whole-frame object box,
  min_object_covered 0.1, 100 attempts, whole frame as fallback), compared with
  that op itself over many draws; the torchvision-style sampler does not."""
  height, width, count = 48, 64, 4000
  ours = _map_over_seeds(
      lambda seed: augment.sample_distorted_crop_box(seed, height, width), count)
  torchvision = _map_over_seeds(
      lambda seed: augment.sample_random_resized_crop_box(seed, height, width), count)
  tf.random.set_seed(0)

  def reference_box(_):
    begin, size, _ = tf.image.sample_distorted_bounding_box(
        [height, width, 3], bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        min_object_covered=0.1, aspect_ratio_range=(0.5, 2.0), area_range=(0.3, 1.0),
        max_attempts=100, use_image_if_no_bounding_boxes=True)
    return tf.stack([begin[0], begin[1], size[0], size[1]])

  reference = next(iter(tf.data.Dataset.range(count).map(reference_box).batch(count))).numpy()
  tolerance = {"area": 0.025, "aspect": 0.05, "h": 0.025, "w": 0.025}
  expected = _box_statistics(reference, height, width)
  for sample, should_match in ((ours, True), (torchvision, False)):
    stats = _box_statistics(sample, height, width)
    close = [np.all(np.abs(stats[k] - expected[k]) <= tolerance[k]) for k in tolerance]
    assert all(close) == should_match, (stats, expected)
  y, x, h, w = ours.T
  assert np.all((y >= 0) & (x >= 0) & (y + h <= height) & (x + w <= width))
  # The op's offsets are uniform over [0, H - h): a smaller crop never touches the
  # bottom or right edge (torchvision's offsets reach it).
  assert np.all((y + h < height) | (h == height)) and np.all((x + w < width) | (w == width))
  ty, tx, th, tw = torchvision.T
  assert np.any((ty + th == height) & (th < height))
  np.testing.assert_array_equal(ours[:5], _map_over_seeds(
      lambda seed: augment.sample_distorted_crop_box(seed, height, width), 5))


def test_distorted_crop_box_falls_back_to_the_whole_frame():
  # No crop of >= 90% of the area with aspect in [1, 1.2] fits a 10 x 100 frame.
  for i in range(5):
    box = augment.sample_distorted_crop_box(
        _seed(i), 10, 100, area_range=(0.9, 1.0), aspect_ratio_range=(1.0, 1.2))
    np.testing.assert_array_equal(box, [0, 0, 10, 100])
  np.testing.assert_array_equal(augment.sample_distorted_crop_box(_seed(0), 1, 1), [0, 0, 1, 1])


@pytest.mark.parametrize("height,width,expected", [
    (10, 100, [0, 44, 10, 12]), (100, 10, [45, 0, 10, 10]), (10, 16, [0, 2, 10, 12]),
])
def test_crop_box_falls_back_to_centre_crop(height, width, expected):
  # No crop of >= 90% of the area with aspect in [1, 1.2] fits these frames:
  # the fallback is the centred crop with the frame's ratio clamped into range.
  for i in range(5):
    box = augment.sample_random_resized_crop_box(
        _seed(i), height, width, area_range=(0.9, 1.0), aspect_ratio_range=(1.0, 1.2))
    np.testing.assert_array_equal(box, expected)


def test_crop_box_of_a_single_pixel_frame():
  for i in range(5):
    np.testing.assert_array_equal(augment.sample_random_resized_crop_box(_seed(i), 1, 1),
                                  [0, 0, 1, 1])


def test_random_resized_crop_is_crop_then_resize():
  clip = _clip()
  seed = _seed(4)
  box = augment.sample_random_resized_crop_box(seed, 24, 32).numpy()
  y, x, h, w = box
  expected = tf.image.resize(clip[:, y:y + h, x:x + w], [CROP, CROP]).numpy()
  np.testing.assert_allclose(augment.random_resized_crop(clip, seed, CROP), expected, atol=1e-6)
  np.testing.assert_array_equal(augment.crop_clip(clip, box), clip[:, y:y + h, x:x + w])
  with pytest.raises(tf.errors.InvalidArgumentError, match="inside the frame"):
    augment.crop_clip(clip, [20, 0, 8, 8])


# ---- flip, colour, grayscale ------------------------------------------------------

def test_random_crop_is_a_window_of_the_clip_at_uniform_offsets():
  clip = (np.arange(24 * 32, dtype=np.int32).reshape(1, 24, 32, 1) * 3 + np.arange(4).reshape(
      4, 1, 1, 1)).astype(np.float32).repeat(3, axis=-1)  # pixel (t, y, x) unique
  offsets = []
  for i in range(400):
    out = augment.random_crop(clip, _seed(i), CROP).numpy()
    y, x = divmod(int(out[0, 0, 0, 0]) // 3, 32)
    np.testing.assert_array_equal(out, clip[:, y:y + CROP, x:x + CROP])  # same box every frame
    offsets.append((y, x))
  ys, xs = zip(*offsets)
  assert set(ys) == set(range(24 - CROP + 1)) and set(xs) == set(range(32 - CROP + 1))
  # Uniform: each of the 9 row offsets about 400/9 = 44 times.
  assert max(np.bincount(ys)) < 75 and min(np.bincount(ys)) > 20
  as_uint8 = augment.random_crop(clip.astype(np.uint8), _seed(0), CROP)
  assert as_uint8.dtype == tf.uint8 and as_uint8.shape == (4, CROP, CROP, 3)
  with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than the crop size"):
    augment.random_crop(np.zeros((2, 10, 40, 3), np.float32), _seed(0), CROP)


def test_flip_probability_and_numerics():
  clip = _clip(1, 2, 5)
  flipped = _map_over_seeds(lambda seed: augment.random_flip_left_right(clip, seed), 400)
  was_flipped = np.array([np.array_equal(out, clip[:, :, ::-1]) for out in flipped])
  unchanged = np.array([np.array_equal(out, clip) for out in flipped])
  assert np.all(was_flipped | unchanged)
  assert abs(was_flipped.mean() - 0.5) < 0.1  # 4 sigma for 400 draws
  np.testing.assert_array_equal(augment.random_flip_left_right(clip, _seed(0), prob=0.0), clip)
  np.testing.assert_array_equal(
      augment.random_flip_left_right(clip, _seed(0), prob=1.0), clip[:, :, ::-1])


def _rgb_hsv_reference(clip: np.ndarray, saturation: float, hue_delta: float) -> np.ndarray:
  """Slow per-pixel saturation scale + hue shift with colorsys."""
  out = np.empty_like(clip)
  for index in np.ndindex(clip.shape[:-1]):
    h, s, v = colorsys.rgb_to_hsv(*clip[index])
    out[index] = colorsys.hsv_to_rgb((h + hue_delta) % 1.0, min(s * saturation, 1.0), v)
  return out


def _clip_contrast_reference(clip: np.ndarray, factor: float) -> np.ndarray:
  """CVRL's contrast (video_ssl_preprocess_ops.py `random_color_jitter_3d`): the clip
  reshaped to one [T*H, W, C] image, then tf.image.adjust_contrast's
  (x - mean) * factor + mean with each channel's mean over that whole image."""
  image = clip.reshape(-1, clip.shape[2], clip.shape[3]).astype(np.float64)
  mean = image.mean(axis=(0, 1), keepdims=True)
  return ((image - mean) * factor + mean).reshape(clip.shape)


def _adjust_color_reference(clip, brightness, contrast, saturation, hue_delta, order):
  ops = [
      lambda x: x * brightness,
      lambda x: _clip_contrast_reference(x, contrast),
      lambda x: _rgb_hsv_reference(x, saturation, 0.0),
      lambda x: _rgb_hsv_reference(x, 1.0, hue_delta),
  ]
  for index in order:
    clip = np.clip(ops[index](clip), 0.0, 1.0)
  return clip


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [3, 1, 0, 2], [2, 3, 1, 0]])
def test_adjust_color_matches_numpy(order):
  clip = _clip(2, 3, 4)
  params = dict(brightness=1.3, contrast=0.6, saturation=1.5, hue_delta=0.15)
  out = augment.adjust_color(clip, order=tf.constant(order), **params)
  np.testing.assert_allclose(out, _adjust_color_reference(clip, order=order, **params), atol=1e-4)


def test_contrast_uses_the_clips_mean_not_each_frames():
  clip = _clip(3, 5, 6)
  clip[1] = 0.2 + 0.5 * clip[1]  # frames with different means
  clip[2] = 0.5 * clip[2]
  for factor in (0.3, 1.7):
    out = augment.adjust_clip_contrast(clip, factor).numpy()
    np.testing.assert_allclose(out, _clip_contrast_reference(clip, factor), atol=1e-6)
    # The op CVRL's reference calls, on the clip as one tall image:
    image = tf.image.adjust_contrast(tf.reshape(clip, [-1, 6, 3]), factor)
    np.testing.assert_allclose(out, tf.reshape(image, clip.shape), atol=1e-6)
    per_frame = tf.image.adjust_contrast(clip, factor).numpy()  # each frame's own mean
    assert np.abs(out - per_frame).max() > 0.05
  order = tf.constant([1, 0, 2, 3])  # contrast alone decides here (other factors neutral)
  jittered = augment.adjust_color(clip, 1.0, 0.3, 1.0, 0.0, order)
  np.testing.assert_allclose(jittered, np.clip(_clip_contrast_reference(clip, 0.3), 0, 1),
                             atol=1e-5)


def test_color_order_matters():
  clip = _clip(2, 3, 4)
  params = dict(brightness=1.6, contrast=0.4, saturation=1.5, hue_delta=0.15)
  first = augment.adjust_color(clip, order=[0, 1, 2, 3], **params).numpy()
  second = augment.adjust_color(clip, order=[1, 0, 3, 2], **params).numpy()
  assert np.abs(first - second).max() > 1e-3


def test_color_jitter_params_ranges_and_orders():
  draws = _map_over_seeds(lambda seed: augment.sample_color_jitter_params(seed), 500)
  for name in ("brightness", "contrast", "saturation"):
    assert draws[name].min() >= 0.2 and draws[name].max() <= 1.8
    assert abs(draws[name].mean() - 1.0) < 0.1
  assert draws["hue_delta"].min() >= -0.2 and draws["hue_delta"].max() <= 0.2
  orders = draws["order"]
  assert np.all(np.sort(orders, axis=1) == np.arange(4))
  assert len({tuple(order) for order in orders}) == 24  # every permutation occurs
  weak = augment.sample_color_jitter_params(_seed(0), strength=0.5)
  assert 0.6 <= float(weak["brightness"]) <= 1.4 and abs(float(weak["hue_delta"])) <= 0.1


def test_color_jitter_is_adjust_color_with_sampled_params():
  clip = _clip(2, 6, 5)
  seed = _seed(9)
  _, params_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  params = augment.sample_color_jitter_params(params_seed, 1.0)
  np.testing.assert_allclose(
      augment.color_jitter(clip, seed, prob=1.0), augment.adjust_color(clip, **params), atol=1e-6)
  np.testing.assert_array_equal(augment.color_jitter(clip, seed, prob=0.0), clip)
  np.testing.assert_allclose(augment.color_jitter(clip, seed, strength=0.0, prob=1.0), clip,
                             atol=1e-5)
  applied = _map_over_seeds(lambda s: augment.color_jitter(clip, s, prob=0.8), 200)
  fraction = np.mean([not np.array_equal(out, clip) for out in applied])
  assert abs(fraction - 0.8) < 0.12


def test_random_grayscale():
  clip = _clip(2, 4, 5)
  gray = augment.random_grayscale(clip, _seed(0), prob=1.0).numpy()
  luma = clip @ np.array([0.2989, 0.587, 0.114], np.float32)
  np.testing.assert_allclose(gray, np.repeat(luma[..., None], 3, axis=-1), atol=1e-3)
  np.testing.assert_array_equal(augment.random_grayscale(clip, _seed(0), prob=0.0), clip)
  outputs = _map_over_seeds(lambda seed: augment.random_grayscale(clip, seed), 400)
  fraction = np.mean([not np.array_equal(out, clip) for out in outputs])
  assert abs(fraction - 0.2) < 0.08


# ---- blur, solarize ------------------------------------------------------------------

def _gaussian_taps(sigma: float, kernel_size: int) -> np.ndarray:
  offsets = np.arange(kernel_size) - kernel_size // 2
  taps = np.exp(-offsets**2 / (2 * sigma**2))
  return taps / taps.sum()


def _blur_reference(clip: np.ndarray, sigma: float, kernel_size: int) -> np.ndarray:
  """Slow 2-D Gaussian blur with explicit loops and zero padding (CVRL's 'SAME')."""
  radius = kernel_size // 2
  kernel = _gaussian_taps(sigma, kernel_size)
  padded = np.pad(clip, ((0, 0), (radius, radius), (radius, radius), (0, 0)))
  out = np.zeros_like(clip, dtype=np.float64)
  num_frames, height, width, channels = clip.shape
  for t, i, j, c in np.ndindex(num_frames, height, width, channels):
    window = padded[t, i:i + kernel_size, j:j + kernel_size, c]
    out[t, i, j, c] = np.sum(np.outer(kernel, kernel) * window)
  return out


@pytest.mark.parametrize("sigma,kernel_size,height,width", [
    (1.3, 5, 7, 9), (0.4, 3, 7, 9), (2.0, 7, 7, 9),
    (2.0, 11, 3, 4),  # kernel wider than the frame
    (1.0, 5, 1, 6),   # a single row
    (1.0, 1, 4, 5),   # one tap: no blur
])
def test_gaussian_blur_matches_numpy(sigma, kernel_size, height, width):
  clip = _clip(2, height, width)
  out = augment.gaussian_blur(clip, sigma, kernel_size)
  np.testing.assert_allclose(out, _blur_reference(clip, sigma, kernel_size), atol=1e-5)
  # CVRL's reference: two depthwise convolutions with padding 'SAME' (zeros).
  taps = _gaussian_taps(sigma, kernel_size)
  reference = tf.nn.depthwise_conv2d(
      clip, np.tile(taps.reshape(1, -1, 1, 1), [1, 1, 3, 1]).astype(np.float32),
      [1, 1, 1, 1], "SAME")
  reference = tf.nn.depthwise_conv2d(
      reference, np.tile(taps.reshape(-1, 1, 1, 1), [1, 1, 3, 1]).astype(np.float32),
      [1, 1, 1, 1], "SAME")
  np.testing.assert_allclose(out, reference, atol=1e-5)


def test_blur_darkens_the_border():
  """Zero padding: a constant frame keeps its value inside and darkens within the
  kernel's radius of the border (reflect padding kept it constant)."""
  constant = augment.gaussian_blur(np.full((1, 9, 9, 3), 0.3, np.float32), 1.5, 5).numpy()
  np.testing.assert_allclose(constant[:, 2:-2, 2:-2], 0.3, atol=1e-6)
  assert constant[0, 0, 0, 0] < 0.2 and constant[0, 0, 4, 0] < 0.3


def test_random_gaussian_blur_sigma_and_kernel():
  assert [augment.default_blur_kernel_size(s) for s in (224, 112, 32, 20, 8)] == [23, 11, 3, 3, 1]
  clip = _clip(2, 45, 41)  # default kernel for side 41: 5
  out = augment.random_gaussian_blur(clip, _seed(0), prob=1.0, sigma_range=(1.5, 1.5))
  np.testing.assert_allclose(out, augment.gaussian_blur(clip, 1.5, 5), atol=1e-6)
  dynamic = tf.function(
      lambda x: augment.random_gaussian_blur(x, _seed(0), prob=1.0, sigma_range=(1.5, 1.5)),
      input_signature=[tf.TensorSpec([2, None, None, 3])])
  np.testing.assert_allclose(dynamic(clip), out, atol=1e-6)
  np.testing.assert_array_equal(augment.random_gaussian_blur(clip, _seed(0), prob=0.0), clip)
  small = _clip(1, 9, 9)  # default kernel for sides below 20: one tap, no blur
  np.testing.assert_allclose(augment.random_gaussian_blur(small, _seed(1), 1.0), small, atol=1e-6)


def test_random_solarize_matches_numpy():
  clip = _clip(2, 4, 5)
  expected = np.where(clip < 0.5, clip, 1.0 - clip)
  np.testing.assert_allclose(augment.random_solarize(clip, _seed(0), prob=1.0), expected)
  np.testing.assert_allclose(
      augment.random_solarize(clip, _seed(0), prob=1.0, threshold=0.3),
      np.where(clip < 0.3, clip, 1.0 - clip))
  np.testing.assert_array_equal(augment.random_solarize(clip, _seed(0), prob=0.0), clip)


# ---- evaluation crops ------------------------------------------------------------------

def test_spatial_crops_landscape_and_portrait():
  landscape = _clip(2, 6, 10)
  one = augment.spatial_crops(landscape, 4, 1).numpy()
  np.testing.assert_array_equal(one, landscape[None, :, 1:5, 3:7])
  three = augment.spatial_crops(landscape, 4, 3).numpy()
  assert three.shape == (3, 2, 4, 4, 3)
  for crop, x in zip(three, (0, 3, 6)):  # left, centre, right
    np.testing.assert_array_equal(crop, landscape[:, 1:5, x:x + 4])
  portrait = np.transpose(landscape, (0, 2, 1, 3))
  for crop, y in zip(augment.spatial_crops(portrait, 4, 3).numpy(), (0, 3, 6)):  # top..bottom
    np.testing.assert_array_equal(crop, portrait[:, y:y + 4, 1:5])
  dynamic = tf.function(
      functools.partial(augment.spatial_crops, size=4, num_crops=3),
      input_signature=[tf.TensorSpec([2, None, None, 3])])
  np.testing.assert_array_equal(dynamic(landscape), three)
  assert dynamic.get_concrete_function().structured_outputs.shape == (3, 2, 4, 4, 3)


# ---- argument checks --------------------------------------------------------------------

def test_bad_arguments_raise():
  clip = _clip(1, 8, 8)
  seed = _seed(0)
  with pytest.raises(ValueError, match="prob"):
    augment.random_flip_left_right(clip, seed, prob=1.5)
  with pytest.raises(ValueError, match="area_range"):
    augment.sample_random_resized_crop_box(seed, 8, 8, area_range=(0.5, 1.2))
  with pytest.raises(ValueError, match="aspect_ratio_range"):
    augment.sample_random_resized_crop_box(seed, 8, 8, aspect_ratio_range=(2.0, 0.5))
  with pytest.raises(ValueError, match="kernel_size"):
    augment.random_gaussian_blur(clip, seed, 1.0, kernel_size=4)
  with pytest.raises(ValueError, match="sigma"):
    augment.gaussian_blur(clip, 0.0, 3)
  with pytest.raises(ValueError, match="strength"):
    augment.color_jitter(clip, seed, strength=-1.0)
  with pytest.raises(ValueError, match="clip"):
    augment.random_solarize(tf.zeros([1, 8, 8, 3], tf.uint8), seed, 1.0)
  with pytest.raises(ValueError, match="clip"):
    augment.random_grayscale(tf.zeros([8, 8, 3]), seed)
  with pytest.raises(ValueError, match="seed"):
    augment.random_flip_left_right(clip, tf.constant([1, 2, 3]))
  with pytest.raises(ValueError, match="size"):
    augment.random_resized_crop(clip, seed, 0)
  with pytest.raises(ValueError, match="smaller than crop size"):
    augment.spatial_crops(clip, 9, 3)
  with pytest.raises(ValueError, match="order"):
    augment.adjust_color(clip, 1.0, 1.0, 1.0, 0.0, order=[0, 1, 2])


def test_scale_jitter_resizes_each_side_with_probability_0_8():
  clip = tf.zeros([2, 40, 50, 3])
  shapes = [tuple(augment.random_scale_jitter(clip, tf.constant([s, 3]), 0.8).shape[1:3])
            for s in range(200)]
  jittered = [shape for shape in shapes if shape != (40, 50)]
  assert abs(len(jittered) / len(shapes) - 0.8) < 0.08
  heights, widths = np.array(jittered).T
  assert heights.min() >= 32 and heights.max() < 48 and widths.min() >= 40 and widths.max() < 60
  assert len({h * 100 + w for h, w in jittered}) > 30  # both sides drawn independently


def test_resize_smallest_follows_dmvr():
  assert augment.resize_smallest(tf.zeros([1, 6, 8, 3]), 4).shape == (1, 4, 5, 3)
  assert augment.resize_smallest(tf.zeros([1, 9, 4, 3]), 8).shape == (1, 18, 8, 3)
  same = tf.random.stateless_uniform([1, 4, 7, 3], [0, 0])
  np.testing.assert_array_equal(augment.resize_smallest(same, 4), same)


def test_vgg_style_crop_is_the_same_window_on_every_frame():
  base = tf.random.stateless_uniform([1, 48, 64, 3], [1, 2])
  clip = tf.concat([base * (t + 1) / 4 for t in range(4)], axis=0)  # frame t = base*(t+1)/4
  for s in range(5):
    out = augment.vgg_style_crop(clip, tf.constant([s, 9]), 16, 20).numpy()
    assert out.shape == (4, 16, 16, 3)
    for t in range(4):
      np.testing.assert_allclose(out[t], out[0] * (t + 1), rtol=1e-5, atol=1e-6)
  first = augment.vgg_style_crop(clip, tf.constant([7, 9]), 16, 20)
  np.testing.assert_array_equal(first, augment.vgg_style_crop(clip, tf.constant([7, 9]), 16,
                                                              20))
  with pytest.raises(ValueError, match="min_resize"):
    augment.vgg_style_crop(clip, tf.constant([7, 9]), 16, 12)

