"""Provenance sidecars: every result records the code version, parameters,
seed, package versions, device and wall time that produced it."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from repgeom.io import write_json

if TYPE_CHECKING:
    import torch

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "snakemake", "repgeom")


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None  # git missing or hung: provenance is best-effort
    return out.stdout if out.returncode == 0 else None


def git_state(repo_dir: str | os.PathLike | None = None) -> dict:
    """Commit and dirty flag of the repository holding ``repo_dir`` (default:
    this package's source); None values when unknown. Never raises."""
    cwd = Path(repo_dir) if repo_dir is not None else Path(__file__).resolve().parent
    if not cwd.is_dir():
        return {"commit": None, "dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    if status is None:  # not a repository, or git unusable
        return {"commit": None, "dirty": None}
    commit = _git(["rev-parse", "--verify", "-q", "HEAD"], cwd)
    if not commit:  # no commit yet: no commit captures this code, so count it as dirty
        return {"commit": None, "dirty": True}
    return {"commit": commit.strip(), "dirty": bool(status.strip())}


def package_versions() -> dict:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_info(device: str | torch.device | None) -> dict:
    """Where a job ran; ``None``: a job without torch work (tables, figures) on the CPU."""
    info: dict[str, Any] = {
        "type": "cpu",
        "name": platform.processor() or platform.machine() or None,
        "torch_threads": None,
        "cpu_count": os.cpu_count(),
    }
    if device is None:
        return info
    import torch

    device = torch.device(device)
    info.update(type=device.type, torch_threads=torch.get_num_threads())
    info["float32"] = float32_settings()
    if device.type == "cuda" and torch.cuda.is_available():
        info["name"] = torch.cuda.get_device_name(device)
    return info


def float32_settings() -> dict:
    """How float32 work ran: torch's defaults use TF32 for cuDNN convolutions on CUDA
    (Ampere and later), not for matrix products; no code here changes them or uses AMP."""
    import torch

    return {
        "matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }


def build_provenance(
    *,
    params: dict,
    seed: int | None,
    device: str | torch.device | None,
    wall_time_s: float,
    extra: dict | None = None,
) -> dict:
    git = git_state()
    prov = {
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "params": params,
        "seed": seed,
        "versions": package_versions(),
        "device": device_info(device),
        "wall_time_s": float(wall_time_s),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
    }
    prov.update(extra or {})
    return prov


def write_provenance(path: str | os.PathLike, prov: dict) -> None:
    write_json(path, prov)


class RunTimer:
    """``with RunTimer() as t: ...`` then ``t.elapsed`` (seconds, monotonic).
    While running, ``elapsed`` reports the time so far."""

    def __init__(self) -> None:
        self._start: float | None = None
        self._end: float | None = None

    def __enter__(self) -> RunTimer:
        self._start = time.perf_counter()
        self._end = None
        return self

    def __exit__(self, *exc: object) -> None:
        self._end = time.perf_counter()

    @property
    def elapsed(self) -> float:
        if self._start is None:
            return 0.0
        end = self._end if self._end is not None else time.perf_counter()
        return end - self._start
