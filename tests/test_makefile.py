"""`make run` starts one Snakemake job per CPU of the machine, not a fixed 8."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from conftest import REPO


def planned_cores(*args: str) -> int:
    # CORES overrides the default; nproc honours the OpenMP limits.
    drop = {"CORES", "OMP_NUM_THREADS", "OMP_THREAD_LIMIT", "MAKEFLAGS"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    out = subprocess.run(
        ["make", "-n", "run", *args], cwd=REPO, env=env, capture_output=True, text=True, check=True
    ).stdout
    (cores,) = re.findall(r"snakemake --cores (\d+)\s*$", out, flags=re.M)
    return int(cores)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_uses_the_machines_cpus():
    assert planned_cores() == len(os.sched_getaffinity(0))
    assert planned_cores("CORES=3") == 3
