"""Optical flow between consecutive frames for `data/prepare_videos.py --flow` (OpenCV).

Methods (`FLOW_METHODS`):
  'tvl1'       OpenCV's Dual TV-L1 (`cv2.optflow.DualTVL1OpticalFlow_create`,
               from opencv-contrib-python-headless): the flow CoCLR, TSN and
               I3D's flow streams use; accurate and slow.
  'farneback'  OpenCV's Farneback polynomial expansion
               (`cv2.calcOpticalFlowFarneback`, levels 3, window 15): the fast
               option.
Flow is computed on the grayscale of the STORED frames (after the short-side
resize and frame-rate resampling), from frame t to frame t+1, and stored as
`flow_quantization` says (u and v clipped to +-20 px, quantised onto 0..255,
one grayscale JPEG each). Frames arrive in chunks (`FlowFrameEncoder` is the
decoder's frame encoder), so consecutive frames across a chunk boundary are
paired too.
"""
from typing import Callable

import numpy as np

from jvrl.data import flow_quantization

FLOW_METHODS = ("tvl1", "farneback")
INSTALL_HINT = ("pip install opencv-contrib-python-headless (or: pip install -e '.[data]'); "
                "TV-L1 needs the contrib build's cv2.optflow")

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def make_flow_fn(method: str) -> FlowFn:
  """(previous gray uint8 [H, W], next gray uint8 [H, W]) -> float32 flow [H, W, 2].

  Raises:
    ValueError: an unknown method, or OpenCV (or its TV-L1) is not installed.
  """
  if method not in FLOW_METHODS:
    raise ValueError(f"--flow={method!r} must be one of {FLOW_METHODS}.")
  try:
    import cv2  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ValueError(f"--flow={method} needs OpenCV: {INSTALL_HINT}.") from None
  if method == "farneback":
    def farneback(previous, following):
      return cv2.calcOpticalFlowFarneback(previous, following, None, pyr_scale=0.5, levels=3,
                                          winsize=15, iterations=3, poly_n=5, poly_sigma=1.2,
                                          flags=0).astype(np.float32)
    return farneback
  optflow = getattr(cv2, "optflow", None)
  create = getattr(optflow, "DualTVL1OpticalFlow_create", None)
  if create is None:
    raise ValueError(f"--flow=tvl1 needs OpenCV's contrib module cv2.optflow "
                     f"(OpenCV {cv2.__version__} here has none): {INSTALL_HINT}.")
  tvl1 = create()

  def dual_tvl1(previous, following):
    return tvl1.calc(previous, following, None).astype(np.float32)
  return dual_tvl1


def to_gray(frames: np.ndarray) -> np.ndarray:
  """uint8 RGB [T, H, W, 3] -> uint8 luma [T, H, W] (ITU-R 601, as cv2.COLOR_RGB2GRAY)."""
  luma = frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
  return np.clip(np.round(luma), 0, 255).astype(np.uint8)


class FlowFrameEncoder:
  """A frame encoder for `decode_video.decode_video` that also computes the flow.

  Called with each chunk of decoded frames (uint8 [t, H, W, 3]), it returns
  their JPEGs (from `frame_encoder`) and appends the flow of every new pair
  of consecutive frames to `flow_jpegs` as (u JPEG, v JPEG).
  """

  def __init__(self, method: str, frame_encoder: Callable[[np.ndarray], list]):
    self._flow = make_flow_fn(method)
    self._frame_encoder = frame_encoder
    self._previous = None
    self.flow_jpegs: list[tuple[bytes, bytes]] = []

  def __call__(self, block: np.ndarray) -> list:
    gray = to_gray(block)
    fields = []
    for frame in gray:
      if self._previous is not None:
        fields.append(self._flow(self._previous, frame))
      self._previous = frame
    if fields:
      self.flow_jpegs.extend(flow_quantization.encode_flow_jpegs(np.stack(fields)))
    return self._frame_encoder(block)
