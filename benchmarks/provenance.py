"""What every benchmark result records about its run: code version, packages and machine.

Imported by the scripts beside it (`python benchmarks/<name>.py` puts this folder on sys.path).
"""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from gencurate.runtime import cpu_count

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gencurate", "torch", "numpy", "faiss-cpu", "scikit-learn", "lightning", "torch-fidelity", "timm",
            "open-clip-torch", "denoising-diffusion-pytorch")


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.rstrip("\n")
    except (OSError, subprocess.TimeoutExpired):
        return ""


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def provenance() -> dict:
    """{git commit, uncommitted source files, package versions, python, platform, cores, load average}."""
    return {
        "git_commit": _git("rev-parse", "HEAD"),
        "uncommitted_src": _git("status", "--porcelain", "--", "src").splitlines(),
        "packages": {name: v for name in PACKAGES if (v := _version(name)) is not None},
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_cores": cpu_count(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
