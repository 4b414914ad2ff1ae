"""Temporally consistent spatial augmentation of clips (REFERENCE §1), TF graph ops.

A clip is float32 [T, H, W, 3] with pixels in [0, 1]. Every random parameter
(crop box, flip, colour factors and their order, blur sigma, ...) is drawn
ONCE per clip from the clip's stateless `seed` (int32/int64 [2]) and the same
parameters are applied to every frame: T is the batch dimension of the
tf.image ops, never a source of per-frame randomness. Same seed -> same output.
The one clip statistic an op uses, the contrast's mean, is the whole clip's
(as in CVRL's reference).

Sub-seeds come from `tf.random.experimental.stateless_split`, so changing one
op's parameters never shifts another op's random numbers.
"""
import math
import numbers
from typing import Optional, Sequence, Union

from jvrl.data import decode
from jvrl.data.sampling import check_seed
from jvrl.data.tf_setup import tf

FloatLike = Union[float, tf.Tensor]
IntLike = Union[int, tf.Tensor]


# ---- argument checks ---------------------------------------------------------

def _check_clip(clip: tf.Tensor, name: str = "clip") -> tf.Tensor:
  """`clip` as a float32 tensor, checked to have shape [T, H, W, 3]."""
  clip = tf.convert_to_tensor(clip)
  if not clip.dtype.is_floating:
    raise ValueError(f"{name} must be a float tensor with values in [0, 1], got {clip.dtype}.")
  if not clip.shape.is_compatible_with([None, None, None, 3]):
    raise ValueError(f"{name} must have shape [T, H, W, 3], got {clip.shape}.")
  return tf.cast(clip, tf.float32)


def _check_probability(prob: float, name: str) -> float:
  """`prob` as a float, checked to lie in [0, 1]."""
  if not isinstance(prob, numbers.Real) or not 0.0 <= prob <= 1.0:
    raise ValueError(f"{name} must be a number in [0, 1], got {prob!r}.")
  return float(prob)


def _check_range(value_range: Sequence[float], name: str, low: float,
                 high: float = math.inf) -> tuple[float, float]:
  """`value_range` as (lo, hi), checked: low < lo <= hi <= high."""
  if len(value_range) != 2:
    raise ValueError(f"{name} must be a (min, max) pair, got {value_range!r}.")
  lo, hi = float(value_range[0]), float(value_range[1])
  if not low < lo <= hi <= high:
    raise ValueError(f"{name} must satisfy {low} < min <= max <= {high}, got {value_range!r}.")
  return lo, hi


def _check_size(size: int, name: str) -> int:
  """`size` checked to be a Python int >= 1."""
  if not isinstance(size, int) or size < 1:
    raise ValueError(f"{name} must be a Python int >= 1, got {size!r}.")
  return size


def _with_probability(prob: float, seed: tf.Tensor, apply_fn, clip: tf.Tensor) -> tf.Tensor:
  """`apply_fn(clip)` with probability `prob` (one draw from `seed`), else `clip`."""
  if prob == 0.0:
    return clip
  if prob == 1.0:
    return apply_fn(clip)
  apply = tf.random.stateless_uniform([], seed) < prob
  return tf.cond(apply, lambda: apply_fn(clip), lambda: clip)


# ---- random resized crop -----------------------------------------------------

# How `random_resized_crop` draws its box: 'torchvision' is
# `sample_random_resized_crop_box` (torchvision's RandomResizedCrop; PRP, VATT),
# 'tf_distorted' is `sample_distorted_crop_box` (tf.image's
# sample_distorted_bounding_box, what CVRL's reference crops with).
CROP_BOX_SAMPLERS = ("torchvision", "tf_distorted")


def sample_distorted_crop_box(
    seed: tf.Tensor,
    height: IntLike,
    width: IntLike,
    area_range: Sequence[float] = (0.3, 1.0),
    aspect_ratio_range: Sequence[float] = (0.5, 2.0),
    max_attempts: int = 100,
    min_object_covered: float = 0.1,
) -> tf.Tensor:
  """CVRL's crop box: int32 [4] = [offset_y, offset_x, h, w], the same box format as
  `sample_random_resized_crop_box`.

  Drawn by `tf.image.stateless_sample_distorted_bounding_box` (the stateless
  form of the op CVRL's reference calls: tensorflow/models
  official/vision/ops/preprocess_ops_3d.py `random_crop_resize`, used by
  official/projects/video_ssl/dataloaders/video_ssl_input.py `_process_image`)
  with its settings: the whole frame as the one object box, `min_object_covered`
  0.1, `max_attempts` 100, the whole frame when no attempt succeeds. What the
  op does, which differs from `sample_random_resized_crop_box`: each attempt
  draws the aspect ratio w/h uniformly (not log-uniformly) from
  `aspect_ratio_range`, then the crop HEIGHT uniformly among the whole numbers
  whose area fits `area_range` (so the area is not uniform), w = round(h * ratio);
  the offsets are uniform over [0, H - h) and [0, W - w) (the op never places a
  smaller crop flush with the bottom or right edge). With the whole frame as the
  object, any crop of >= 10% of the frame covers it enough, so
  `min_object_covered` only bites for area_range below 0.1. Seeded statelessly
  like every op here: same seed -> same box.
  """
  seed = check_seed(seed)
  area_range = _check_range(area_range, "area_range", 0.0, 1.0)
  aspect_ratio_range = _check_range(aspect_ratio_range, "aspect_ratio_range", 0.0)
  if not isinstance(max_attempts, int) or max_attempts < 1:
    raise ValueError(f"max_attempts must be a Python int >= 1, got {max_attempts!r}.")
  min_object_covered = _check_probability(min_object_covered, "min_object_covered")
  image_size = tf.stack([tf.cast(height, tf.int32), tf.cast(width, tf.int32), 3])
  begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
      image_size, bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
      min_object_covered=min_object_covered, aspect_ratio_range=aspect_ratio_range,
      area_range=area_range, max_attempts=max_attempts, use_image_if_no_bounding_boxes=True)
  return tf.stack([begin[0], begin[1], size[0], size[1]])


# CVRL's crop boxes (`sample_distorted_crop_box`): `cvrl_augment_clip` and
# `cvrl_geometry` (a paired clip of another modality) must draw the same box.
CVRL_CROP_BOX_SAMPLER = "tf_distorted"


def sample_crop_box(seed: tf.Tensor, height: IntLike, width: IntLike,
                    area_range: Sequence[float], aspect_ratio_range: Sequence[float],
                    sampler: str = "torchvision") -> tf.Tensor:
  """The crop box [offset_y, offset_x, h, w] (int32 [4]) of the sampler named by
  `sampler` (one of `CROP_BOX_SAMPLERS`), each with its own number of attempts."""
  if sampler == "torchvision":
    return sample_random_resized_crop_box(seed, height, width, area_range, aspect_ratio_range)
  if sampler == "tf_distorted":
    return sample_distorted_crop_box(seed, height, width, area_range, aspect_ratio_range)
  raise ValueError(f"Unknown crop box sampler {sampler!r}; known: {CROP_BOX_SAMPLERS}.")


def sample_random_resized_crop_box(
    seed: tf.Tensor,
    height: IntLike,
    width: IntLike,
    area_range: Sequence[float] = (0.3, 1.0),
    aspect_ratio_range: Sequence[float] = (0.5, 2.0),
    max_attempts: int = 10,
) -> tf.Tensor:
  """Samples a torchvision-style crop box: int32 [4] = [offset_y, offset_x, h, w].

  The algorithm of torchvision's `RandomResizedCrop.get_params` (PRP's and
  VATT's crops here; CVRL's is `sample_distorted_crop_box`):
  `max_attempts` candidates are drawn at once (vectorised): area fraction
  ~ U(area_range) of height*width, aspect ratio w/h log-uniform in
  aspect_ratio_range, h = round(sqrt(area / ratio)), w = round(sqrt(area * ratio)).
  The first candidate that fits in the frame is used, at an offset uniform
  over all positions that keep it inside. If none fits, the fallback is the
  centred largest crop whose aspect ratio is the frame's clamped into
  aspect_ratio_range (the whole frame when its ratio is in range).
  The box is the `crop_window` of `tf.image.decode_and_crop_jpeg`.
  """
  seed = check_seed(seed)
  area_lo, area_hi = _check_range(area_range, "area_range", 0.0, 1.0)
  ratio_lo, ratio_hi = _check_range(aspect_ratio_range, "aspect_ratio_range", 0.0)
  if not isinstance(max_attempts, int) or max_attempts < 1:
    raise ValueError(f"max_attempts must be a Python int >= 1, got {max_attempts!r}.")
  area_seed, ratio_seed, offset_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 3))
  height = tf.cast(height, tf.int32)
  width = tf.cast(width, tf.int32)
  height_f = tf.cast(height, tf.float32)
  width_f = tf.cast(width, tf.float32)

  area = height_f * width_f * tf.random.stateless_uniform(
      [max_attempts], area_seed, minval=area_lo, maxval=area_hi)
  ratio = tf.exp(tf.random.stateless_uniform(
      [max_attempts], ratio_seed, minval=math.log(ratio_lo), maxval=math.log(ratio_hi)))
  crop_h = tf.cast(tf.round(tf.sqrt(area / ratio)), tf.int32)
  crop_w = tf.cast(tf.round(tf.sqrt(area * ratio)), tf.int32)
  fits = (crop_h >= 1) & (crop_w >= 1) & (crop_h <= height) & (crop_w <= width)
  first_fit = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
  offset_u = tf.random.stateless_uniform([2], offset_seed)

  def sampled_box():
    h, w = crop_h[first_fit], crop_w[first_fit]
    y = tf.minimum(tf.cast(offset_u[0] * tf.cast(height - h + 1, tf.float32), tf.int32), height - h)
    x = tf.minimum(tf.cast(offset_u[1] * tf.cast(width - w + 1, tf.float32), tf.int32), width - w)
    return tf.stack([y, x, h, w])

  def centre_box():
    frame_ratio = width_f / height_f
    h = tf.where(frame_ratio < ratio_lo, tf.round(width_f / ratio_lo), height_f)
    w = tf.where(frame_ratio > ratio_hi, tf.round(height_f * ratio_hi), width_f)
    h = tf.clip_by_value(tf.cast(h, tf.int32), 1, height)
    w = tf.clip_by_value(tf.cast(w, tf.int32), 1, width)
    return tf.stack([(height - h) // 2, (width - w) // 2, h, w])

  return tf.cond(tf.reduce_any(fits), sampled_box, centre_box)


def crop_clip(clip: tf.Tensor, box: tf.Tensor) -> tf.Tensor:
  """Cuts the same box out of every frame: [T, H, W, C] -> [T, h, w, C].

  `box` is int32 [4] = [offset_y, offset_x, h, w] and must lie inside the frame
  (checked at run time).
  """
  clip = tf.convert_to_tensor(clip)
  if clip.shape.rank not in (None, 4):
    raise ValueError(f"clip must have shape [T, H, W, C], got {clip.shape}.")
  box = tf.cast(box, tf.int32)
  if not box.shape.is_compatible_with([4]):
    raise ValueError(f"box must have shape [4], got {box.shape}.")
  y, x, h, w = tf.unstack(box)
  size = tf.shape(clip, out_type=tf.int32)[1:3]
  inside = tf.debugging.assert_equal(
      tf.reduce_all([y >= 0, x >= 0, h >= 1, w >= 1, y + h <= size[0], x + w <= size[1]]),
      True, message="box must lie inside the frame")
  with tf.control_dependencies([inside]):
    return clip[:, y:y + h, x:x + w, :]


def random_crop(clip: tf.Tensor, seed: tf.Tensor, size: int) -> tf.Tensor:
  """One random size x size window, the same on every frame: [T, H, W, C] -> [T, size, size, C].

  Offsets are uniform over every window inside the frame (the fine-tuning
  augmentation of PRP's protocol: a random 112 crop of 128x171 frames).
  Requires H >= size and W >= size (checked at run time). Dtype kept.
  """
  clip = tf.convert_to_tensor(clip)
  if not clip.shape.is_compatible_with([None, None, None, None]):
    raise ValueError(f"clip must have shape [T, H, W, C], got {clip.shape}.")
  seed = check_seed(seed)
  size = _check_size(size, "size")
  hw = tf.shape(clip, out_type=tf.int32)[1:3]
  big_enough = tf.debugging.assert_greater_equal(
      tf.reduce_min(hw), size, message="clip is smaller than the crop size")
  with tf.control_dependencies([big_enough]):
    choices = hw - size + 1
  offsets = tf.cast(tf.random.stateless_uniform([2], seed) * tf.cast(choices, tf.float32),
                    tf.int32)
  offsets = tf.minimum(offsets, choices - 1)  # u * n rounds to n for u just below 1
  box = tf.concat([offsets, [size, size]], axis=0)
  return tf.ensure_shape(crop_clip(clip, box), [clip.shape[0], size, size, clip.shape[3]])


def random_resized_crop(
    clip: tf.Tensor,
    seed: tf.Tensor,
    size: int,
    area_range: Sequence[float] = (0.3, 1.0),
    aspect_ratio_range: Sequence[float] = (0.5, 2.0),
    sampler: str = "torchvision",
) -> tf.Tensor:
  """One random crop box for the whole clip, resized: [T, H, W, 3] -> float32 [T, size, size, 3].

  The box comes from `sample_crop_box(seed, H, W, ..., sampler)`; the resize is
  bilinear (no antialiasing, as in SimCLR/CVRL). Decoding only the box instead
  (`decode.decode_frames_and_crop`, then `tf.image.resize`) gives the same
  result; see `split_cvrl_seed`.
  """
  clip = _check_clip(clip)
  size = _check_size(size, "size")
  hw = tf.shape(clip, out_type=tf.int32)[1:3]
  box = sample_crop_box(seed, hw[0], hw[1], area_range, aspect_ratio_range, sampler)
  return tf.image.resize(crop_clip(clip, box), [size, size], method="bilinear")


def resize_crop_and_flip(clip: tf.Tensor, seed: tf.Tensor, resize_short_side: int,
                         crop_size: int, flip_prob: float = 0.0) -> tf.Tensor:
  """The classic video fine-tuning augmentation (PRP, TSP): resize the short side to
  `resize_short_side`, one random `crop_size` window for all frames, then a
  horizontal flip with probability `flip_prob`. [T, H, W, C] -> float32
  [T, crop_size, crop_size, C] in the input's value range."""
  if resize_short_side < crop_size:
    raise ValueError(f"resize_short_side={resize_short_side} must be >= crop_size={crop_size}.")
  crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(check_seed(seed), 2))
  clip = random_crop(decode.resize_short_side(clip, resize_short_side), crop_seed, crop_size)
  return random_flip_left_right(clip, flip_seed, flip_prob)


# ---- VGG-style crop (VATT's pretraining) -----------------------------------------
# google-research vatt/data/dataloaders.py `PreTrainLoader` with
# configs/dataset.py `Pretrain` (crop_resize_style='VGG', scale_jitter=True,
# min_resize=224, frame_size=224): DMVR's processors `scale_jitter_augm`
# (prob 0.8), `resize_smallest`, `crop_image(random=True)`, then
# `random_flip_left_right`, each with one draw per clip.

def random_scale_jitter(clip: tf.Tensor, seed: tf.Tensor, prob: float = 0.8,
                        scale_range: Sequence[float] = (0.8, 1.2)) -> tf.Tensor:
  """With probability `prob`, resizes every frame to (int(H * s_h), int(W * s_w)).

  s_h and s_w are drawn independently and uniformly from `scale_range` (so the
  aspect ratio changes too), once per clip; bilinear, as DMVR's
  `scale_jitter_augm`. [T, H, W, C] float -> [T, H', W', C].
  """
  clip = _check_clip(clip)
  seed = check_seed(seed)
  prob = _check_probability(prob, "prob")
  low, high = _check_range(scale_range, "scale_range", 0.0, math.inf)
  scale_seed, coin_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  scales = tf.random.stateless_uniform([2], scale_seed, low, high)

  def jitter(x):
    hw = tf.cast(tf.shape(x, out_type=tf.int32)[1:3], tf.float32)
    new_hw = tf.maximum(tf.cast(hw * scales, tf.int32), 1)  # truncation, as DMVR
    return tf.image.resize(x, new_hw, method="bilinear")

  return _with_probability(prob, coin_seed, jitter, clip)


def resize_smallest(clip: tf.Tensor, min_resize: int) -> tf.Tensor:
  """DMVR's `resize_smallest`: frames of H x W become max(m, H*m // W) x max(m, W*m // H)
  (m = `min_resize`, floor division), bilinear; unchanged if already that size.

  (Not `decode.resize_short_side`, which rounds the long side instead of
  truncating it.) [T, H, W, C] float -> [T, H', W', C].
  """
  clip = _check_clip(clip)
  min_resize = _check_size(min_resize, "min_resize")
  hw = tf.shape(clip, out_type=tf.int32)[1:3]
  height, width = hw[0], hw[1]
  new_hw = tf.stack([tf.maximum(min_resize, height * min_resize // width),
                     tf.maximum(min_resize, width * min_resize // height)])
  return tf.cond(tf.reduce_all(tf.equal(new_hw, hw)), lambda: clip,
                 lambda: tf.image.resize(clip, new_hw, method="bilinear"))


def vgg_style_crop(clip: tf.Tensor, seed: tf.Tensor, crop_size: int, min_resize: int,
                   scale_jitter_prob: float = 0.8,
                   scale_range: Sequence[float] = (0.8, 1.2)) -> tf.Tensor:
  """VATT's pretraining crop: `random_scale_jitter`, `resize_smallest(min_resize)`,
  then one random `crop_size` window for all frames (`random_crop`).

  [T, H, W, 3] float in [0, 1] -> float32 [T, crop_size, crop_size, 3]. Needs
  min_resize >= crop_size. VATT: min_resize = crop_size = 224, so the crop
  spans the short side and the jitter only changes the aspect ratio.
  """
  if min_resize < crop_size:
    raise ValueError(f"min_resize={min_resize} must be >= crop_size={crop_size}.")
  jitter_seed, crop_seed = tf.unstack(tf.random.experimental.stateless_split(check_seed(seed),
                                                                             2))
  clip = random_scale_jitter(clip, jitter_seed, scale_jitter_prob, scale_range)
  return random_crop(resize_smallest(clip, min_resize), crop_seed, crop_size)


# ---- flip, colour, grayscale, blur, solarize ------------------------------------

def random_flip_left_right(clip: tf.Tensor, seed: tf.Tensor, prob: float = 0.5) -> tf.Tensor:
  """Mirrors every frame horizontally, with probability `prob` per clip. Shape kept."""
  clip = _check_clip(clip)
  seed = check_seed(seed)
  prob = _check_probability(prob, "prob")
  return _with_probability(prob, seed, lambda x: tf.reverse(x, axis=[2]), clip)


COLOR_OPS = ("brightness", "contrast", "saturation", "hue")


def sample_color_jitter_params(seed: tf.Tensor, strength: float = 1.0) -> dict:
  """Draws one clip's colour-jitter parameters (SimCLR style, strength s).

  With lo = max(0, 1 - 0.8 s), hi = 1 + 0.8 s and d = min(0.2 s, 0.5):
  brightness, contrast, saturation ~ U[lo, hi] (float32 scalars),
  hue_delta ~ U[-d, d], and `order`, a uniformly random permutation of
  0..3 (int32 [4]) indexing `COLOR_OPS`. Contrast and saturation factors are
  floored at 0 like brightness (a negative factor would invert the image).
  """
  seed = check_seed(seed)
  if not isinstance(strength, numbers.Real) or strength < 0:
    raise ValueError(f"strength must be a number >= 0, got {strength!r}.")
  factor_seed, order_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  low, high = max(0.0, 1.0 - 0.8 * strength), 1.0 + 0.8 * strength
  max_hue_delta = min(0.2 * strength, 0.5)
  u = tf.random.stateless_uniform([4], factor_seed)
  brightness, contrast, saturation = tf.unstack(low + u[:3] * (high - low))
  return {
      "brightness": brightness,
      "contrast": contrast,
      "saturation": saturation,
      "hue_delta": (2.0 * u[3] - 1.0) * max_hue_delta,
      "order": tf.cast(tf.argsort(tf.random.stateless_uniform([4], order_seed)), tf.int32),
  }


def adjust_clip_contrast(clip: tf.Tensor, factor: FloatLike) -> tf.Tensor:
  """Contrast of a whole clip: mean + (x - mean) * factor, where mean is each
  channel's mean over all frames and pixels (float32 [T, H, W, C] -> same).

  `tf.image.adjust_contrast` of the clip reshaped to one [T*H, W, C] image (what
  CVRL's `random_color_jitter_3d` does); not clipped here.
  """
  clip = tf.convert_to_tensor(clip)
  mean = tf.reduce_mean(clip, axis=[0, 1, 2], keepdims=True)
  return (clip - mean) * tf.cast(factor, clip.dtype) + mean


def adjust_color(
    clip: tf.Tensor,
    brightness: FloatLike,
    contrast: FloatLike,
    saturation: FloatLike,
    hue_delta: FloatLike,
    order: tf.Tensor,
) -> tf.Tensor:
  """Applies the four colour ops in `order`, clipping to [0, 1] after each. Shape kept.

  Ops (indexed as in `COLOR_OPS`): 0 brightness: x * brightness; 1 contrast:
  `adjust_clip_contrast` (mean + (x - mean) * contrast with the WHOLE CLIP's
  per-channel mean); 2 saturation: `tf.image.adjust_saturation`; 3 hue:
  `tf.image.adjust_hue` (shift in turns). These follow CVRL's reference,
  tensorflow/models official/projects/video_ssl/ops/video_ssl_preprocess_ops.py
  `random_color_jitter_3d`, which reshapes the clip into one tall image before
  SimCLR's per-image jitter: brightness, saturation and hue act per pixel, so
  only the contrast sees the difference.
  `order` is an int32 [4] permutation of 0..3, applied with `tf.switch_case`
  in 4 unrolled slots, so it may be a tensor drawn at run time.
  """
  clip = _check_clip(clip)
  order = tf.convert_to_tensor(order)
  if not order.dtype.is_integer or not order.shape.is_compatible_with([4]):
    raise ValueError(f"order must be an int [4] permutation, got {order.dtype} {order.shape}.")
  ops = [
      lambda x: x * brightness,
      lambda x: adjust_clip_contrast(x, contrast),
      lambda x: tf.image.adjust_saturation(x, saturation),
      lambda x: tf.image.adjust_hue(x, hue_delta),
  ]
  for slot in range(4):  # unrolled over the 4 op slots, not over frames
    clip = tf.switch_case(
        tf.cast(order[slot], tf.int32),
        [lambda op=op, x=clip: tf.clip_by_value(op(x), 0.0, 1.0) for op in ops])
  return clip


def color_jitter(
    clip: tf.Tensor, seed: tf.Tensor, strength: float = 1.0, prob: float = 0.8
) -> tf.Tensor:
  """SimCLR-style colour jitter with ONE set of parameters per clip. Shape kept, values in [0, 1].

  With probability `prob`, applies `adjust_color(clip,
  **sample_color_jitter_params(params_seed, strength))`, where
  `apply_seed, params_seed = tf.unstack(stateless_split(seed, 2))`:
  brightness x U[max(0, 1-0.8s), 1+0.8s], contrast (around the clip's mean),
  saturation, hue shift U[-0.2s, 0.2s], in a random order, clipped after each.
  """
  clip = _check_clip(clip)
  seed = check_seed(seed)
  prob = _check_probability(prob, "prob")
  apply_seed, params_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  params = sample_color_jitter_params(params_seed, strength)
  return _with_probability(prob, apply_seed, lambda x: adjust_color(x, **params), clip)


def random_grayscale(clip: tf.Tensor, seed: tf.Tensor, prob: float = 0.2) -> tf.Tensor:
  """Turns the whole clip gray (luma, 3 equal channels) with probability `prob`."""
  clip = _check_clip(clip)
  seed = check_seed(seed)
  prob = _check_probability(prob, "prob")
  return _with_probability(
      prob, seed, lambda x: tf.tile(tf.image.rgb_to_grayscale(x), [1, 1, 1, 3]), clip)


def default_blur_kernel_size(side: int) -> int:
  """CVRL's blur kernel for a side of `side` pixels: ~10% of it, odd.

  2 * (side // 20) + 1, the size CVRL's reference ends up with
  (video_ssl_preprocess_ops.py `random_blur` asks for side // 10 taps and
  `gaussian_blur` makes that odd, radius = half of it): 224 -> 23,
  112 -> 11, 32 -> 3, and 1 (no blur) below 20 pixels.
  """
  return 2 * (side // 20) + 1


def _zero_padded_convolution_matrix(size: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
  """[size, size] matrix M such that M @ v is `v` convolved with the odd-length
  `kernel` after zero padding ('SAME' convolution: taps outside the signal
  read 0)."""
  radius = tf.shape(kernel)[0] // 2
  rows = tf.range(size)
  taps = rows[None, :] - rows[:, None] + radius  # [size, size]: kernel tap of (out, in)
  inside = (taps >= 0) & (taps <= 2 * radius)
  return tf.where(inside, tf.gather(kernel, tf.clip_by_value(taps, 0, 2 * radius)), 0.0)


def gaussian_blur(clip: tf.Tensor, sigma: FloatLike, kernel_size: IntLike) -> tf.Tensor:
  """Gaussian blur of every frame with one kernel: [T, H, W, C] float -> same shape.

  Separable: a normalised 1-D Gaussian of `kernel_size` taps (odd) and std
  `sigma` (> 0) is applied along width, then height, with ZERO padding
  ('SAME'), as CVRL's reference (video_ssl_preprocess_ops.py `gaussian_blur`:
  two `tf.nn.depthwise_conv2d` with padding='SAME'), so pixels within
  kernel_size // 2 of the border darken towards 0. Each pass is one matrix
  product with a banded [W, W] / [H, H] matrix over all frames and channels at
  once: on CPU ~10x faster than tf.nn.depthwise_conv2d. Outputs stay within
  [0, max(input)] for inputs >= 0 (up to float rounding). Kernels wider than
  the frame are fine.
  """
  clip = tf.convert_to_tensor(clip)
  if not clip.dtype.is_floating or clip.shape.rank not in (None, 4):
    raise ValueError(f"clip must be a float [T, H, W, C] tensor, got {clip.dtype} {clip.shape}.")
  static_kernel = tf.get_static_value(kernel_size)
  if static_kernel is not None and (int(static_kernel) < 1 or int(static_kernel) % 2 == 0):
    raise ValueError(f"kernel_size must be odd and >= 1, got {static_kernel}.")
  static_sigma = tf.get_static_value(sigma)
  if static_sigma is not None and float(static_sigma) <= 0:
    raise ValueError(f"sigma must be > 0, got {static_sigma}.")
  clip = tf.cast(clip, tf.float32)
  radius = tf.cast(kernel_size, tf.int32) // 2
  taps = tf.cast(tf.range(-radius, radius + 1), tf.float32)
  sigma = tf.cast(sigma, tf.float32)
  kernel = tf.exp(-tf.square(taps) / (2.0 * tf.square(sigma)))
  kernel /= tf.reduce_sum(kernel)
  height, width = tf.unstack(tf.shape(clip)[1:3])
  channels_first = tf.transpose(clip, [0, 3, 1, 2])  # [T, C, H, W]
  blurred = tf.matmul(
      channels_first, _zero_padded_convolution_matrix(width, kernel), transpose_b=True)
  blurred = tf.matmul(_zero_padded_convolution_matrix(height, kernel), blurred)
  return tf.ensure_shape(tf.transpose(blurred, [0, 2, 3, 1]), clip.shape)


def random_gaussian_blur(
    clip: tf.Tensor,
    seed: tf.Tensor,
    prob: float,
    sigma_range: Sequence[float] = (0.1, 2.0),
    kernel_size: Optional[int] = None,
) -> tf.Tensor:
  """`gaussian_blur` with sigma ~ U(sigma_range), with probability `prob` per clip.

  kernel_size None -> `default_blur_kernel_size(min(H, W))` (~10% of the side;
  CVRL's reference takes the crop size, its crops being square).
  """
  clip = _check_clip(clip)
  seed = check_seed(seed)
  prob = _check_probability(prob, "prob")
  sigma_lo, sigma_hi = _check_range(sigma_range, "sigma_range", 0.0)
  if kernel_size is None:
    static_hw = clip.shape[1:3]
    if static_hw.is_fully_defined():
      kernel_size = default_blur_kernel_size(min(static_hw))
    else:
      kernel_size = 2 * (tf.reduce_min(tf.shape(clip)[1:3]) // 20) + 1
  elif not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
    raise ValueError(f"kernel_size must be an odd Python int >= 1 or None, got {kernel_size!r}.")
  apply_seed, sigma_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  sigma = tf.random.stateless_uniform([], sigma_seed, minval=sigma_lo, maxval=sigma_hi)
  # The clip guards against float rounding just above 1 (rows of weights sum to <= 1).
  return _with_probability(
      prob, apply_seed,
      lambda x: tf.clip_by_value(gaussian_blur(x, sigma, kernel_size), 0.0, 1.0), clip)


def random_solarize(
    clip: tf.Tensor, seed: tf.Tensor, prob: float, threshold: float = 0.5
) -> tf.Tensor:
  """Solarizes the clip (x -> x if x < threshold else 1 - x) with probability `prob`."""
  clip = _check_clip(clip)
  seed = check_seed(seed)
  prob = _check_probability(prob, "prob")
  return _with_probability(
      prob, seed, lambda x: tf.where(x < threshold, x, 1.0 - x), clip)


# ---- the CVRL view -----------------------------------------------------------

def split_cvrl_seed(seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """(crop_seed, after_crop_seed): the two sub-seeds `cvrl_augment_clip` uses.

  Lets a pipeline decode only the crop region and still get
  `cvrl_augment_clip(frames / 255, seed, ...)`'s view (up to float rounding and
  `decode.decode_frames_and_crop`'s JPEG rim):
    crop_seed, after_seed = split_cvrl_seed(seed)
    height, width = tf.unstack(decode.frame_size(frames))
    box = sample_distorted_crop_box(crop_seed, height, width, ...)
    cropped = decode.decode_frames_and_crop(frames, indices, box)
    clip = tf.image.resize(tf.cast(cropped, tf.float32) / 255, [size, size])
    view = cvrl_augment_cropped_clip(clip, after_seed, ...)
  """
  seed = check_seed(seed)
  crop_seed, after_crop_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  return crop_seed, after_crop_seed


def cvrl_geometry(
    seed: tf.Tensor,
    height: IntLike,
    width: IntLike,
    *,
    area_range: Sequence[float] = (0.3, 1.0),
    aspect_ratio_range: Sequence[float] = (0.5, 2.0),
    flip_prob: float = 0.5,
) -> tuple[tf.Tensor, tf.Tensor]:
  """(crop box int32 [4], flipped bool []): the geometry `cvrl_augment_clip(clip, seed,
  ...)` applies to a height x width clip, for a paired clip of another modality
  (optical flow: `jvrl.data.flow_clips.augment_flow_clip`) to get the same crop
  and flip."""
  crop_seed, after_crop_seed = split_cvrl_seed(seed)
  box = sample_crop_box(crop_seed, height, width, area_range, aspect_ratio_range,
                        sampler=CVRL_CROP_BOX_SAMPLER)
  flip_seed = tf.random.experimental.stateless_split(after_crop_seed, 5)[0]
  prob = _check_probability(flip_prob, "flip_prob")
  if prob in (0.0, 1.0):  # as `_with_probability`: no draw
    return box, tf.constant(prob == 1.0)
  return box, tf.random.stateless_uniform([], flip_seed) < prob


def cvrl_augment_cropped_clip(
    clip: tf.Tensor,
    seed: tf.Tensor,
    *,
    blur_prob: float,
    solarize_prob: float,
    color_strength: float = 1.0,
    color_prob: float = 0.8,
    grayscale_prob: float = 0.2,
    flip_prob: float = 0.5,
) -> tf.Tensor:
  """CVRL's augmentation after the crop: flip -> colour jitter -> grayscale -> blur -> solarize.

  clip: float32 [T, S, S, 3] in [0, 1] (already cropped and resized);
  returns the same shape, values in [0, 1].
  """
  clip = _check_clip(clip)
  seed = check_seed(seed)
  flip_seed, color_seed, gray_seed, blur_seed, solarize_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 5))
  clip = random_flip_left_right(clip, flip_seed, flip_prob)
  clip = color_jitter(clip, color_seed, color_strength, color_prob)
  clip = random_grayscale(clip, gray_seed, grayscale_prob)
  clip = random_gaussian_blur(clip, blur_seed, blur_prob)
  clip = random_solarize(clip, solarize_seed, solarize_prob)
  return tf.clip_by_value(clip, 0.0, 1.0)  # exact range even if the resize rounded up


def cvrl_augment_clip(
    clip: tf.Tensor,
    seed: tf.Tensor,
    *,
    crop_size: int,
    blur_prob: float,
    solarize_prob: float,
    color_strength: float = 1.0,
    color_prob: float = 0.8,
    grayscale_prob: float = 0.2,
    area_range: Sequence[float] = (0.3, 1.0),
    aspect_ratio_range: Sequence[float] = (0.5, 2.0),
    flip_prob: float = 0.5,
) -> tf.Tensor:
  """One CVRL view: float32 [T, H, W, 3] in [0, 1] -> [T, crop_size, crop_size, 3] in [0, 1].

  Random resized crop (box from `sample_distorted_crop_box`) -> flip -> colour
  jitter -> grayscale -> blur -> solarize, every parameter drawn once per clip:
  the order of CVRL's reference (video_ssl_input.py `_process_image`). CVRL
  uses blur_prob=1.0, solarize_prob=0.0 for view 1 and blur_prob=0.1,
  solarize_prob=0.2 for view 2. Deviation kept: the reference casts the resized
  crop back to uint8 (truncating) before scaling to [0, 1]; here it stays float.
  """
  clip = _check_clip(clip)
  crop_seed, after_crop_seed = split_cvrl_seed(seed)
  clip = random_resized_crop(clip, crop_seed, crop_size, area_range, aspect_ratio_range,
                             sampler=CVRL_CROP_BOX_SAMPLER)
  clip = cvrl_augment_cropped_clip(
      clip, after_crop_seed, blur_prob=blur_prob, solarize_prob=solarize_prob,
      color_strength=color_strength, color_prob=color_prob,
      grayscale_prob=grayscale_prob, flip_prob=flip_prob)
  return tf.ensure_shape(clip, [clip.shape[0], crop_size, crop_size, 3])


# ---- evaluation views ----------------------------------------------------------

def spatial_crops(clip: tf.Tensor, size: int, num_crops: int) -> tf.Tensor:
  """Deterministic test crops of the whole clip: [T, H, W, C] -> [num_crops, T, size, size, C].

  The crops are centred on the shorter side and spread evenly along the longer
  side (height when H > W, else width): 1 -> the centre crop; 3 -> left,
  centre, right (top, centre, bottom for portrait frames), the standard 3-crop
  test protocol; n -> offsets round(linspace(0, long - size, n)).
  Requires H >= size and W >= size. Dtype kept.
  """
  size = _check_size(size, "size")
  num_crops = _check_size(num_crops, "num_crops")
  clip = tf.convert_to_tensor(clip)
  if clip.shape.rank != 4:
    raise ValueError(f"clip must have shape [T, H, W, C], got {clip.shape}.")
  for axis, name in ((1, "height"), (2, "width")):
    if clip.shape[axis] is not None and clip.shape[axis] < size:
      raise ValueError(f"clip {name} {clip.shape[axis]} is smaller than crop size {size}.")
  height, width = tf.unstack(tf.shape(clip, out_type=tf.int32)[1:3])
  big_enough = tf.debugging.assert_greater_equal(
      tf.minimum(height, width), size, message="clip is smaller than the crop size")
  if num_crops == 1:
    positions = tf.constant([0.5])
  else:
    positions = tf.linspace(0.0, 1.0, num_crops)
  portrait = height > width
  long_offsets = tf.cast(tf.floor(
      positions * tf.cast(tf.maximum(height, width) - size, tf.float32) + 0.5), tf.int32)
  short_offset = tf.fill([num_crops], (tf.minimum(height, width) - size) // 2)
  offsets_y = tf.where(portrait, long_offsets, short_offset)
  offsets_x = tf.where(portrait, short_offset, long_offsets)
  with tf.control_dependencies([big_enough]):
    crops = [clip[:, offsets_y[i]:offsets_y[i] + size, offsets_x[i]:offsets_x[i] + size, :]
             for i in range(num_crops)]  # a few static crops, not frames
  return tf.ensure_shape(tf.stack(crops), [num_crops, clip.shape[0], size, size, clip.shape[3]])
