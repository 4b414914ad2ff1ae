"""Optical flow stored as images: the quantisation and the JPEG pair of each frame.

Flow between frame t and frame t+1 of a video is a float field [H, W, 2] of
displacements in pixels (u to the right, v DOWN). Records store it the way
TSN / CoCLR's TV-L1 flow is usually stored: each component clipped to
[-bound, bound] (bound `FLOW_BOUND` = 20 px) and mapped linearly onto 0..255,

  q = round((clip(f, -bound, bound) + bound) * 255 / (2 * bound)),
  f = q * 2 * bound / 255 - bound                       (dequantised),

so the step is 2 * bound / 255 = 0.157 px and zero flow reads back as
+0.078 px (q = 128); then u and v are each one grayscale JPEG (the "pair").
A video of L frames has L - 1 flow frames (see `jvrl.data.records`).
NumPy and Pillow only: the video-preparation workers import this without
TensorFlow.
"""
import io

import numpy as np
from PIL import Image

# Displacements beyond +-FLOW_BOUND pixels are clipped before quantisation.
FLOW_BOUND = 20.0
# JPEG quality of the stored u / v images.
FLOW_JPEG_QUALITY = 95


def quantize_flow(flow: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
  """Float flow [..., 2] in pixels -> uint8 [..., 2] (see the module docstring)."""
  if not bound > 0:
    raise ValueError(f"bound must be > 0, got {bound}.")
  flow = np.clip(np.asarray(flow, np.float32), -bound, bound)
  return np.round((flow + bound) * (255.0 / (2.0 * bound))).astype(np.uint8)


def dequantize_flow(quantized: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
  """uint8 [..., 2] -> float32 flow in pixels, within one step of the original."""
  return (np.asarray(quantized, np.float32) * (2.0 * bound / 255.0) - bound).astype(np.float32)


def encode_flow_jpegs(flow: np.ndarray, bound: float = FLOW_BOUND,
                      quality: int = FLOW_JPEG_QUALITY) -> list[tuple[bytes, bytes]]:
  """Float flow [F, H, W, 2] -> F (u JPEG, v JPEG) pairs of grayscale images."""
  flow = np.asarray(flow)
  if flow.ndim != 4 or flow.shape[-1] != 2:
    raise ValueError(f"flow must be [F, H, W, 2], got shape {flow.shape}.")
  quantized = quantize_flow(flow, bound)
  pairs = []
  for frame in quantized:
    jpegs = []
    for channel in range(2):
      buffer = io.BytesIO()
      Image.fromarray(frame[..., channel], mode="L").save(buffer, format="JPEG", quality=quality)
      jpegs.append(buffer.getvalue())
    pairs.append((jpegs[0], jpegs[1]))
  return pairs


def decode_flow_jpegs(pairs, bound: float = FLOW_BOUND) -> np.ndarray:
  """(u JPEG, v JPEG) pairs -> float32 flow [F, H, W, 2] in pixels (for tests and tools)."""
  frames = [np.stack([np.asarray(Image.open(io.BytesIO(jpeg))) for jpeg in pair], axis=-1)
            for pair in pairs]
  return dequantize_flow(np.stack(frames), bound)
