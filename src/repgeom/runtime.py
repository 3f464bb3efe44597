"""Seeding, determinism and device selection: the same seed on the same device
gives the same numbers (docs/design.md: Random streams and seeding)."""

from __future__ import annotations

import os
import random
import re

import numpy as np
import torch

ACCEPTED_DEVICES = ("auto", "cpu", "cuda", "cuda:N")


def seed_everything(seed: int, deterministic: bool = True) -> torch.Generator:
    """Seed python, numpy and torch (CPU and every CUDA device) and return a CPU
    generator seeded with ``seed`` for explicit use (shuffling, init noise)."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # numpy only accepts 32-bit seeds
    torch.manual_seed(seed)  # also seeds all CUDA devices
    if deterministic:
        # cuBLAS needs a fixed workspace to be deterministic; it must be set
        # before the first cuBLAS call, so only fill it in when the user has not.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        # warn_only: ops without a deterministic kernel warn instead of failing.
        torch.use_deterministic_algorithms(True, warn_only=True)
        # Deterministic mode also fills every new tensor with NaN (a debugging aid for
        # code that reads uninitialised memory); that costs ~5-10% of a CPU training step
        # and changes no result of code that writes before it reads.
        torch.utils.deterministic.fill_uninitialized_memory = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def select_device(spec: str = "auto") -> torch.device:
    """Resolve a config device string; fail early and clearly on a bad one."""
    spec = str(spec).strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if re.fullmatch(r"cuda(:\d+)?", spec):
        return _cuda_device(spec)
    raise ValueError(f"unknown device {spec!r}; accepted values: {', '.join(ACCEPTED_DEVICES)}")


def _cuda_device(spec: str) -> torch.device:
    if not torch.cuda.is_available():
        raise ValueError(
            f"device {spec!r} requested but CUDA is not available on this machine; "
            "use device 'auto' or 'cpu'"
        )
    device = torch.device(spec)
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise ValueError(f"device {spec!r} requested but only {count} CUDA device(s) exist")
    return device


def configure_threads(n: int | None) -> None:
    """Match torch's intra-op threads to the cores Snakemake granted the job."""
    if n is not None and int(n) > 0:
        torch.set_num_threads(int(n))
