"""Tests of jvrl.data.prepare.progress: the progress line."""
import io

from jvrl.data.prepare import progress


def test_format_seconds():
  assert [progress.format_seconds(s) for s in (0, 42.4, 187, 7500)] == ["0s", "42s", "3m07s",
                                                                        "2h05m"]


def test_lines_go_to_a_non_terminal_stream_at_most_every_interval_and_at_the_end():
  stream = io.StringIO()
  bar = progress.Progress(3, stream=stream, log_every=3600)
  bar.update(10, failed=False)
  bar.update(0, failed=True)
  bar.update(20, failed=False)
  lines = stream.getvalue().splitlines()
  assert len(lines) == 2  # The first update, then the last (the interval never passed).
  assert "3/3 videos 100%" in lines[-1] and "1 failed" in lines[-1]
  assert (bar.videos, bar.frames, bar.failed) == (3, 30, 1)


def test_disabled_or_empty_prints_nothing():
  stream = io.StringIO()
  progress.Progress(2, stream=stream, enabled=False).update(5, failed=False)
  progress.Progress(0, stream=stream).line()
  assert stream.getvalue() == ""
