"""Drawing jvrl's synthetic videos: textured backgrounds and striped objects.

Shared by the built-in datasets, the trimmed motion videos (`synthetic.py`)
and the untrimmed ones (`synthetic_untrimmed.py`). A dataset decides where
the object is in every frame (an `ObjectPath`) and where the appearance is
redrawn; `render_appearance_segments` then draws, per appearance segment, a
new smooth drifting background and object colour (and optionally a new shape
and size), with several copies of the object following the same path;
`quantize` adds pixel noise and returns uint8 frames.

Conventions: image coordinates, x to the right, y DOWN; angles positive
clockwise as seen on screen. Positions are unwrapped: objects wrap around the
frame edges (torus-style) when drawn. Pixel quantities given "at 64x64" are
scaled with `pixel_scale`.
"""
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np

REFERENCE_SIZE = 64  # Pixel quantities in dataset configs are for 64x64 frames.

SHAPES = ("disk", "square", "triangle", "ring", "cross")
# Named object colours (RGB in [0, 1]); the name goes into the captions.
COLOURS: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("red", (0.9, 0.1, 0.1)), ("green", (0.1, 0.8, 0.2)), ("blue", (0.1, 0.2, 0.9)),
    ("yellow", (0.95, 0.9, 0.1)), ("cyan", (0.1, 0.85, 0.9)), ("magenta", (0.9, 0.1, 0.85)),
    ("orange", (1.0, 0.55, 0.05)), ("purple", (0.5, 0.1, 0.7)), ("white", (0.97, 0.97, 0.97)),
    ("black", (0.05, 0.05, 0.05)),
)
_MIN_OBJECT_CONTRAST = 0.45  # Min RGB distance between object and background mean.


class ObjectPath(NamedTuple):
  """Per-frame object state, arrays of shape [T]."""
  center_x: np.ndarray  # px, unwrapped (wrapped at render time)
  center_y: np.ndarray
  angle: np.ndarray     # radians, positive = clockwise on screen
  diameter: np.ndarray  # px


def pixel_scale(height: int, width: int) -> float:
  """Factor from pixel quantities at 64x64 to a height x width frame."""
  return min(height, width) / REFERENCE_SIZE


def shape_distance(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
  """Signed distance (approx.) to a shape of radius ~1 in object coordinates."""
  if shape == "disk":
    return np.hypot(u, v) - 1.0
  if shape == "square":
    return np.maximum(np.abs(u), np.abs(v)) - 0.75
  if shape == "triangle":  # equilateral, one vertex up (-v), inradius 0.55
    normals = np.deg2rad(np.array([90.0, 210.0, 330.0]))
    faces = [np.cos(a) * u + np.sin(a) * v for a in normals]
    return np.maximum(np.maximum(faces[0], faces[1]), faces[2]) - 0.55
  if shape == "ring":
    return np.abs(np.hypot(u, v) - 0.7) - 0.3
  if shape == "cross":
    au, av = np.abs(u), np.abs(v)
    return np.minimum(np.maximum(au - 1.0, av - 0.3), np.maximum(au - 0.3, av - 1.0))
  raise ValueError(f"Unknown shape {shape!r}; expected one of {SHAPES}.")


def render_background(rng: np.random.Generator, height: int, width: int, frames: int,
                      drift_max: float) -> tuple[np.ndarray, np.ndarray]:
  """Smooth drifting colour texture: a mean colour plus 3 periodic gratings.

  `render_drifting_background` with the drift left out of the result.
  """
  frames_out, mean, _ = render_drifting_background(rng, height, width, frames, drift_max)
  return frames_out, mean


def render_drifting_background(rng: np.random.Generator, height: int, width: int, frames: int,
                               drift_max: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Smooth drifting colour texture: a mean colour plus 3 periodic gratings.

  Args:
    rng: draws the texture, its colours and its drift.
    height, width, frames: the size of the result.
    drift_max: max drift speed (px/frame at 64x64); the speed is uniform in
      [0, max], the direction uniform.

  Returns:
    (float32 [T, H, W, 3] frames, roughly in [0, 1]; float [3] mean colour;
    float [2] the drift (x, y) in pixels per frame: every frame is the
    previous one shifted by it, i.e. the background's optical flow).
  """
  scale = pixel_scale(height, width)
  num_gratings = 3
  mean = rng.uniform(0.3, 0.7, size=3)
  freqs = rng.integers(-3, 4, size=(num_gratings, 2))
  freqs[np.all(freqs == 0, axis=1)] = (1, 0)
  phases = rng.uniform(0, 2 * np.pi, size=num_gratings)
  amplitudes = rng.uniform(0.05, 0.15, size=num_gratings)
  colours = rng.uniform(-1, 1, size=(num_gratings, 3)) * amplitudes[:, None]
  drift_speed = rng.uniform(0, drift_max) * scale
  drift_heading = rng.uniform(0, 2 * np.pi)

  # Grating k at pixel (y, x) of frame t: sin(spatial[k, y, x] + temporal[k, t]),
  # the pattern shifted by the drift. sin(a + b) = sin a cos b + cos a sin b
  # makes it one [T, 2K] x [2K, H*W*3] product (einsum: no BLAS threads, which
  # are erratic on a loaded machine).
  t = np.arange(frames)
  shift_x = drift_speed * np.cos(drift_heading) * t
  shift_y = drift_speed * np.sin(drift_heading) * t
  y, x = np.mgrid[0:height, 0:width]
  spatial = 2 * np.pi * (freqs[:, 0, None, None] * x / width +
                         freqs[:, 1, None, None] * y / height)  # [K, H, W]
  temporal = phases[:, None] - 2 * np.pi * (freqs[:, 0, None] * shift_x / width +
                                            freqs[:, 1, None] * shift_y / height)  # [K, T]
  time_factors = np.concatenate([np.cos(temporal), np.sin(temporal)]).T  # [T, 2K]
  space_factors = np.concatenate([np.sin(spatial), np.cos(spatial)])  # [2K, H, W]
  coloured = space_factors[..., None] * np.concatenate([colours, colours])[:, None, None, :]
  background = np.einsum("tk,kn->tn", time_factors.astype(np.float32),
                         coloured.reshape(2 * num_gratings, -1).astype(np.float32))
  background += np.tile(mean, height * width).astype(np.float32)  # mean of every (y, x, c)
  drift = np.array([drift_speed * np.cos(drift_heading), drift_speed * np.sin(drift_heading)])
  return background.reshape(frames, height, width, 3), mean, drift


def choose_colour(rng: np.random.Generator,
                   background_mean: np.ndarray) -> tuple[str, np.ndarray]:
  """A named colour far enough from the background mean; returns (name, rgb)."""
  names = [name for name, rgb in COLOURS
           if np.linalg.norm(np.array(rgb) - background_mean) >= _MIN_OBJECT_CONTRAST]
  name = names[rng.integers(len(names))]
  rgb = np.clip(np.array(dict(COLOURS)[name]) + rng.uniform(-0.05, 0.05, size=3), 0, 1)
  return name, rgb


def _object_window(center: np.ndarray, extent: int, size: int) -> np.ndarray:
  """Pixel indices [T, extent] of a window around each frame's centre, wrapped."""
  start = np.floor(np.mod(center, size)).astype(np.int64) - extent // 2
  return np.mod(start[:, None] + np.arange(extent), size)


def composite_object(rng: np.random.Generator, frames: np.ndarray, path: ObjectPath,
                     shape: str, colour: np.ndarray) -> np.ndarray:
  """Draws the striped object over `frames` in place; returns its alpha [T, H, W].

  Only a window around the object is rendered (wrapping around the frame
  edges), so the cost does not grow with the frame size.
  """
  frames_count, height, width, _ = frames.shape
  # Every shape fits in a disk of 1.1 radius; +3 px margin for anti-aliasing.
  extent = int(np.ceil(1.1 * path.diameter.max())) + 3
  rows = _object_window(path.center_y, min(extent, height), height)  # [T, h]
  cols = _object_window(path.center_x, min(extent, width), width)  # [T, w]
  cy = np.mod(path.center_y, height)[:, None, None]
  cx = np.mod(path.center_x, width)[:, None, None]
  # Offsets on the torus, in [-size/2, size/2): the object wraps around the edges.
  dy = np.mod(rows[:, :, None] - cy + height / 2, height) - height / 2
  dx = np.mod(cols[:, None, :] - cx + width / 2, width) - width / 2
  radius = (path.diameter / 2)[:, None, None]
  cos, sin = np.cos(path.angle)[:, None, None], np.sin(path.angle)[:, None, None]
  u = (cos * dx + sin * dy) / radius
  v = (-sin * dx + cos * dy) / radius
  alpha = np.clip(0.5 - shape_distance(shape, u, v) * radius, 0.0, 1.0)[..., None]

  # Stripes across the object's own u axis make rotation visible on any shape.
  # They are a darker (or, on dark colours, lighter) shade of the object's
  # colour covering ~40% of it, so the captioned colour stays the dominant one.
  stripe_count = rng.uniform(1.5, 3.0)
  stripe_contrast = rng.uniform(0.4, 0.7)
  if colour.mean() > 0.4:
    stripe_colour = colour * (1.0 - stripe_contrast)
  else:
    stripe_colour = colour + stripe_contrast * (1.0 - colour)
  wave = np.sin(np.pi * stripe_count * u + rng.uniform(0, 2 * np.pi))
  stripes = np.clip(0.5 + 2.0 * (wave - 0.3), 0.0, 1.0)[..., None]
  rgb = colour + stripes * (stripe_colour - colour)

  index = (np.arange(frames_count)[:, None, None], rows[:, :, None], cols[:, None, :])
  window = frames[index]
  frames[index] = (window + alpha * (rgb - window)).astype(frames.dtype)
  full_alpha = np.zeros((frames_count, height, width), np.float32)
  full_alpha[index] = alpha[..., 0]
  return full_alpha


def object_offsets(rng: np.random.Generator, num_objects: int, height: int,
                   width: int) -> np.ndarray:
  """[num_objects, 2] (x, y) offsets of the copies: a jittered grid over the frame.

  The first copy has offset (0, 0) (it is the object the path places).
  """
  cols = int(np.ceil(np.sqrt(num_objects)))
  rows = int(np.ceil(num_objects / cols))
  cells = np.stack(np.meshgrid(np.arange(cols), np.arange(rows)), -1).reshape(-1, 2)
  cells = cells[:num_objects].astype(np.float64)
  jitter = rng.uniform(-0.15, 0.15, size=cells.shape)
  jitter[0] = 0.0
  return (cells + jitter) * np.array([width / cols, height / rows])




# Redraws the object at an appearance cut: (rng, the segment's path) -> (shape, path).
RedrawObject = Callable[[np.random.Generator, ObjectPath], tuple[str, ObjectPath]]


def object_flow(path: ObjectPath, center_x: np.ndarray, center_y: np.ndarray,
                height: int, width: int) -> np.ndarray:
  """Exact flow [T - 1, H, W, 2] of every pixel of an object that follows `path`.

  A point at torus offset (dx, dy) from the object's centre in frame t moves
  with the object's translation, rotation and scaling to frame t + 1:
    c[t+1] + s R(a) (dx, dy),  s = diameter[t+1] / diameter[t],
    a = angle[t+1] - angle[t]  (clockwise on screen, y down),
  so its displacement is (c[t+1] - c[t]) + (s R(a) - I) (dx, dy). `center_x`,
  `center_y` [T] place this copy (the path plus its offset); the path gives
  the motion.
  """
  y, x = np.mgrid[0:height, 0:width].astype(np.float64)
  dx = np.mod(x[None] - np.mod(center_x[:-1], width)[:, None, None] + width / 2, width) - width / 2
  dy = np.mod(y[None] - np.mod(center_y[:-1], height)[:, None, None] + height / 2,
              height) - height / 2
  scale = (path.diameter[1:] / path.diameter[:-1])[:, None, None]
  turn = (path.angle[1:] - path.angle[:-1])[:, None, None]
  cos, sin = np.cos(turn), np.sin(turn)
  u = np.diff(path.center_x)[:, None, None] + scale * (cos * dx - sin * dy) - dx
  v = np.diff(path.center_y)[:, None, None] + scale * (sin * dx + cos * dy) - dy
  return np.stack([u, v], axis=-1).astype(np.float32)


def render_appearance_segments(
    rng: np.random.Generator, path: ObjectPath, starts: Sequence[int], offsets: np.ndarray,
    shape: str, *, height: int, width: int, drift_max: float,
    redraw_object: Optional[RedrawObject] = None, with_flow: bool = False,
) -> tuple:
  """Draws the video, its appearance drawn anew in every appearance segment.

  Appearance segment k covers frames [starts[k], starts[k + 1]) (the last one
  runs to the end of `path`). In each: a new background (`render_background`)
  and object colour (`choose_colour`); from the second one on, when given,
  `redraw_object(rng, segment_path)` returns a new shape and path (e.g. a new
  size); then every copy of the object is drawn, copy i following the path
  shifted by offsets[i]. The path (motion) itself goes on across segments.

  Args:
    rng: draws the appearance (in this order per segment: background, colour,
      redraw_object, then the stripes of each copy).
    path: the first copy's per-frame state, length T.
    starts: increasing start frames of the appearance segments; starts[0] == 0.
    offsets: [num_copies, 2] (x, y) offsets of the copies (`object_offsets`).
    shape: the object's shape in the first segment (one of `SHAPES`).
    height, width: frame size.
    drift_max: see `render_background`.
    redraw_object: optional (rng, segment path) -> (shape, segment path).
    with_flow: also return the exact optical flow (the random draws, hence
      the frames, are the same either way).

  Returns:
    (float32 frames [T, H, W, 3] roughly in [0, 1]; float32 [T, H, W] coverage
    of the FIRST copy; the object colour's name per appearance segment), and
    with `with_flow` a fourth item: float32 [T - 1, H, W, 2] the flow from
    frame t to t + 1 in pixels (u right, v down): the topmost copy's motion
    (`object_flow`) where a copy covers at least half the pixel in frame t,
    else the drift of frame t's background. Across an appearance cut it is the
    motion of frame t's content (the object goes on moving; the background
    that follows is new).
  """
  num_frames = len(path.center_x)
  if not starts or starts[0] != 0:
    raise ValueError(f"starts must begin with frame 0, got {list(starts)[:3]}.")
  ends = list(starts[1:]) + [num_frames]
  segment_frames, alphas, colour_names, flows = [], [], [], []
  for start, end in zip(starts, ends):
    frames, background_mean, drift = render_drifting_background(
        rng, height, width, end - start, drift_max)
    colour_name, colour = choose_colour(rng, background_mean)
    colour_names.append(colour_name)
    segment_path = ObjectPath(*(field[start:end] for field in path))
    if redraw_object is not None and start > 0:
      shape, segment_path = redraw_object(rng, segment_path)
    # The flow of frames start .. min(end, T - 1) - 1: to the next frame.
    flow_end = min(end, num_frames - 1)
    flow = np.broadcast_to(drift.astype(np.float32),
                           (max(flow_end - start, 0), height, width, 2)).copy()
    motion = ObjectPath(*(field[start:flow_end + 1] for field in path))
    for copy_index, (offset_x, offset_y) in enumerate(offsets):
      copy = segment_path._replace(center_x=segment_path.center_x + offset_x,
                                   center_y=segment_path.center_y + offset_y)
      copy_alpha = composite_object(rng, frames, copy, shape, colour)
      if copy_index == 0:
        alphas.append(copy_alpha)
      if with_flow and flow_end > start:
        covered = copy_alpha[:flow_end - start] >= 0.5
        copy_flow = object_flow(motion, motion.center_x + offset_x, motion.center_y + offset_y,
                                height, width)
        flow = np.where(covered[..., None], copy_flow, flow)
    flows.append(flow)
    segment_frames.append(frames)
  result = (np.concatenate(segment_frames), np.concatenate(alphas), colour_names)
  if with_flow:
    return result + (np.concatenate(flows).astype(np.float32),)
  return result


def quantize(rng: np.random.Generator, frames: np.ndarray, noise_std: float) -> np.ndarray:
  """Adds uniform per-pixel noise of std `noise_std` to float [0, 1] frames (in
  place) and rounds them to uint8."""
  # Uniform noise: cheap to draw.
  noise = rng.random(size=frames.shape, dtype=np.float32) - np.float32(0.5)
  noise *= np.float32(np.sqrt(12.0) * noise_std)
  frames += noise
  frames *= np.float32(255.0)
  frames += np.float32(0.5)  # Round to nearest on the cast below.
  np.clip(frames, 0.0, 255.0, out=frames)
  return frames.astype(np.uint8)
