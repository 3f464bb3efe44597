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

pytestmark = pytest.mark.slow


def planned_jobs(proc) -> dict[str, int]:
    """Rule -> number of jobs in the 'Job stats' table of a dry run ({} when nothing is to
    be done)."""
    text = proc.stdout + proc.stderr
    if "Nothing to be done" in text:
        return {}
    assert "Job stats:" in text, text
    jobs = {}
    for line in text[text.index("Job stats:") :].splitlines()[3:]:
        rule, count = line.split()
        if rule == "total":
            return jobs
        jobs[rule] = int(count)
    raise AssertionError(f"no total line in the job stats:\n{text}")


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


@pytest.mark.parametrize("change", FETCH_CHANGES)
def test_fetch_settings_do_not_invalidate_results(smoke_dag, mirror, tmp_path, change):
    with_mirror, overrides = FETCH_CHANGES[change]
    proc = run_snakemake(
        smoke_dag, "-n", *layered(tmp_path, overrides), mirror=mirror if with_mirror else None
    )
    assert planned_jobs(proc) == {}, proc.stdout + proc.stderr


def test_figures_target_redraws_only_figures(smoke_dag):
    """What `make figures` runs, without the mirror: the figure rules and the target."""
    rules = run_snakemake(smoke_dag, "--list-rules", "--configfile", SMOKE).stdout.split()
    figure_rules = [r for r in rules if r.endswith("_figures")]
    assert len(figure_rules) >= 8
    # The target first: --configfile and --forcerun take every word that follows.
    proc = run_snakemake(
        smoke_dag, "figures", "-n", "--configfile", SMOKE, "--forcerun", *figure_rules
    )
    jobs = planned_jobs(proc)
    assert set(jobs) == {*figure_rules, "figures"}, jobs
    assert jobs["figures"] == 1


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: (size, mtime in ns)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_rerun_without_mirror_keeps_datasets(smoke_dag, tmp_path):
    """A real rerun of the default target without the mirror does nothing; it runs in a
    copy of the smoke folder, so a regression cannot take the other tests' data with it."""
    copy = tmp_path / "smoke"
    shutil.copytree(smoke_dag, copy, symlinks=True)  # copy2 keeps the mtimes
    before = snapshot(copy / "results" / "data")
    assert {"mnist.pt", "mnist.provenance.json"} <= set(before)
    proc = run_snakemake(copy, "--cores", "1", "--configfile", SMOKE, check=False)
    assert snapshot(copy / "results" / "data") == before, proc.stdout + proc.stderr
    assert proc.returncode == 0 and planned_jobs(proc) == {}, proc.stdout + proc.stderr
