"""The DAG through a real single-node SLURM cluster, with Snakemake's SLURM executor.

Opt in with ``python -m pytest -m slurm`` (the default run deselects the marker):
the tests start the cluster with workflow/cluster/slurm_up.sh (root, Debian's
slurm-wlm and munge, installed on first use) and stop it again afterwards unless
it was already running. The last test needs no cluster and runs by default.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from conftest import REPO, SMOKE, run_snakemake

# Stages run through SLURM; widen as the others land.
SLURM_STAGES = ("isometry", "adversarial", "lsh")
UP = REPO / "workflow" / "cluster" / "slurm_up.sh"
DOWN = REPO / "workflow" / "cluster" / "slurm_down.sh"
PROFILE = REPO / "workflow" / "profiles" / "slurm"
# A GPU-capable rule whose only input is generated, so it is the first job submitted.
GPU_TARGET = "results/isometry/hierarchy/torus/seed0/metrics.csv"

SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+)")
RUN_ID = re.compile(r"SLURM run ID: (\S+)")


def _node_state() -> str | None:
    """State of the first node, or None when no controller answers."""
    if shutil.which("sinfo") is None:
        return None
    proc = subprocess.run(
        ["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, timeout=30
    )
    state = proc.stdout.strip().splitlines()
    return state[0] if proc.returncode == 0 and state else None


def _scontrol_job(job_id: str) -> str:
    proc = subprocess.run(
        ["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True, timeout=30
    )
    return proc.stdout


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running local cluster: started here, stopped after the module if started here."""
    if os.geteuid() != 0:
        pytest.skip("needs root: slurm_up.sh installs slurm-wlm/munge and starts the daemons")
    if conf_dir := os.environ.get("REPGEOM_SLURM_CONF_DIR"):
        os.environ.setdefault("SLURM_CONF", str(Path(conf_dir) / "slurm.conf"))
    was_up = _node_state() is not None
    proc = subprocess.run(["bash", str(UP)], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        if "not written by this script" in proc.stderr:
            pytest.skip(f"a site SLURM configuration is in the way: {proc.stderr.strip()}")
        if shutil.which("slurmctld") is None or shutil.which("munged") is None:
            pytest.skip(f"slurm-wlm/munge could not be installed:\n{proc.stderr[-2000:]}")
        pytest.fail(f"slurm_up.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    yield
    if not was_up:
        subprocess.run(["bash", str(DOWN)], capture_output=True, text=True, timeout=120)


@pytest.mark.slurm
def test_smoke_dag_through_slurm(tmp_path, mirror, slurm_cluster):
    stages = ",".join(SLURM_STAGES)
    start = time.monotonic()
    proc = run_snakemake(
        tmp_path,
        "--profile",
        str(PROFILE),
        "--configfile",
        SMOKE,
        "--config",
        f"stages=[{stages}]",
        mirror=mirror,
    )
    wall = time.monotonic() - start
    log = proc.stdout + proc.stderr

    for stage in SLURM_STAGES:
        assert (tmp_path / "results" / stage / "claims.csv").stat().st_size > 0
        assert list((tmp_path / "results" / "figures").glob(f"{stage}_*.png")), stage

    # Every job went through sbatch; SLURM (no accounting: squeue, kept for
    # MinJobAge) knows each one as completed, under this run's job name, and
    # none asked for a GPU (gpu=0 on CPU).
    job_ids = SUBMITTED.findall(log)
    assert job_ids, log
    run_id = RUN_ID.search(log).group(1)
    squeue = subprocess.run(
        ["squeue", "-h", "--states=all", "--name", run_id, "-o", "%i|%T"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    states = dict(line.split("|") for line in squeue.split())
    assert {states.get(j) for j in job_ids} == {"COMPLETED"}, states
    for job_id in job_ids:
        assert "gpu" not in _scontrol_job(job_id)
    print(f"smoke DAG {stages} through SLURM: {len(job_ids)} jobs, {wall:.0f} s")


@pytest.mark.slurm
def test_gpu_rule_requests_a_gpu(tmp_path, slurm_cluster):
    """device=cuda gives the training rules gpu=1, which the plugin turns into sbatch --gpus=1.

    The local node advertises GPUs only where the machine has them: without any,
    SLURM rejects the request at submission, which shows it was a GPU request.
    """
    node = subprocess.run(
        ["scontrol", "-o", "show", "node"], capture_output=True, text=True, check=True
    ).stdout
    has_gpu = "gpu:" in node
    proc = run_snakemake(
        tmp_path,
        "--profile",
        str(PROFILE),
        "--retries",
        "0",
        "--configfile",
        SMOKE,
        "--config",
        "stages=[isometry]",
        "device=cuda",
        "--",
        GPU_TARGET,
        check=False,
    )
    log = proc.stdout + proc.stderr
    if has_gpu:
        assert proc.returncode == 0, log
        job_ids = SUBMITTED.findall(log)
        assert job_ids and "gpu" in _scontrol_job(job_ids[-1])
    else:
        assert proc.returncode != 0
        assert "Requested node configuration is not available" in log, log
        call = log[log.index("sbatch call:") :].splitlines()[1]
        assert "--gpus=1" in call, call
        assert not (tmp_path / GPU_TARGET).exists()


class _Resources(dict):
    """What the plugin sees of job.resources: get() and attribute access."""

    __getattr__ = dict.__getitem__


class _Job:
    def __init__(self, **resources):
        self.name = "isometry_train"
        self.threads = 1
        self.resources = _Resources(resources)

    def is_group(self):
        return False


@pytest.mark.parametrize("gpu, expected", [(0, None), (1, "--gpus=1")])
def test_plugin_turns_gpu_resource_into_gpus(gpu, expected):
    """The plugin's sbatch arguments for our rules' resources (no cluster needed)."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    job = _Job(mem_mb=3000, runtime=30, gpu=gpu)
    params = {
        "run_uuid": "repgeom_test",
        "slurm_logfile": "/tmp/%j.log",
        "comment_str": "rule_isometry_train",
        "account": "",
        "partition": "",
        "workdir": "/tmp",
    }
    call = get_submit_command(job, params) + set_gres_string(job)
    assert "--mem 3000" in call and "-t 30" in call
    gpu_args = [a for a in call.split() if "gpu" in a]
    assert gpu_args == ([expected] if expected else []), call
