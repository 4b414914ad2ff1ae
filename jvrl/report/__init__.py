"""A run's evaluation report: pictures before numbers.

`build_report(workdir)` draws, from what the evaluation saved under
WORKDIR/eval (never re-evaluating), one self-contained page
WORKDIR/eval/report.html, its pictures as PNG files in WORKDIR/eval/figures,
and the test features in TensorBoard's projector format under
WORKDIR/tensorboard/eval. Every evaluation path calls it after writing
results.json (`jvrl.experiments`); `python -m jvrl.report --workdir=DIR`
rebuilds it.

Modules: `figures` (arrays -> PNG), `layout_2d` (t-SNE / UMAP maps),
`projector` (TensorBoard projector files), `frames` (the shown videos' frames
from the records), `run_files` (results, config, command, training scalars),
`html` (the page), `build` (all of it for one run directory).

Layer: above `jvrl.evaluation` (it reads evaluation outputs), below
`jvrl.experiments` (which calls it).
"""
from jvrl.report.build import build_report, build_report_or_warn, Report

__all__ = ["build_report", "build_report_or_warn", "Report"]
