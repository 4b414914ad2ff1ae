"""Tests of jvrl.data.synthetic_untrimmed_motion: continuous action and background motion."""
import numpy as np

from jvrl.data import synthetic
from jvrl.data import synthetic_untrimmed_motion as motion

_HALF = motion.LOG_SCALE_HALF_RANGE


def _path(pieces, seed=0, num_classes=10, burst_frames=(3, 6)) -> motion.Path:
  return motion.render_path(np.random.default_rng(seed), pieces, num_classes=num_classes,
                            height=64, width=64, speed_range=(1.0, 3.0),
                            burst_frames=burst_frames)


def test_actions_move_as_their_class_says():
  for seed in range(5):
    for label, (dx_sign, dy_sign) in ((0, (1, 0)), (1, (-1, 0)), (2, (0, -1)), (3, (0, 1))):
      path = _path([(label, 20)], seed)
      step = np.array([np.diff(path.center_x).mean(), np.diff(path.center_y).mean()])
      along = step @ np.array([dx_sign, dy_sign])
      assert 1.0 <= along <= 3.0 and abs(step @ np.array([dy_sign, dx_sign])) < 0.3 * along
    for label, sign in ((4, 1), (5, -1)):
      turns = np.rad2deg(np.diff(_path([(label, 20)], seed).angle)) * sign
      assert np.all((turns >= 6) & (turns <= 15))
    for label, sign in ((6, 1), (7, -1)):
      changes = np.diff(_path([(label, 40)], seed).log_scale) * sign
      assert (changes > 0).mean() > 0.9  # A sawtooth: monotone but for the wrap-arounds.
    for label, axis in ((8, 0), (9, 1)):
      path = _path([(label, 30)], seed)
      along, across = np.diff([path.center_x, path.center_y][axis]), np.diff(
          [path.center_y, path.center_x][axis])
      assert along.max() > 0.5 and along.min() < -0.5 and np.abs(across).max() < 1e-9


def test_size_stays_in_its_band():
  for seed in range(5):
    path = _path([(6, 60), (-1, 40), (7, 60)], seed)
    assert np.all(np.abs(path.log_scale) <= _HALF + 1e-9)


def test_pieces_continue_from_where_the_previous_ended():
  pieces = [(-1, 10), (0, 15), (-1, 12), (8, 15), (-1, 9), (4, 10)]
  for seed in range(10):
    path = _path(pieces, seed)
    assert len(path.center_x) == sum(length for _, length in pieces)
    steps = np.hypot(np.diff(path.center_x), np.diff(path.center_y))
    max_oscillation_speed = 2 * np.pi * synthetic.OSCILLATION_AMPLITUDE_RANGE[1] / (
        synthetic.OSCILLATION_PERIOD_RANGE[0])
    assert steps.max() <= max(3.0, max_oscillation_speed) + 1e-9
    assert np.abs(np.diff(path.angle)).max() <= np.deg2rad(15) + 1e-9


def test_background_bursts_alternate_in_one_style():
  for seed in range(20):
    bursts = motion._background_bursts(np.random.default_rng(seed), 30, 10, (3, 6))
    assert sum(count for _, count, _ in bursts) == 30
    assert all(3 <= count <= 6 for _, count, _ in bursts[:-1])
    assert len({style for style, _, _ in bursts}) == 1
    signs = [sign for _, _, sign in bursts]
    assert all(a == -b for a, b in zip(signs[:-1], signs[1:]))


def test_background_changes_direction_every_few_frames():
  """Whatever the style: a random walk, back-and-forth turns or size wobble, a wobble."""
  kinds = set()
  for seed in range(40):
    path = _path([(-1, 30)], seed)
    step_x, step_y = np.diff(path.center_x), np.diff(path.center_y)
    turns, resizes = np.diff(path.angle), np.diff(path.log_scale)
    if np.abs(turns).max() > 0:
      kinds.add("rotation")
      assert turns.max() > 0 and turns.min() < 0
    elif np.abs(resizes).max() > 0:
      kinds.add("size")
      small = resizes[np.abs(resizes) < _HALF]  # Not the wrap-arounds.
      assert small.max() > 0 and small.min() < 0
    else:
      kinds.add("position")
      headings = np.round(np.arctan2(step_y, step_x), 3)
      assert len(set(headings)) >= 4  # Turns at least at every burst.
      direction = np.array([step_x.sum(), step_y.sum()])
      assert np.hypot(*direction) < 0.8 * np.hypot(step_x, step_y).sum()  # Not a straight line.
  assert kinds == {"rotation", "size", "position"}


def _off_class_path(label, length=40, seed=0):
  rng = np.random.default_rng(seed)
  start = motion.Path(10.0, 20.0, 0.5, 0.0)
  return motion._off_class_motion(rng, label, start, length, 1.0, (1.0, 3.0))


def test_off_class_background_is_one_persistent_motion_outside_every_class():
  """Diagonal translations and oscillations, pendulum swings, size pulses: each kept
  for the whole stretch, at the classes' speeds."""
  for seed in range(10):
    for label in synthetic.TRANSLATION_HEADINGS:
      path = _off_class_path(label, seed=seed)
      heading = np.rad2deg(np.arctan2(np.diff(path.center_y), np.diff(path.center_x)))
      assert np.ptp(heading) < 1e-6  # one direction for the whole stretch
      off_axis = np.abs((heading[0] % 90) - 45)
      assert off_axis <= 15 + 1e-6  # a diagonal: 30-60 degrees from every class axis
      assert 1.0 <= np.hypot(np.diff(path.center_x), np.diff(path.center_y)).mean() <= 3.0
    for label in synthetic.OSCILLATION_CLASSES:
      path = _off_class_path(label, seed=seed)
      dx, dy = np.diff(path.center_x), np.diff(path.center_y)
      axis = np.rad2deg(np.arctan2(dy[np.abs(dx) > 1e-6], dx[np.abs(dx) > 1e-6])) % 180
      assert np.abs((axis % 90) - 45).max() <= 15 + 1e-6
    for label in synthetic.ROTATION_CLASSES:
      turns = np.diff(_off_class_path(label, length=60, seed=seed).angle)
      assert turns.max() > 0 and turns.min() < 0  # swings both ways
      mean_speed = np.rad2deg(np.abs(turns).mean())
      assert 3.0 <= mean_speed <= 20.0  # about the classes' 6-15 degrees per frame
    for label in synthetic.SIZE_CLASSES:
      changes = np.diff(_off_class_path(label, length=60, seed=seed).log_scale)
      assert changes.max() > 0 and changes.min() < 0  # pulses: grows and shrinks
      assert np.abs(changes).max() < _HALF  # smoothly, no wrap-around


def test_background_styles_choose_the_stretch_kind():
  pieces = [(-1, 30), (0, 20), (-1, 30)]
  kwargs = dict(num_classes=10, height=64, width=64, speed_range=(1.0, 3.0),
                burst_frames=(3, 6))
  for seed in range(5):
    bursts = motion.render_path(np.random.default_rng(seed), pieces, **kwargs)
    off = motion.render_path(np.random.default_rng(seed), pieces, background_style="off_class",
                             **kwargs)
    assert len(off.center_x) == len(bursts.center_x) == 80
  with np.testing.assert_raises_regex(ValueError, "background_style"):
    motion.render_path(np.random.default_rng(0), pieces, background_style="calm", **kwargs)
