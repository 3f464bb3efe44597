"""After a finished smoke run with the data mirror, reruns that change only how data is
fetched (no mirror, other retries, timeout or download policy) plan nothing and delete
nothing: a dataset is identified by its content (the sha256 in its provenance), not by
where it was fetched from. `make figures` redraws the figures and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import SMOKE, run_snakemake
from test_workflow import figure_rules, jobs_run

pytestmark = pytest.mark.slow


def layered(tmp_path: Path, overrides: dict) -> list[str]:
    """--configfile arguments: the smoke preset, then ``overrides`` on top."""
    extra = tmp_path / "fetch.yaml"
    extra.write_text(yaml.safe_dump(overrides))
    return ["--configfile", SMOKE, str(extra)]


FETCH_CHANGES = {
    "no mirror": (False, {}),
    "mirror only in the config key": (False, {"data_mirror": "/nonexistent/mirror"}),
    "other retries": (True, {"data": {"retries": 7}}),
    "other timeout": (True, {"data": {"timeout_s": 5}}),
    "download allowed": (True, {"data": {"download": True}}),  # the smoke preset forbids it
    "no mirror, download allowed": (False, {"data": {"download": True}}),
}


@pytest.fixture(scope="module")
def unchanged_plan(smoke_dag, mirror) -> dict[str, int]:
    """What a dry run with the smoke run's own settings plans: nothing, unless a test
    before these redrew something (figures may be redrawn in the smoke folder)."""
    return jobs_run(run_snakemake(smoke_dag, "-n", "--configfile", SMOKE, mirror=mirror))


@pytest.mark.parametrize("change", FETCH_CHANGES)
def test_fetch_settings_do_not_invalidate_results(
    smoke_dag, mirror, unchanged_plan, tmp_path, change
):
    with_mirror, overrides = FETCH_CHANGES[change]
    proc = run_snakemake(
        smoke_dag, "-n", *layered(tmp_path, overrides), mirror=mirror if with_mirror else None
    )
    assert jobs_run(proc) == unchanged_plan, proc.stdout + proc.stderr
    assert "prepare_dataset" not in unchanged_plan


def test_figures_target_redraws_only_figures(smoke_dag):
    """What `make figures` runs, without the mirror: the figure rules and the target."""
    redraw = figure_rules(smoke_dag)
    assert len(redraw) >= 7  # one per stage, two for eigenmaps
    # The target first: --configfile and --forcerun take every word that follows.
    proc = run_snakemake(smoke_dag, "figures", "-n", "--configfile", SMOKE, "--forcerun", *redraw)
    jobs = jobs_run(proc)
    assert set(jobs) == {*redraw, "figures"}, proc.stdout + proc.stderr
    assert jobs["figures"] == 1


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: (size, mtime in ns)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_rerun_without_mirror_keeps_datasets(smoke_dag, unchanged_plan, tmp_path):
    """A real rerun of the default target without the mirror runs nothing new and leaves
    results/data/ as it is. It runs in a copy of the smoke folder, so a regression cannot
    take the other tests' data with it."""
    copy = tmp_path / "smoke"
    shutil.copytree(smoke_dag, copy, symlinks=True)  # copy2 keeps the mtimes
    before = snapshot(copy / "results" / "data")
    assert {"mnist.pt", "mnist.provenance.json"} <= set(before)
    proc = run_snakemake(copy, "--cores", "1", "--configfile", SMOKE, check=False)
    assert snapshot(copy / "results" / "data") == before, proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert jobs_run(proc) == unchanged_plan, proc.stdout + proc.stderr
