"""The README's GPU/TPU install lines resolve from the package index.

Each line of the README's "Install on GPU / TPU" block is run as written, plus
`--dry-run --ignore-installed --report -`: pip resolves every dependency as
for a fresh venv and reports what it would install. `--use-feature=fast-deps`
reads each wheel's metadata with HTTP range requests: where the index serves
no separate metadata files (PEP 658), a plain dry run downloads the wheels
themselves, ~3 GB for '.[cuda]' (measured 2026-11-29 on the CI machine; ~2 MB
and 10-15 s with fast-deps). Needs the network to the index, as CI's own
install does; skipped only when the index cannot be reached.
"""
import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README_SECTION = "## Install on GPU / TPU"
INSTALL_LINE = re.compile(r"\.venv/bin/pip install -q -e '(\.\[([a-z0-9]+)\])'")

# What each extra must bring besides jvrl's own requirements.
EXPECTED_PACKAGES = {
    "cuda": ("jax-cuda13-plugin", "jax-cuda13-pjrt", "nvidia-cudnn-cu13"),
    "cuda12": ("jax-cuda12-plugin", "jax-cuda12-pjrt", "nvidia-cudnn-cu12"),
    "tpu": ("libtpu",),
}
_NETWORK_ERRORS = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name "
    r"resolution|Name or service not known|Network is unreachable|ConnectTimeout|"
    r"Read timed out|Max retries exceeded")


def readme_install_lines() -> dict[str, str]:
  """{extra: the `.[extra]` spec} of each install line in the README's GPU/TPU block."""
  with open(os.path.join(REPO, "README.md")) as f:
    text = f.read()
  assert README_SECTION in text, f"README.md lost its {README_SECTION!r} section"
  section = text.split(README_SECTION, 1)[1].split("\n## ", 1)[0]
  block = section.split("```bash\n", 1)[1].split("```", 1)[0]
  return {match.group(2): match.group(1) for match in INSTALL_LINE.finditer(block)}


def test_readme_names_every_accelerator_extra():
  assert set(readme_install_lines()) == set(EXPECTED_PACKAGES)


def dry_run_install(spec: str) -> dict[str, str]:
  """{package name: version} that `pip install -e SPEC` would put in a fresh venv."""
  command = [sys.executable, "-m", "pip", "install", "-q", "-e", spec, "--dry-run",
             "--ignore-installed", "--report", "-", "--retries", "2", "--timeout", "60"]
  result = subprocess.run(command + ["--use-feature=fast-deps"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
  if result.returncode != 0 and "fast-deps" in result.stderr and "invalid choice" in (
      result.stderr):  # a pip without the feature: resolve from the wheels themselves
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
  if result.returncode != 0:
    unreachable = _NETWORK_ERRORS.search(result.stderr)
    if unreachable:
      pytest.skip(f"the package index is unreachable ({unreachable.group(0)})")
    pytest.fail(f"pip could not resolve {spec}:\n{result.stderr[-3000:]}")
  report = json.loads(result.stdout)
  return {_canonical(item["metadata"]["name"]): item["metadata"]["version"]
          for item in report["install"]}


def _canonical(name: str) -> str:
  return re.sub(r"[-_.]+", "-", name).lower()


@pytest.mark.slow
@pytest.mark.parametrize("extra", sorted(EXPECTED_PACKAGES))
def test_readme_install_line_resolves(extra):
  packages = dry_run_install(readme_install_lines()[extra])
  for name in EXPECTED_PACKAGES[extra]:
    assert name in packages, f"'.[{extra}]' did not bring {name}: {sorted(packages)}"
  jax_version = packages["jax"]
  assert packages["jaxlib"] == jax_version
  for plugin in ("jax-cuda13-plugin", "jax-cuda13-pjrt", "jax-cuda12-plugin",
                 "jax-cuda12-pjrt"):
    if plugin in packages:
      assert packages[plugin] == jax_version, plugin
  # pip picks jax by the interpreter: 0.10 below Python 3.12, 0.11 from 3.12 on.
  assert jax_version.startswith("0.11." if sys.version_info >= (3, 12) else "0.10."), (
      jax_version)
  other_accelerators = {n for e, names in EXPECTED_PACKAGES.items() if e != extra
                        for n in names} - set(EXPECTED_PACKAGES[extra])
  assert not other_accelerators & set(packages), other_accelerators & set(packages)
  # TensorFlow feeds the input pipeline only: its CPU build, whatever the extra.
  assert "tensorflow-cpu" in packages and "tensorflow" not in packages
  for name in ("flax", "optax", "orbax-checkpoint", "jvrl"):
    assert name in packages, name
