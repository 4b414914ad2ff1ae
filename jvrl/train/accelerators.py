"""Start-up check: is JAX using the accelerator this machine has?

`pip install -e .` brings JAX's CPU-only jaxlib. On a GPU or TPU machine JAX
then quietly falls back to the CPU, and a run meant for eight GPUs trains on
the host. `find_accelerators` looks for the hardware the way JAX itself does
(jax/_src/hardware_utils.py), without starting any backend:

  * NVIDIA GPU: the device nodes /dev/nvidia0, /dev/nvidia1, ... or
    /dev/nvidiactl (the driver's, also inside Docker/Kubernetes containers),
    or `nvidia-smi` on PATH (the driver's tool; on WSL2 the only sign, since
    /dev/dxg stands for any GPU vendor there).
  * Cloud TPU: a PCI device of Google's vendor id 0x1ae0 whose device id is a
    TPU's (/sys/bus/pci/devices/*/{vendor,device}; what JAX uses, and the
    sign that holds on newer TPU VMs too, whose chips appear as the generic
    /dev/vfio/* rather than /dev/accel*), or the /dev/accel0, /dev/accel1, ...
    nodes of older TPU VMs. Google's vendor id alone is not enough: gVNIC
    network cards share it.

It reports the hardware only when JAX runs on the CPU and the user did not ask
for that (JAX_PLATFORMS naming only `cpu`, or CUDA_VISIBLE_DEVICES hiding every
GPU, are requests). The functions take what they inspect as arguments; for
tests, JVRL_ACCELERATOR_PROBE_ROOT names a directory that stands in for `/`
(its dev/ and sys/ are searched instead of /dev and /sys).
"""
import dataclasses
import importlib.metadata
import os
import re
import shutil
from typing import Callable, Mapping, Sequence

ENV_PROBE_ROOT = "JVRL_ACCELERATOR_PROBE_ROOT"

_NVIDIA_NODE = re.compile(r"nvidia(\d+|ctl)")
_TPU_ACCEL_NODE = re.compile(r"accel\d+")
_GOOGLE_PCI_VENDOR_ID = "0x1ae0"
# Google PCI device ids of TPU chips, from JAX's hardware_utils: v3, plc, v4,
# v5p, v5e, v6e, TPU7x.
_TPU_PCI_DEVICE_IDS = frozenset(
    {"0x0027", "0x0056", "0x005e", "0x0062", "0x0063", "0x006f", "0x0076"})
# The pip packages that give JAX each accelerator (installed by the extras).
_PLUGIN_PACKAGES = {
    "cuda": ("jax-cuda13-plugin", "jax-cuda12-plugin"),
    "tpu": ("libtpu",),
}


@dataclasses.dataclass(frozen=True)
class Accelerator:
  """Hardware found on the machine.

  Attributes:
    name: what it is, e.g. "an NVIDIA GPU".
    evidence: what was found, e.g. ("/dev/nvidia0", "nvidia-smi").
    extra: the jvrl install extra that brings JAX's wheels for it.
  """
  name: str
  evidence: tuple[str, ...]
  extra: str


@dataclasses.dataclass(frozen=True)
class UnusedAccelerator:
  """An accelerator that JAX does not use: JAX runs on `platform` instead.

  Attributes:
    accelerator: the hardware found.
    platform: JAX's default backend (`jax.default_backend()`), e.g. "cpu".
    installed_plugins: the accelerator's JAX packages that are installed
      (then JAX failed to start them, rather than lacking them).
  """
  accelerator: Accelerator
  platform: str
  installed_plugins: tuple[str, ...] = ()

  def _found(self) -> str:
    return f"this machine has {self.accelerator.name} ({', '.join(self.accelerator.evidence)})"

  def _remedy(self) -> str:
    extra = self.accelerator.extra
    if self.installed_plugins:
      remedy = (f"{', '.join(self.installed_plugins)} is installed but JAX did not start it "
                "(JAX's warnings above may say why)")
      if extra == "cuda":
        remedy += "; with an NVIDIA driver older than CUDA 13 use pip install -e '.[cuda12]'"
      return remedy
    remedy = f"install JAX's {extra.upper()} wheels with pip install -e '.[{extra}]'"
    if extra == "cuda":
      remedy += " ('.[cuda12]' for an NVIDIA driver older than CUDA 13)"
    return remedy

  def error_line(self) -> str:
    """One line for stderr that says what was found and what to install."""
    return (f"{self._found()} but JAX runs on {self.platform}: {self._remedy()}, or pass "
            f"--allow_cpu_fallback to train on {self.platform} anyway.")

  def warning_line(self) -> str:
    """One line for the log when --allow_cpu_fallback lets the run go on."""
    return (f"--allow_cpu_fallback: training on {self.platform} although {self._found()}; "
            f"to use it: {self._remedy()}.")


def find_accelerators(dev_root: str = "/dev", sys_root: str = "/sys",
                      which: Callable[[str], str | None] = shutil.which,
                      environ: Mapping[str, str] | None = None) -> list[Accelerator]:
  """NVIDIA GPUs and Cloud TPUs present on the machine, whatever JAX sees.

  Args:
    dev_root: the device directory (/dev).
    sys_root: the sysfs root (/sys).
    which: looks a program up on PATH (`shutil.which`).
    environ: the environment (os.environ). CUDA_VISIBLE_DEVICES set to "" or
      "-1" hides the GPUs on purpose, so they are not reported.

  Returns:
    One entry per kind of accelerator found (none on a CPU-only machine).
  """
  environ = os.environ if environ is None else environ
  found = []
  gpu_hidden = environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1")
  nvidia = [os.path.join(dev_root, name) for name in _sorted_entries(dev_root)
            if _NVIDIA_NODE.fullmatch(name)]
  if which("nvidia-smi"):
    nvidia.append("nvidia-smi")
  if nvidia and not gpu_hidden:
    found.append(Accelerator("an NVIDIA GPU", tuple(nvidia), "cuda"))
  tpu_chips = [device for device in _google_pci_device_ids(sys_root)
               if device in _TPU_PCI_DEVICE_IDS]
  tpu = [f"{len(tpu_chips)} TPU chip(s) on PCI"] if tpu_chips else []
  tpu += [os.path.join(dev_root, name) for name in _sorted_entries(dev_root)
          if _TPU_ACCEL_NODE.fullmatch(name)]
  if tpu:
    found.append(Accelerator("a Cloud TPU", tuple(tpu), "tpu"))
  return found


def cpu_requested(environ: Mapping[str, str]) -> bool:
  """Whether JAX_PLATFORMS asks for the CPU alone (a choice, not a fallback)."""
  platforms = [p.strip() for p in environ.get("JAX_PLATFORMS", "").split(",") if p.strip()]
  return bool(platforms) and all(p == "cpu" for p in platforms)


def unused_accelerator(platform: str, accelerators: Sequence[Accelerator],
                       environ: Mapping[str, str],
                       installed: Callable[[str], bool]) -> UnusedAccelerator | None:
  """The accelerator JAX fell back from, or None when nothing is amiss.

  Args:
    platform: JAX's default backend, `jax.default_backend()` ("cpu", "gpu", "tpu").
    accelerators: what `find_accelerators` found.
    environ: the environment (for JAX_PLATFORMS).
    installed: whether a pip distribution is installed, by name.
  """
  if platform != "cpu" or not accelerators or cpu_requested(environ):
    return None
  accelerator = accelerators[0]
  plugins = tuple(name for name in _PLUGIN_PACKAGES[accelerator.extra] if installed(name))
  return UnusedAccelerator(accelerator, platform, plugins)


def check_this_machine(platform: str) -> UnusedAccelerator | None:
  """`unused_accelerator` for the running process and this machine.

  Reads /dev and /sys, or JVRL_ACCELERATOR_PROBE_ROOT's dev/ and sys/ (tests).
  """
  root = os.environ.get(ENV_PROBE_ROOT, "")
  accelerators = find_accelerators(
      dev_root=os.path.join(root, "dev") if root else "/dev",
      sys_root=os.path.join(root, "sys") if root else "/sys")
  return unused_accelerator(platform, accelerators, os.environ, _distribution_installed)


def _sorted_entries(directory: str) -> list[str]:
  try:
    return sorted(os.listdir(directory))
  except OSError:
    return []


def _google_pci_device_ids(sys_root: str) -> list[str]:
  """Device ids of the PCI devices whose vendor is Google."""
  devices_dir = os.path.join(sys_root, "bus", "pci", "devices")
  ids = []
  for device in _sorted_entries(devices_dir):
    try:
      with open(os.path.join(devices_dir, device, "vendor")) as f:
        if f.read().strip() != _GOOGLE_PCI_VENDOR_ID:
          continue
      with open(os.path.join(devices_dir, device, "device")) as f:
        ids.append(f.read().strip())
    except OSError:
      continue
  return ids


def _distribution_installed(name: str) -> bool:
  try:
    importlib.metadata.version(name)
  except importlib.metadata.PackageNotFoundError:
    return False
  return True
