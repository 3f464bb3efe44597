"""Atomic writes (repgeom.io): identical saves give identical bytes, and the temporaries
a killed write leaves behind are found and removed."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import REPO, SMOKE, run_snakemake

from repgeom.io import remove_stale_temporaries, save_torch, write_text


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_identical_saves_are_byte_identical(tmp_path):
    obj = {"weight": torch.arange(6.0).reshape(2, 3), "name": "tiny"}
    first, second = tmp_path / "run1" / "model.pt", tmp_path / "run2" / "model.pt"
    save_torch(first, obj)
    save_torch(second, obj)
    assert sha256(first) == sha256(second)
    assert torch.equal(torch.load(second, weights_only=True)["weight"], obj["weight"])


def killed_write(path: Path) -> None:
    """A process killed (no cleanup) while atomic_path writes ``path``."""
    code = (
        "import os, sys\n"
        "from repgeom.io import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'half')\n"
        "    os._exit(9)\n"
    )
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code, str(path)], env=env)
    assert proc.returncode == 9


def test_atomic_writes_get_the_mode_of_any_new_file(tmp_path):
    # mkstemp makes 0600 files: results were unreadable to others on a shared machine.
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "a.txt").stat().st_mode)
    assert mode == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o644


def test_stale_temporaries_of_a_killed_write_are_removed(tmp_path):
    target = tmp_path / "model.pt"
    killed_write(target)
    (stale,) = tmp_path.glob(".model.pt.*.tmp")
    others = [tmp_path / n for n in ("model.pt.bak", ".model.pt.bak.abc123.tmp", ".other.tmp")]
    for p in others:
        p.write_text("keep")
    assert remove_stale_temporaries(target) == [stale]
    assert not stale.exists() and all(p.exists() for p in others)
    assert remove_stale_temporaries(tmp_path / "missing" / "x.pt") == []


@pytest.mark.slow
def test_identical_runs_give_identical_model_and_dataset_files(smoke_dag, mirror, tmp_path):
    """A training rule and the data rule, run again in a fresh folder with the smoke
    settings, write the same bytes as the smoke run did."""
    files = ["results/lsh/models/randnet/C5/seed0.pt", "results/data/mnist.pt"]
    run_snakemake(tmp_path, *files, "--cores", "2", "--configfile", SMOKE, mirror=mirror)
    for f in files:
        assert sha256(tmp_path / f) == sha256(smoke_dag / f), f
