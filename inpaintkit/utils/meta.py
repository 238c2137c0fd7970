"""Run metadata: what is needed to reproduce a run (argv, config, versions, commit, machine)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from .device import native_bf16

__all__ = ["git_commit", "cpu_model", "run_metadata"]


def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The current git commit (with ``+dirty`` when the tree has changes), or None outside git."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else :func:`platform.processor`, else "unknown"."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_metadata(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to reproduce a run: argv, config, versions, commit, machine."""
    import importlib.metadata as im

    versions = {}
    for pkg in ("inpaintkit", "torch", "torchvision", "timm", "numpy", "scipy", "scikit-image"):
        try:
            versions[pkg] = im.version(pkg)
        except im.PackageNotFoundError:
            versions[pkg] = None
    return {
        "argv": sys.argv,
        "config": config or {},
        "versions": versions,
        "python": sys.version.split()[0],
        "git_commit": git_commit(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_model": cpu_model(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16_cpu": native_bf16("cpu"),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
    }
