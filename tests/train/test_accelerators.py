"""The start-up check that stops a run from training on the CPU beside an unused GPU/TPU."""
import os
import subprocess
import sys

import pytest

from jvrl.train import accelerators

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def no_program(_: str) -> None:
  return None


def make_nodes(dev_root, *names) -> str:
  os.makedirs(dev_root, exist_ok=True)
  for name in names:
    open(os.path.join(dev_root, name), "w").close()
  return str(dev_root)


def make_pci_device(sys_root, address: str, vendor: str, device: str) -> str:
  path = os.path.join(sys_root, "bus", "pci", "devices", address)
  os.makedirs(path)
  with open(os.path.join(path, "vendor"), "w") as f:
    f.write(vendor + "\n")
  with open(os.path.join(path, "device"), "w") as f:
    f.write(device + "\n")
  return str(sys_root)


def find(tmp_path, which=no_program, environ=None):
  return accelerators.find_accelerators(
      dev_root=str(tmp_path / "dev"), sys_root=str(tmp_path / "sys"), which=which,
      environ=environ or {})


def test_cpu_only_machine_has_no_accelerator(tmp_path):
  make_nodes(tmp_path / "dev", "null", "zero", "fuse")
  make_nodes(tmp_path / "dev" / "vfio", "vfio")  # VFIO alone: any passthrough device
  make_pci_device(tmp_path / "sys", "0000:00:04.0", "0x1ae0", "0x0042")  # gVNIC, not a TPU
  assert find(tmp_path) == []


def test_nvidia_device_nodes_are_a_gpu(tmp_path):
  make_nodes(tmp_path / "dev", "nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null")
  [gpu] = find(tmp_path)
  assert gpu.name == "an NVIDIA GPU" and gpu.extra == "cuda"
  assert gpu.evidence == tuple(str(tmp_path / "dev" / n) for n in
                               ("nvidia0", "nvidia1", "nvidiactl"))


def test_nvidia_smi_alone_is_a_gpu(tmp_path):
  [gpu] = find(tmp_path, which=lambda name: "/usr/bin/nvidia-smi" if name == "nvidia-smi" else None)
  assert gpu.evidence == ("nvidia-smi",) and gpu.extra == "cuda"


@pytest.mark.parametrize("hidden", ["", "-1"])
def test_cuda_visible_devices_can_hide_the_gpus(tmp_path, hidden):
  make_nodes(tmp_path / "dev", "nvidia0", "nvidiactl")
  assert find(tmp_path, environ={"CUDA_VISIBLE_DEVICES": hidden}) == []
  assert find(tmp_path, environ={"CUDA_VISIBLE_DEVICES": "0"})


def test_tpu_on_pci_is_a_tpu(tmp_path):
  make_pci_device(tmp_path / "sys", "0000:00:05.0", "0x1ae0", "0x0063")  # v5e
  make_pci_device(tmp_path / "sys", "0000:00:06.0", "0x1ae0", "0x0063")
  make_pci_device(tmp_path / "sys", "0000:00:04.0", "0x1ae0", "0x0042")  # gVNIC
  make_nodes(tmp_path / "dev" / "vfio", "0", "1", "vfio")
  [tpu] = find(tmp_path)
  assert tpu.name == "a Cloud TPU" and tpu.extra == "tpu"
  assert tpu.evidence == ("2 TPU chip(s) on PCI",)


def test_accel_nodes_are_a_tpu(tmp_path):
  make_nodes(tmp_path / "dev", "accel0", "accel1")
  [tpu] = find(tmp_path)
  assert tpu.extra == "tpu" and tpu.evidence[0].endswith("accel0")


def test_the_kernel_accel_class_directory_is_not_a_tpu(tmp_path):
  make_nodes(tmp_path / "dev" / "accel", "accel0")  # e.g. an Intel NPU
  assert find(tmp_path) == []


GPU = accelerators.Accelerator("an NVIDIA GPU", ("/dev/nvidia0", "nvidia-smi"), "cuda")
TPU = accelerators.Accelerator("a Cloud TPU", ("4 TPU chip(s) on PCI",), "tpu")


def nothing_installed(_: str) -> bool:
  return False


@pytest.mark.parametrize("platform", ["gpu", "tpu"])
def test_no_finding_when_jax_uses_an_accelerator(platform):
  assert accelerators.unused_accelerator(platform, [GPU], {}, nothing_installed) is None


def test_no_finding_without_accelerator_or_when_cpu_is_requested():
  assert accelerators.unused_accelerator("cpu", [], {}, nothing_installed) is None
  assert accelerators.unused_accelerator(
      "cpu", [GPU], {"JAX_PLATFORMS": "cpu"}, nothing_installed) is None
  assert accelerators.unused_accelerator(
      "cpu", [GPU], {"JAX_PLATFORMS": "cuda,cpu"}, nothing_installed) is not None


def test_gpu_error_is_one_line_naming_what_was_found_and_the_extra():
  unused = accelerators.unused_accelerator("cpu", [GPU], {}, nothing_installed)
  line = unused.error_line()
  assert "\n" not in line
  assert line == (
      "this machine has an NVIDIA GPU (/dev/nvidia0, nvidia-smi) but JAX runs on cpu: "
      "install JAX's CUDA wheels with pip install -e '.[cuda]' ('.[cuda12]' for an NVIDIA "
      "driver older than CUDA 13), or pass --allow_cpu_fallback to train on cpu anyway.")
  assert "--allow_cpu_fallback" in unused.warning_line()
  assert "\n" not in unused.warning_line()


def test_tpu_error_names_the_tpu_extra():
  line = accelerators.unused_accelerator("cpu", [TPU], {}, nothing_installed).error_line()
  assert "a Cloud TPU (4 TPU chip(s) on PCI)" in line
  assert "pip install -e '.[tpu]'" in line and "--allow_cpu_fallback" in line


def test_installed_plugin_that_did_not_start_is_named():
  unused = accelerators.unused_accelerator(
      "cpu", [GPU], {}, lambda name: name == "jax-cuda13-plugin")
  assert unused.installed_plugins == ("jax-cuda13-plugin",)
  line = unused.error_line()
  assert "jax-cuda13-plugin is installed but JAX did not start it" in line
  assert "'.[cuda12]'" in line and "\n" not in line


# The real entry point, with a faked device directory.


def run_main(probe_root, *extra):
  env = {k: v for k, v in os.environ.items()
         if k not in ("JAX_PLATFORMS", "CUDA_VISIBLE_DEVICES")}
  env[accelerators.ENV_PROBE_ROOT] = str(probe_root)
  # An unknown model is an invalid config, checked right after the accelerator
  # check: its error shows that the run got past the check, without training.
  return subprocess.run(
      [sys.executable, "-m", "jvrl.main", "--config=configs/cvrl_synthetic.py",
       f"--workdir={probe_root}/work", "--config.model_name=no_such_model", *extra],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_main_stops_on_a_gpu_machine_when_jax_runs_on_cpu(tmp_path):
  make_nodes(tmp_path / "dev", "nvidia0", "nvidiactl")
  result = run_main(tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  [line] = [l for l in result.stderr.splitlines() if l.startswith("jvrl:")]
  assert line.startswith(f"jvrl: this machine has an NVIDIA GPU ({tmp_path}/dev/nvidia0, ")
  assert "pip install -e '.[cuda]'" in line and "--allow_cpu_fallback" in line
  assert "Traceback" not in result.stderr and "config error" not in result.stderr
  assert not os.path.exists(tmp_path / "work")


def test_main_stops_on_a_tpu_machine_when_jax_runs_on_cpu(tmp_path):
  make_pci_device(tmp_path / "sys", "0000:00:05.0", "0x1ae0", "0x006f")  # v6e
  result = run_main(tmp_path)
  assert result.returncode == 2, result.stderr[-2000:]
  [line] = [l for l in result.stderr.splitlines() if l.startswith("jvrl:")]
  assert "a Cloud TPU (1 TPU chip(s) on PCI)" in line and "pip install -e '.[tpu]'" in line


def test_allow_cpu_fallback_goes_on_past_the_check(tmp_path):
  make_nodes(tmp_path / "dev", "nvidia0", "nvidiactl")
  result = run_main(tmp_path, "--allow_cpu_fallback")
  assert result.returncode == 2, result.stderr[-2000:]
  assert "--allow_cpu_fallback: training on cpu although this machine has an NVIDIA GPU" in (
      result.stderr)
  assert "jvrl: config error: config.model_name='no_such_model' is unknown" in result.stderr
