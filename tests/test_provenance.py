import os
import shutil
import subprocess
import time

import pytest
import torch

from repgeom.io import read_json
from repgeom.provenance import (
    RunTimer,
    build_provenance,
    device_info,
    git_state,
    package_versions,
    write_provenance,
)

KEYS = {
    "git_commit",
    "git_dirty",
    "params",
    "seed",
    "versions",
    "device",
    "wall_time_s",
    "created",
    "hostname",
}


def test_git_state_outside_repo(tmp_path):
    assert git_state(tmp_path) == {"commit": None, "dirty": None}
    assert git_state(tmp_path / "does-not-exist") == {"commit": None, "dirty": None}


def test_git_state_without_git_binary(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert git_state(tmp_path) == {"commit": None, "dirty": None}


def _git(cwd, *args):
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "HOME": str(cwd),  # ignore the user's git config
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_git_state_in_repo(tmp_path):
    _git(tmp_path, "init", "-q")
    assert git_state(tmp_path) == {"commit": None, "dirty": True}  # no commit yet
    (tmp_path / "f.txt").write_text("a")
    _git(tmp_path, "add", "f.txt")
    _git(tmp_path, "commit", "-q", "-m", "x")
    state = git_state(tmp_path)
    assert len(state["commit"]) == 40 and state["dirty"] is False
    (tmp_path / "f.txt").write_text("b")
    assert git_state(tmp_path)["dirty"] is True


def test_package_versions():
    v = package_versions()
    assert set(v) >= {"python", "torch", "torchvision", "numpy", "pandas", "snakemake", "repgeom"}
    assert v["torch"] is not None and v["python"].count(".") == 2


def test_device_info_cpu():
    info = device_info(torch.device("cpu"))
    assert info["type"] == "cpu"
    assert info["torch_threads"] == torch.get_num_threads()
    assert info["cpu_count"] >= 1


def test_build_and_write_provenance_round_trip(tmp_path):
    prov = build_provenance(
        params={"lr": 0.1, "layers": [2, 3]},
        seed=3,
        device="cpu",
        wall_time_s=1.5,
        extra={"stage": "lsh"},
    )
    assert KEYS <= set(prov) and prov["stage"] == "lsh"
    assert prov["created"].endswith("+00:00")
    path = tmp_path / "sub" / "run.provenance.json"
    write_provenance(path, prov)
    assert read_json(path) == prov
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left


def test_run_timer():
    with RunTimer() as t:
        time.sleep(0.02)
    assert 0.015 < t.elapsed < 1.0
    frozen = t.elapsed
    time.sleep(0.01)
    assert t.elapsed == frozen


def test_device_info_records_float32_settings():
    """TF32 (cuDNN's default on CUDA) and the matmul precision are in every torch job's
    provenance, so a GPU run's precision is on record."""
    info = device_info(torch.device("cpu"))
    assert info["float32"] == {
        "matmul_precision": torch.get_float32_matmul_precision(),
        "cuda_matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }
    assert "float32" not in device_info(None)  # no torch work, nothing to record
