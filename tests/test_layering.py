"""jvrl's dependencies point one way: main -> config_validation -> experiments -> report ->
evaluation -> train -> objectives -> models / losses / text / data (../shared/STYLE.md).

Read from the source (imports inside functions count too), so a new import
that points upwards, or an import circle, fails here instead of growing.
"""
import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent / "jvrl"
# Lower number = lower layer. A module may import its own layer or lower ones.
LAYERS = {
    "jvrl": 0, "jvrl.data": 0, "jvrl.models": 0, "jvrl.losses": 0, "jvrl.text": 1,
    "jvrl.objectives": 2, "jvrl.train": 3, "jvrl.evaluation": 4, "jvrl.tools": 4,
    "jvrl.report": 5, "jvrl.experiments": 6, "jvrl.config_validation": 7, "jvrl.main": 8,
    "jvrl.extract_features": 8,
}


def _modules() -> dict[str, pathlib.Path]:
  modules = {}
  for path in ROOT.rglob("*.py"):
    name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    modules[name.removesuffix(".__init__")] = path
  return modules


def _imports(path: pathlib.Path, modules) -> set[str]:
  """The jvrl modules `path` imports (`from pkg import submodule` -> the submodule)."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names if alias.name in modules)
    elif isinstance(node, ast.ImportFrom) and node.module in modules:
      subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in modules]
      found.update(subs if len(subs) == len(node.names) else [node.module, *subs])
  return found


def _layer(module: str) -> int:
  parts = module.split(".")
  return LAYERS.get(".".join(parts[:2]), LAYERS["jvrl"])


def test_no_module_imports_a_higher_layer():
  modules = _modules()
  upward = sorted((name, target) for name, path in modules.items()
                  for target in _imports(path, modules) if _layer(target) > _layer(name))
  assert upward == []


def test_no_import_circles():
  modules = _modules()
  graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
  visiting, done, cycles = set(), set(), []

  def visit(node, trail):
    visiting.add(node)
    for target in sorted(graph[node]):
      if target in visiting:
        cycles.append(trail[trail.index(target):] + [target])
      elif target not in done:
        visit(target, trail + [target])
    visiting.discard(node)
    done.add(node)

  for node in sorted(graph):
    if node not in done:
      visit(node, [node])
  assert cycles == []
