"""Running `python -m jvrl.main` configs one after another and summarising their results.

The machinery of `benchmarks.seeds` (one config, several seeds) and
`benchmarks.methods` (several configs on one budget): the command of one
seed's run, the run itself (skipped when its WORKDIR/eval/results.json
exists, so an interrupted sweep resumes), the mean / spread of a metric over
seeds and the machine the numbers were measured on. No flags are defined here.
"""
import json
import math
import os
import platform
import subprocess
import sys
import time
from typing import Any, Callable, Mapping, Sequence

from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def summarize(per_seed: Mapping[int, Mapping[str, float]],
              metrics: Sequence[str] = ()) -> dict[str, dict]:
  """metric -> {'mean', 'std', 'min', 'max', 'values': {seed: value}} over the seeds.

  `std` is the sample standard deviation (ddof=1; 0 for one seed); NaN values
  (metrics undefined for a run) are left out of the statistics and counted.
  """
  names = list(metrics) or sorted({name for results in per_seed.values() for name in results
                                   if name != "step"})
  table = {}
  for name in names:
    values = {seed: float(results[name]) for seed, results in per_seed.items()
              if name in results}
    finite = [v for v in values.values() if not math.isnan(v)]
    if not finite:
      continue
    mean = sum(finite) / len(finite)
    std = (math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1))
           if len(finite) > 1 else 0.0)
    table[name] = {"mean": mean, "std": std, "min": min(finite), "max": max(finite),
                   "values": values, "nan_runs": len(values) - len(finite)}
  return table


def format_markdown(table: Mapping[str, dict], seeds: Sequence[int]) -> str:
  """The README-style table: metric | mean ± std | min–max | one column per seed."""
  lines = ["| metric | mean ± std | min–max | " + " | ".join(f"seed {s}" for s in seeds) + " |",
           "|---|---|---|" + "---|" * len(seeds)]
  for name, row in table.items():
    cells = [f"{row['values'][s]:.3f}" if s in row["values"] else "–" for s in seeds]
    lines.append(f"| {name} | {row['mean']:.3f} ± {row['std']:.3f} | "
                 f"{row['min']:.3f}–{row['max']:.3f} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def machine_description() -> dict:
  """What the numbers were measured on."""
  import jax  # pylint: disable=g-import-not-at-top
  import flax  # pylint: disable=g-import-not-at-top
  return {"cpus": os.cpu_count(), "platform": platform.platform(),
          "python": platform.python_version(), "jax": jax.__version__,
          "flax": flax.__version__, "backend": jax.default_backend()}


def results_path(workdir: str) -> str:
  """Where a finished run keeps its results: WORKDIR/eval/results.json."""
  return os.path.join(workdir, "eval", "results.json")


def seed_command(config: str, seed: int, workdir: str, extra: Sequence[str]) -> list[str]:
  """The `python -m jvrl.main` command of one seed's run (`extra`: --config.* overrides)."""
  return [sys.executable, "-m", "jvrl.main", f"--config={config}", f"--workdir={workdir}",
          f"--config.seed={seed}", *extra]


def run_seed(config: str, seed: int, workdir: str, extra: Sequence[str],
             runner: Callable[..., Any] = subprocess.run) -> tuple[dict, float]:
  """(results, wall seconds) of one seed's run; a run whose results.json exists is read
  back, not run again (seconds is then NaN). `runner` runs the command with
  `subprocess.run`'s signature (tests pass a fake)."""
  path = results_path(workdir)
  seconds = float("nan")
  if not os.path.isfile(path):
    start = time.perf_counter()
    command = seed_command(config, seed, workdir, extra)
    print("Running: " + " ".join(command), flush=True)
    done = runner(command, cwd=REPO, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
      raise SystemExit(f"{config} seed {seed} failed with status {done.returncode}; see its "
                       "log above.")
  with open(path) as f:
    return json.load(f), seconds


def parse_flags(argv: list[str]) -> list[str]:
  """Parses a script's own flags; the `--config.*` overrides pass through to jvrl.main."""
  overrides = [a for a in argv[1:] if a.startswith("--config.")]
  return flags.FLAGS([a for a in argv if not a.startswith("--config.")]) + overrides
