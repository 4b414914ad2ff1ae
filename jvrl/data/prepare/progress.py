"""A one-line progress bar on stderr: videos done, frames/s, failures, ETA.

On a terminal the line is redrawn in place (at most 4 times a second); when
stderr is a file or a pipe a new line is printed every `log_every` seconds.
"""
import sys
import time
from typing import Optional, TextIO

_BAR_WIDTH = 24


def format_seconds(seconds: float) -> str:
  """'42s', '3m07s' or '2h05m'."""
  seconds = max(0, int(round(seconds)))
  if seconds < 60:
    return f"{seconds}s"
  if seconds < 3600:
    return f"{seconds // 60}m{seconds % 60:02d}s"
  return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Progress:
  """Counts finished videos and frames and shows the rate."""

  def __init__(self, total: int, *, stream: Optional[TextIO] = None, log_every: float = 10.0,
               enabled: bool = True):
    """`total` videos are expected."""
    self.total = total
    self.videos = 0
    self.frames = 0
    self.failed = 0
    self._stream = stream or sys.stderr
    self._tty = hasattr(self._stream, "isatty") and self._stream.isatty()
    self._interval = 0.25 if self._tty else log_every
    self._enabled = enabled and total > 0
    self._start = time.perf_counter()
    self._last_draw = -float("inf")

  @property
  def elapsed(self) -> float:
    """Seconds since the start."""
    return time.perf_counter() - self._start

  def line(self) -> str:
    """The current progress text."""
    fraction = self.videos / self.total if self.total else 1.0
    filled = int(round(fraction * _BAR_WIDTH))
    rate = self.frames / max(self.elapsed, 1e-9)
    eta = (self.elapsed / self.videos * (self.total - self.videos)) if self.videos else 0.0
    return (f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {self.videos}/{self.total} videos "
            f"{100 * fraction:3.0f}% | {rate:,.0f} frames/s | {self.failed} failed | "
            f"ETA {format_seconds(eta) if self.videos else '?'}")

  def update(self, frames: int, failed: bool) -> None:
    """Records one finished video (`frames` written, or a failure)."""
    self.videos += 1
    self.frames += frames
    self.failed += int(failed)
    now = time.perf_counter()
    if self._enabled and (now - self._last_draw >= self._interval or self.videos == self.total):
      self._last_draw = now
      self._draw()

  def _draw(self) -> None:
    if self._tty:
      self._stream.write("\r" + self.line())
      if self.videos == self.total:
        self._stream.write("\n")
    else:
      self._stream.write(self.line() + "\n")
    self._stream.flush()
