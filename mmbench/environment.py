"""The software and hardware a result came from, recorded in every result JSON.

Cheap by design: package versions come from `importlib.metadata` (no import), torch's CUDA,
cuDNN and GPU facts are read only when the run already imported torch, and the NVIDIA driver
version is read from `/proc/driver/nvidia/version` (falling back to `nvidia-smi` only when a GPU
is visible and that file is absent).
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

#: result key -> distribution name
PACKAGES = {
    "torch": "torch",
    "transformers": "transformers",
    "datasets": "datasets",
    "numpy": "numpy",
    "pillow": "pillow",
    "av": "av",
    "mmbench": "mmbench",
}


def environment_record(world_size: int = 1) -> dict[str, Any]:
    """{python, platform, cpu, <package>: version or None, cuda, cudnn, gpus, gpu_driver,
    world_size}; a value that cannot be known is None."""
    record: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
    }
    for key, dist in PACKAGES.items():
        record[key] = package_version(dist)
    record.update(_torch_facts())
    record["world_size"] = world_size
    return record


def package_version(dist: str) -> str | None:
    """The installed version of distribution `dist`, or None when it is not installed."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str | None:
    """The CPU's marketing name (Linux `/proc/cpuinfo`, else `platform.processor()`)."""
    try:
        for line in (
            Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines()
        ):
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def _torch_facts() -> dict[str, Any]:
    facts: dict[str, Any] = {"cuda": None, "cudnn": None, "gpus": [], "gpu_driver": None}
    torch = sys.modules.get("torch")
    if torch is None:
        return facts
    facts["cuda"] = getattr(torch.version, "cuda", None)
    try:
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    except (RuntimeError, AttributeError):
        cudnn = None
    facts["cudnn"] = str(cudnn) if cudnn is not None else None
    if torch.cuda.is_available():
        facts["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        facts["gpu_driver"] = nvidia_driver()
    return facts


def nvidia_driver() -> str | None:
    """The NVIDIA kernel driver version, or None."""
    try:
        text = Path("/proc/driver/nvidia/version").read_text(encoding="utf-8", errors="replace")
        match = re.search(r"Kernel Module\s+(?:for\s+\S+\s+)?([0-9][0-9.]+)", text)
        if match:
            return match.group(1)
    except OSError:
        pass
    return command_line(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])


def git_commit() -> str | None:
    """The commit of the mmbench checkout that runs, when it runs from a git checkout."""
    import mmbench

    root = Path(mmbench.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    return command_line(["git", "-C", str(root), "rev-parse", "HEAD"])


def command_line(args: list[str], timeout: float = 10) -> str | None:
    """The first line a command prints, or None when it is missing, fails or hangs."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None
