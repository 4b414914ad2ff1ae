r"""Runs several methods on ONE budget, the CVRL main job's, and prints one comparison table.

  python -m benchmarks.methods --methods=cvrl,simclr,simclr_frame,concur,fame,stor,teg,stc_mix \
      --seeds=0,1 --workdir_root=/tmp/methods [--dry_run] [-- --config.train.num_steps=200 ...]

For each method name, `configs/<name>_synthetic.py` runs through
`python -m jvrl.main` for each seed, IN SEQUENCE (`benchmarks.runs`, as
`benchmarks.seeds`: one run at a time; a run whose ROOT/<name>/seed_<s>/eval/results.json exists
is read back, not run again, so an interrupted comparison resumes).

The budget is read from `configs/cvrl_synthetic.py` (`BUDGET_CONFIG`): its
`BUDGET_FIELDS` (model_name and config.model, data.clip_length / frame_stride
/ crop_size, train.batch_size / num_steps, config.optimizer, config.eval);
`--config.seed` is set per seed. A method's run gets `--config.<field>=<the
budget's value>` for every budget field where its own config differs, except
the fields the method itself defines (`METHODS[name].own`, each with its
reason, e.g. frame-SimCLR's RGB input, SVT's transformer and optimiser). The
contrastive family's configs start from the CVRL config, so they need no
override; the table says, per method, which overrides it ran with and which
budget fields it kept. Further `--config.*` flags after the script's own go
to every method's run, after the budget's (e.g. a shorter budget for all).

Prints, and writes to ROOT/methods.md and ROOT/methods.json, one table: a row
per method (CoCLR: its RGB stream and its two-stream result) plus the
random-init baseline of the budget's encoder (and of every other encoder a
method trains), columns linear-probe top-1, kNN top-1 and retrieval R@1 as
mean ± std (ddof=1) and min–max over the seeds, the wall time per run and the
machine (kept per run in ROOT/<name>/run_seed_<s>.json, so a resumed table
still shows them; '–' for a run this script did not start). Numbers are
measured, never asserted.
"""
import dataclasses
import datetime
import glob
import importlib
import json
import math
import os
import shlex
import subprocess
from typing import Any, Callable, Mapping, Sequence

from absl import app
from absl import flags

from benchmarks import runs

REPO = runs.REPO
BUDGET_CONFIG = "cvrl"
# Budget fields of the budget config: exact dotted names, or prefixes ending in '.'.
BUDGET_FIELDS = ("model_name", "model.", "data.clip_length", "data.frame_stride",
                 "data.crop_size", "train.batch_size", "train.num_steps", "optimizer.", "eval.")
# The table's metrics: results.json names (after a row's prefix) and column titles.
METRICS = (("linear_probe_top1", "linear probe top-1"), ("knn_top1", "kNN top-1"),
           ("retrieval_recall@1", "retrieval R@1"))
RUN_INFO = "run_seed_{seed}.json"
DEFAULT_METHODS = ("cvrl", "simclr", "simclr_frame", "concur", "fame", "stor", "teg", "stc_mix",
                   "coclr", "svt")


def define_flags() -> None:
  """The script's flags (defined when run as a script, so that tests can import this module
  next to `benchmarks.seeds`, whose flags share names)."""
  flags.DEFINE_list("methods", list(DEFAULT_METHODS),
                    "Methods to compare: names of configs/<name>_synthetic.py (comma-separated).")
  flags.DEFINE_list("seeds", ["0", "1"], "Seeds to run (comma-separated).")
  flags.DEFINE_string("workdir_root", None,
                      "One workdir per method and seed: ROOT/<method>/seed_<s>.")
  flags.DEFINE_bool("dry_run", False, "Print the commands only; run nothing.")


@dataclasses.dataclass(frozen=True)
class Method:
  """How one method runs on the shared budget and where its results are.

  Attributes:
    own: budget fields (exact, or a prefix ending in '.') that the method's
      config keeps, each with the reason (shown in the table).
    rows: (row label, results.json prefix) of each result row; '{name}' is
      the method's name.
    random_init_prefix: the results.json prefix of the run's random-init
      baseline (rows' metrics after it).
  """
  own: Mapping[str, str] = dataclasses.field(default_factory=dict)
  rows: tuple[tuple[str, str], ...] = (("{name}", ""),)
  random_init_prefix: str = "random_init_"

  def trains_budget_encoder(self) -> bool:
    """Whether the method's encoder is the budget's, input included (same random init)."""
    return not any(field.startswith("model") for field in self.own)


METHODS: Mapping[str, Method] = {
    "cvrl": Method(),
    "simclr": Method(),
    "simclr_frame": Method(own={
        "model.input_transform": "single frames have no residual frames: RGB input "
                                 "(cvrl.view_frames=1 requires it)"}),
    "concur": Method(),
    "fame": Method(),
    "stor": Method(),
    "teg": Method(),  # the long clip is config.teg's; the short clip is the budget's
    "stc_mix": Method(),
    "coclr": Method(
        own={"train.num_steps": "CoCLR's schedule: stage 1 (800 steps of two streams) + "
                                "cotrain_cycles x 2 x cotrain_steps co-training steps",
             "optimizer.warmup_steps": "its warm-up for its 800-step stage 1"},
        rows=(("coclr (RGB stream)", "coclr_rgb_"),
              ("coclr (two-stream: RGB + flow)", "coclr_two_stream_")),
        random_init_prefix="random_init_rgb_"),
    "svt": Method(own={
        "model_name": "SVT trains a video transformer (VATT's video tower)",
        "model.": "the transformer's options",
        "optimizer.": "DINO's AdamW for transformers (lr 3e-4, weight decay 0.04, clip 3.0)",
        "data.frame_stride": "a global view's frame rate (8 frames over the 32-frame video)"}),
}


def available_configs(repo: str = REPO) -> list[str]:
  """Names with a configs/<name>_synthetic.py."""
  return sorted(os.path.basename(p)[:-len("_synthetic.py")]
                for p in glob.glob(os.path.join(repo, "configs", "*_synthetic.py")))


def check_methods(names: Sequence[str], repo: str = REPO) -> None:
  """Unknown names, names without a budget rule and repeats fail with what is available."""
  available = available_configs(repo)
  unknown = [n for n in names if n not in available]
  if unknown:
    raise app.UsageError(f"Unknown method(s) {unknown}: no configs/<name>_synthetic.py. "
                         f"Available configs: {available}.")
  unruled = [n for n in names if n not in METHODS]
  if unruled:
    raise app.UsageError(f"Method(s) {unruled} have a config but no budget rule in "
                         f"benchmarks/methods.py METHODS; comparable methods: {sorted(METHODS)}.")
  if len(set(names)) != len(names):
    raise app.UsageError(f"--methods names a method twice: {list(names)}.")


def config_path(name: str) -> str:
  return f"configs/{name}_synthetic.py"


def load_config(name: str) -> Any:
  """`configs/<name>_synthetic.py`'s config (the repository root must be importable)."""
  return importlib.import_module(f"configs.{name}_synthetic").get_config()


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """{'a.b.c': leaf} of a nested mapping (a ConfigDict's to_dict()); lists become tuples."""
  flat = {}
  for key, value in tree.items():
    if isinstance(value, Mapping):
      flat.update(flatten(value, f"{prefix}{key}."))
    else:
      flat[prefix + key] = tuple(value) if isinstance(value, list) else value
  return flat


def _matches(field: str, patterns) -> bool:
  return any(field == p or (p.endswith(".") and field.startswith(p)) for p in patterns)


def budget(config: Any) -> dict[str, Any]:
  """The budget fields of the budget config (dotted name -> value; unset placeholders left out)."""
  return {k: v for k, v in flatten(config.to_dict()).items()
          if _matches(k, BUDGET_FIELDS) and v is not None}


def flag_value(value: Any) -> str:
  """A value as `--config.x=` reads it back (ml_collections parses tuples as literals)."""
  return repr(value) if isinstance(value, tuple) else str(value)


def budget_overrides(name: str, method_config: Any, budget_values: Mapping[str, Any]
                     ) -> tuple[list[str], dict[str, str]]:
  """(the `--config.*` flags that put method `name` on the budget, {kept field: reason}).

  A flag is passed for every budget field the method's config sets otherwise,
  unless the method keeps it (`METHODS[name].own`). Raises a ValueError for a
  budget field the method's config lacks and does not keep (no flag can set it).
  """
  own = METHODS[name].own
  values = flatten(method_config.to_dict())
  overrides, kept = [], {}
  for field, value in budget_values.items():
    if _matches(field, own):
      if values.get(field, None) != value:
        pattern = next(p for p in own if _matches(field, [p]))
        kept[pattern + ("*" if pattern.endswith(".") else "")] = own[pattern]
      continue
    if field not in values:
      raise ValueError(f"configs/{name}_synthetic.py has no field {field}, a budget field of "
                       f"configs/{BUDGET_CONFIG}_synthetic.py: add it, or keep it in "
                       f"benchmarks/methods.py METHODS[{name!r}].own with the reason.")
    if values[field] != value:
      overrides.append(f"--config.{field}={flag_value(value)}")
  return overrides, kept


@dataclasses.dataclass
class Plan:
  """One method's runs: overrides, kept fields and workdirs."""
  name: str
  overrides: list[str]
  kept: dict[str, str]
  extra: list[str]

  def workdir(self, root: str, seed: int) -> str:
    return os.path.join(root, self.name, f"seed_{seed}")

  def command(self, root: str, seed: int) -> list[str]:
    return runs.seed_command(config_path(self.name), seed, self.workdir(root, seed),
                                  [*self.overrides, *self.extra])


def plan_methods(names: Sequence[str], extra: Sequence[str],
                 load: Callable[[str], Any] = load_config) -> list[Plan]:
  """The plan of every method (`load`: name -> config)."""
  budget_values = budget(load(BUDGET_CONFIG))
  given = {flag.split("=", 1)[0] for flag in extra}  # the caller's flags win: no duplicates
  plans = []
  for name in names:
    overrides, kept = budget_overrides(name, load(name), budget_values)
    overrides = [o for o in overrides if o.split("=", 1)[0] not in given]
    plans.append(Plan(name, overrides, kept, list(extra)))
  return plans


def run_method(plan: Plan, root: str, seeds: Sequence[int],
               runner: Callable[..., Any] = subprocess.run,
               machine: Callable[[], dict] = runs.machine_description) -> dict[int, dict]:
  """{seed: {'results', 'wall_seconds', 'machine', 'stale'}} of one method, running the seeds
  that have not finished (their wall time and machine go to ROOT/<name>/run_seed_<s>.json)."""
  out = {}
  for seed in seeds:
    workdir = plan.workdir(root, seed)
    command = plan.command(root, seed)
    results, seconds = runs.run_seed(config_path(plan.name), seed, workdir,
                                     [*plan.overrides, *plan.extra], runner=runner)
    info_path = os.path.join(root, plan.name, RUN_INFO.format(seed=seed))
    if not math.isnan(seconds):
      info = {"command": command[1:], "wall_seconds": seconds, "machine": machine(),
              "finished": datetime.datetime.now().isoformat(timespec="seconds")}
      with open(info_path, "w") as f:
        json.dump(info, f, indent=2, sort_keys=True)
    elif os.path.isfile(info_path):
      with open(info_path) as f:
        info = json.load(f)
    else:
      info = {}
    stale = bool(info) and info.get("command") != command[1:]
    if stale:
      print(f"Warning: {plan.name} seed {seed}: reused results of a run started with another "
            f"command ({info_path}).", flush=True)
    out[seed] = {"results": results, "wall_seconds": info.get("wall_seconds"),
                 "machine": info.get("machine"), "stale": stale}
  return out


def table_rows(plans: Sequence[Plan], method_runs: Mapping[str, Mapping[int, dict]]
               ) -> list[dict]:
  """One row per result row of each method, then the random-init baselines: one for the
  budget's encoder (from the first such method) and one per other encoder a method trains."""
  rows = []
  for plan in plans:
    method = METHODS[plan.name]
    for label, prefix in method.rows:
      rows.append(_row(label.format(name=plan.name), prefix, method_runs[plan.name], plan))
  budget_done = False
  for plan in plans:
    method = METHODS[plan.name]
    if method.trains_budget_encoder():
      if budget_done:
        continue
      budget_done = True
      label = f"random init (the budget's encoder; from the {plan.name} runs)"
    else:
      label = f"random init ({plan.name}'s encoder)"
    rows.append(_row(label, method.random_init_prefix, method_runs[plan.name], None))
  return rows


def _row(label: str, prefix: str, seed_runs: Mapping[int, dict], plan: Plan | None) -> dict:
  per_seed = {seed: {metric: run["results"][prefix + metric] for metric, _ in METRICS
                     if prefix + metric in run["results"]} for seed, run in seed_runs.items()}
  walls = [run["wall_seconds"] for run in seed_runs.values() if run["wall_seconds"] is not None]
  machines = sorted({_machine_text(run["machine"]) for run in seed_runs.values() if run["machine"]})
  return {"label": label, "seeds": sorted(seed_runs),
          "metrics": runs.summarize(per_seed, [m for m, _ in METRICS]),
          "wall_seconds": (sum(walls) / len(walls)) if walls and plan else None,
          "machine": "; ".join(machines) if plan else "",
          "overrides": plan.overrides + plan.extra if plan else None,
          "kept": plan.kept if plan else None,
          "stale": any(run["stale"] for run in seed_runs.values())}


def _machine_text(machine: Mapping[str, Any]) -> str:
  return f"{machine.get('cpus')} CPUs, {machine.get('backend')}, jax {machine.get('jax')}"


def _duration(seconds: float | None) -> str:
  if seconds is None:
    return "–"
  minutes, rest = divmod(int(round(seconds)), 60)
  return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _cell(stats: Mapping[str, Any] | None) -> str:
  if stats is None:
    return "–"
  if len(stats["values"]) == 1:
    return f"{stats['mean']:.3f}"
  return f"{stats['mean']:.3f} ± {stats['std']:.3f} ({stats['min']:.3f}–{stats['max']:.3f})"


def format_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
  """The comparison table (mean ± std (min–max) over the seeds; one seed: its value)."""
  header = (["method"] + [title for _, title in METRICS] +
            ["wall time per run", "machine", "overrides (budget; every method's)",
             "budget fields kept (why)"])
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for row in rows:
    overrides = ("" if row["overrides"] is None else
                 " ".join(f"`{o}`" for o in row["overrides"]) or "none")
    kept = ("" if row["kept"] is None else
            "; ".join(f"{k}: {why}" for k, why in row["kept"].items()) or "none")
    label = row["label"] + (" (†)" if row["stale"] else "")
    cells = [label] + [_cell(row["metrics"].get(m)) for m, _ in METRICS] + [
        _duration(row["wall_seconds"]) if row["overrides"] is not None else "–",
        row["machine"] or "–", overrides, kept]
    lines.append("| " + " | ".join(cells) + " |")
  if any(row["stale"] for row in rows):
    lines.append("\n(†) results reused from a run started with another command "
                 "(ROOT/<method>/run_seed_<s>.json).")
  return "\n".join(lines)


def write_report(root: str, rows: Sequence[Mapping[str, Any]], plans: Sequence[Plan],
                 seeds: Sequence[int], markdown: str) -> None:
  """ROOT/methods.md and ROOT/methods.json."""
  os.makedirs(root, exist_ok=True)
  report = {"budget_config": config_path(BUDGET_CONFIG), "seeds": list(seeds),
            "methods": [p.name for p in plans],
            "commands": {p.name: {s: p.command(root, s)[1:] for s in seeds} for p in plans},
            "rows": list(rows)}
  with open(os.path.join(root, "methods.json"), "w") as f:
    json.dump(report, f, indent=2, sort_keys=True, default=str)
  with open(os.path.join(root, "methods.md"), "w") as f:
    f.write(markdown + "\n")


def main(argv) -> None:
  extra = [a for a in argv[1:] if a.startswith("--config.")]
  unknown = [a for a in argv[1:] if not a.startswith("--config.")]
  options = flags.FLAGS
  if unknown or not options.workdir_root:
    raise app.UsageError("--workdir_root is required; further arguments must be --config.* "
                         f"overrides for every method (got {unknown}).")
  names = [n.strip() for n in options.methods if n.strip()]
  check_methods(names)
  seeds = [int(s) for s in options.seeds]
  plans = plan_methods(names, extra)
  root = options.workdir_root
  if options.dry_run:
    for plan in plans:
      for field, why in plan.kept.items():
        print(f"# {plan.name} keeps its own {field}: {why}", flush=True)
      for seed in seeds:
        done = os.path.isfile(runs.results_path(plan.workdir(root, seed)))
        print(("# finished, results reused: " if done else "") +
              shlex.join(plan.command(root, seed)), flush=True)
    return
  method_runs = {plan.name: run_method(plan, root, seeds) for plan in plans}
  rows = table_rows(plans, method_runs)
  markdown = format_markdown(rows)
  write_report(root, rows, plans, seeds, markdown)
  print(f"\nMethods on the budget of {config_path(BUDGET_CONFIG)}, seeds {seeds} "
        f"(mean ± std (min–max); {os.path.join(root, 'methods.md')}):\n" + markdown, flush=True)


if __name__ == "__main__":
  define_flags()
  flags.mark_flags_as_required(["workdir_root"])
  app.run(main, flags_parser=runs.parse_flags)
