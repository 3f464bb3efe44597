"""Faults end to end: a pipeline killed mid-training resumes without redoing finished
jobs and without outputs that look complete but are not; a corrupt mirror file and a
diverging training run each stop with a clear message and no partial results."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import REPO, SMOKE, run_snakemake

# One job per seed trains both betas; the test kills the second seed's job.
TRAIN = "results/isometry/mnist/beta0/seed{seed}/model.pt"
TRAIN_LOG = "logs/isometry/train/mnist_seed{seed}.log"
# Long enough that the kill lands inside the second job: 1,200 steps (60 epochs of 20),
# a few seconds a job on a quiet 2-core CPU.
SLOW_ISOMETRY = """
stages: [isometry]
isometry:
  datasets: [mnist]
  per_dataset:
    mnist: {steps: 1200, betas: [0, 0.1], max_train: 2000, seeds: [0, 1]}
"""


def default_sigint() -> None:
    """In the child before exec: Ctrl-C as in a terminal. A shell starts background
    commands with SIGINT ignored, Python then installs no KeyboardInterrupt handler, and
    the ignore would pass down to Snakemake and its jobs."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def every_result_is_whole(root: Path) -> list[Path]:
    """Load every result file; returns them (a partial file would raise)."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
    for path in files:
        if path.suffix == ".pt":
            torch.load(path, weights_only=False)
        elif path.suffix == ".csv":
            pd.read_csv(path)
        elif path.suffix == ".json":
            json.loads(path.read_text())
    return files


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
            str(workdir), *args]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_killed_mid_training_resumes_without_redoing_finished_jobs(tmp_path, mirror, sig):
    """Ctrl-C (SIGINT to the process group) lets Snakemake stop and unlock; SIGKILL
    (a node failure) leaves the lock, so the restart unlocks first."""
    (tmp_path / "slow.yaml").write_text(SLOW_ISOMETRY)
    args = ["--cores", "1", "--configfile", SMOKE, str(tmp_path / "slow.yaml"), "--",
            TRAIN.format(seed=0), TRAIN.format(seed=1)]  # fmt: skip
    env = {**os.environ, "REPGEOM_DATA_MIRROR": str(mirror)}
    proc = subprocess.Popen(
        snakemake_cmd(tmp_path, *args),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes the job too
        preexec_fn=default_sigint,
    )
    models = {s: tmp_path / TRAIN.format(seed=s) for s in (0, 1)}
    logs = {s: tmp_path / TRAIN_LOG.format(seed=s) for s in (0, 1)}

    def mid_second_job():
        """(finished, running) betas once one job is done and the other is training."""
        done = [b for b in models if models[b].exists()]
        if len(done) != 1:
            return None
        other = 1 if done[0] == 0 else 0
        started = logs[other].exists() and "epoch 1/" in logs[other].read_text()
        return (done[0], other) if started else None

    deadline = time.monotonic() + 300
    try:
        while (state := mid_second_job()) is None:
            assert proc.poll() is None, "the pipeline ended before it could be killed"
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, sig)  # Snakemake and its running job
        proc.wait(timeout=60)

    finished, killed = models[state[0]], models[state[1]]
    assert not killed.exists(), "the killed job's model must not look complete"
    every_result_is_whole(tmp_path / "results")
    finished_mtime = finished.stat().st_mtime_ns

    if sig == signal.SIGKILL:
        run_snakemake(tmp_path, "--unlock", *args, mirror=mirror)
    resumed = run_snakemake(tmp_path, *args, mirror=mirror)
    out = resumed.stdout + resumed.stderr
    assert killed.exists()
    assert finished.stat().st_mtime_ns == finished_mtime, "a finished job was redone"
    stats = out[out.index("Job stats") :].split("\n\n")[0]
    assert re.search(r"^isometry_train_mnist\s+1$", stats, re.M), stats  # only the killed one
    every_result_is_whole(tmp_path / "results")
    again = run_snakemake(tmp_path, "-n", *args, mirror=mirror)
    assert "Nothing to be done" in again.stdout + again.stderr


@pytest.mark.slow
def test_corrupt_mirror_file_stops_with_the_file_named(tmp_path, mirror):
    bad_mirror = tmp_path / "mirror"
    shutil.copytree(mirror / "mnist", bad_mirror / "mnist")
    images = bad_mirror / "mnist" / "train-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(images.read_bytes()))
    images.write_bytes(gzip.compress(bytes(raw[: len(raw) - 784])))  # one image short
    work = tmp_path / "work"
    work.mkdir()
    proc = run_snakemake(
        work, "--cores", "1", "--configfile", SMOKE, "--", "results/data/mnist.pt",
        mirror=bad_mirror, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    log = (work / "logs" / "data" / "mnist.log").read_text()
    assert "train-images-idx3-ubyte" in log
    assert not (work / "results" / "data" / "mnist.pt").exists()
    assert every_result_is_whole(work / "results") == []


@pytest.mark.slow
def test_diverging_training_stops_with_a_clear_message(tmp_path, mirror):
    (tmp_path / "diverge.yaml").write_text(
        # An absurd learning rate: the weights jump to ~1e37 at the first step.
        "stages: [isometry]\nisometry: {datasets: [mnist], lr: 1.0e+37}\n"
    )
    target = TRAIN.format(seed=0)
    proc = run_snakemake(
        tmp_path, "--cores", "1", "--configfile", SMOKE, str(tmp_path / "diverge.yaml"),
        "--", target, mirror=mirror, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    log = (tmp_path / TRAIN_LOG.format(seed=0)).read_text()
    assert "DivergenceError" in log and "lower the learning rate (isometry.lr" in log
    train_dir = (tmp_path / target).parent
    assert not train_dir.exists() or not any(train_dir.iterdir()), "partial training results"
