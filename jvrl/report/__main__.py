r"""Rebuilds a finished run's report without re-evaluating.

  python -m jvrl.report --workdir=DIR [--layout=auto|tsne|umap|pca]

Reads what the evaluation saved under DIR/eval (results.json, features.npz,
...), DIR/config.json and the run's TensorBoard events; writes
DIR/eval/report.html, DIR/eval/figures/*.png and the projector files under
DIR/tensorboard/eval. Exit status 0 when the page was written (sections that
could not be drawn are listed), 2 when DIR holds no evaluated run.
"""
import sys

import jvrl  # noqa: F401  (quiets TensorFlow before it is imported)

from absl import app
from absl import flags
from absl import logging

_WORKDIR = flags.DEFINE_string("workdir", None, "The run directory (evaluated).")
_LAYOUT = flags.DEFINE_enum("layout", "auto", ["auto", "tsne", "umap", "pca"],
                            "2-D layout of the feature maps (auto: UMAP where installed, "
                            "else t-SNE).")


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.INFO)
  from jvrl.report import build  # pylint: disable=g-import-not-at-top
  try:
    report = build.build_report(_WORKDIR.value, layout_method=_LAYOUT.value)
  except FileNotFoundError as error:
    sys.stderr.write(f"jvrl.report: {error}\n")
    sys.exit(2)
  print(report.path)
  for problem in report.problems:
    print(f"  not drawn: {problem}")


if __name__ == "__main__":
  flags.mark_flags_as_required(["workdir"])
  app.run(main)
