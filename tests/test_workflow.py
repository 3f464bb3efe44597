"""The Snakemake DAG as a user drives it: dry runs, config checking, the smoke run."""

from __future__ import annotations

import json
import os
import re
import shutil

import pandas as pd
import pytest
from conftest import REPO, SMOKE, run_snakemake

from repgeom.claims import read_claims
from repgeom.data import load_dataset
from repgeom.scorecard import README_END, README_START

PAPER = str(REPO / "workflow" / "configs" / "paper.yaml")
# Claim ids each stage must report (a stage may test a claim per dataset or
# generator, e.g. L1 with generator=image): the scorecard is assembled from these.
STAGE_CLAIMS = {  # in the config's stage order
    "registration": {"R1"},
    "similarity": {"S1", "S2", "S3", "S4", "S4c"},
    "eigenmaps": {"E1", "E2", "E3", "E4"},
    "isometry": {"I1", "I2"},
    "adversarial": {"I3", "I4"},
    "lsh": {"L1", "L2", "L3"},
}
VERDICTS = {"reproduced", "not reproduced", "inconclusive", "invalid"}


def planned_datasets(stdout: str) -> set[str]:
    """Datasets the dry run plans to prepare (prepare_dataset's only wildcard)."""
    return set(re.findall(r"^\s*wildcards: dataset=([\w-]+)\s*$", stdout, flags=re.M))


def test_dry_run_default_config(tmp_path):
    out = run_snakemake(tmp_path, "-n", "--cores", "2").stdout
    assert "rule all" in out
    assert planned_datasets(out) == {"mnist", "fashion-mnist"}
    assert not (tmp_path / "results").exists()


def test_paper_preset_plans_cifar(tmp_path):
    out = run_snakemake(tmp_path, "-n", "--cores", "2", "--configfile", PAPER).stdout
    assert planned_datasets(out) == {"mnist", "fashion-mnist", "cifar10"}


@pytest.mark.parametrize(
    "stages, expected",
    [("[lsh]", set()), ("[registration,lsh]", set()), ("[isometry]", {"mnist", "fashion-mnist"})],
)
def test_only_datasets_of_selected_stages(tmp_path, stages, expected):
    out = run_snakemake(tmp_path, "-n", "--cores", "2", "--config", f"stages={stages}").stdout
    assert planned_datasets(out) == expected


@pytest.mark.parametrize(
    "bad_yaml, message",
    [
        ("data:\n  retries: -1\n", "key 'data.retries': -1 is less than the minimum of 1"),
        ("seeds: [0, -3]\n", "key 'seeds.1'"),
        ("device: gpu\n", "key 'device'"),
        ("eigenmaps:\n  learning_rte: 0.1\n", "unknown key 'eigenmaps.learning_rte'"),
        ("sedes: [1]\n", "unknown key 'sedes'"),
    ],
)
def test_bad_config_fails_before_any_job(tmp_path, bad_yaml, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(bad_yaml)
    proc = run_snakemake(tmp_path, "--cores", "1", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout
    for produced in ("results", "logs", "benchmarks"):
        assert not (tmp_path / produced).exists()


def jobs_run(proc) -> dict[str, int]:
    """Rule -> job count from Snakemake's "Job stats" table (empty: nothing to do)."""
    out = proc.stdout + proc.stderr
    if "Job stats" not in out:
        return {}
    table = out[out.index("Job stats") :].split("\n\n")[0]
    rows = re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)
    return {rule: int(n) for rule, n in rows if rule != "total"}


@pytest.mark.slow
def test_smoke_dag_end_to_end(smoke_dag, mirror):
    tmp_path = smoke_dag

    for name, n_train, n_test in (("mnist", 8000, 2000), ("fashion-mnist", 60000, 10000)):
        data = load_dataset(tmp_path / "results" / "data" / f"{name}.pt")
        assert tuple(data["train_images"].shape) == (n_train, 1, 28, 28)
        assert tuple(data["test_labels"].shape) == (n_test,)
        prov = json.loads((tmp_path / "results" / "data" / f"{name}.provenance.json").read_text())
        assert prov["fetch"]["mirror"] == str(mirror)  # how it was fetched: no param
        assert prov["wall_time_s"] > 0
        assert all(len(f["sha256"]) == 64 for f in prov["data"]["files"])
        assert (tmp_path / "logs" / "data" / f"{name}.log").stat().st_size > 0
        assert (tmp_path / "results" / "benchmarks" / "data" / f"{name}.tsv").exists()
    # The mirror's MNIST is a re-split, not the official files: provenance says so.
    mnist = json.loads((tmp_path / "results/data/mnist.provenance.json").read_text())
    assert mnist["data"]["warnings"]

    for stage, claim_ids in STAGE_CLAIMS.items():
        claims = read_claims(tmp_path / "results" / stage / "claims.csv")
        assert set(claims["claim_id"]) == claim_ids
        assert set(claims["verdict"]) <= VERDICTS
        # A mean is undefined only where the statistic is (the row is then invalid).
        assert (claims["mean"].notna() | (claims["verdict"] == "invalid")).all()
        assert list((tmp_path / "results" / "figures").glob(f"{stage}_*.png"))

    again = run_snakemake(tmp_path, "-n", "--cores", "2", "--configfile", SMOKE, mirror=mirror)
    assert "Nothing to be done" in again.stdout + again.stderr
    # Changing how data is fetched (data.*, the mirror) reruns nothing: test_data_rerun.py.


@pytest.mark.slow
def test_scorecard_has_every_stage_claim(smoke_dag):
    card = pd.read_csv(smoke_dag / "results" / "scorecard.csv")
    assert list(dict.fromkeys(card["stage"])) == list(STAGE_CLAIMS)
    for stage in STAGE_CLAIMS:
        claims = read_claims(smoke_dag / "results" / stage / "claims.csv")
        assert (card["stage"] == stage).sum() == len(claims)
    assert not card.duplicated(["stage", "claim_id", "case"]).any()
    md = (smoke_dag / "results" / "scorecard.md").read_text()
    # a table per paper (its header) + one row per claim
    assert md.count("\n| ") == len(card) + card["paper"].nunique()
    times = pd.read_csv(smoke_dag / "results" / "stage_times.csv")
    assert list(times["stage"]) == ["data", *STAGE_CLAIMS, "report", "total"]
    assert (times["job_seconds"] > 0).all()
    # Every provenance sidecar of the run, whatever its name (isometry and adversarial
    # write provenance.json, the others <name>.provenance.json).
    provenance = pd.read_csv(smoke_dag / "results" / "provenance.csv")
    sidecars = [p.relative_to(smoke_dag) for p in (smoke_dag / "results").rglob("*provenance.json")]
    assert sorted(provenance["file"]) == sorted(map(str, sidecars))
    assert {"isometry", "adversarial"} <= {p.parts[1] for p in sidecars}
    assert provenance["device"].eq("cpu").all()


def dag_jobs(workdir, *args: str, mirror=None) -> dict[str, int]:
    """Rule -> job count of the whole DAG (dry run of every job, nothing is touched)."""
    plan = run_snakemake(workdir, "-n", "--forceall", "--cores", "2", *args, mirror=mirror)
    return jobs_run(plan)


def link_big_copy_small(src, dst):
    """Datasets and models are hard-linked (no job edits them in place); the small
    files a rerun rewrites in place (benchmarks, Snakemake's records) are copied."""
    if os.path.getsize(src) > 1_000_000:
        os.link(src, dst)
    else:
        shutil.copy2(src, dst)


@pytest.mark.slow
def test_stage_times_count_the_jobs_of_this_dag_only(smoke_dag, mirror, tmp_path):
    # In a copy of the finished run, leftovers of another configuration lie beside
    # this run's files.
    run = tmp_path / "run"
    shutil.copytree(smoke_dag, run, symlinks=True, copy_function=link_big_copy_small)
    stray = run / "results" / "benchmarks" / "isometry" / "train" / "other_beta9_seed99.tsv"
    shutil.copyfile(next((run / "results" / "benchmarks" / "isometry").rglob("*.tsv")), stray)
    (run / "results" / "isometry" / "other.provenance.json").write_text("{}")
    redo = run_snakemake(
        run, "--cores", "1", "--configfile", SMOKE, "--forcerun", "run_summary", mirror=mirror
    )
    assert set(jobs_run(redo)) == {"run_summary", "all"}
    # Every job of the DAG but the run summary itself (still running when it writes
    # the table) and the `all` target (no job of its own).
    expected = dag_jobs(run, "--configfile", SMOKE, mirror=mirror)
    n_jobs = sum(expected.values()) - expected["all"] - expected["run_summary"]
    times = pd.read_csv(run / "results" / "stage_times.csv").set_index("stage")
    assert times.loc["total", "jobs"] == n_jobs
    assert times.loc["isometry", "jobs"] == sum(
        n for rule, n in expected.items() if rule.startswith("isometry_")
    )
    assert times.loc["report", "jobs"] == 1  # the scorecard
    provenance = pd.read_csv(run / "results" / "provenance.csv")
    assert "results/isometry/other.provenance.json" not in set(provenance["file"])
    assert len(provenance) == len(list((smoke_dag / "results").rglob("*provenance.json")))


def figure_rules(workdir) -> list[str]:
    listed = run_snakemake(workdir, "--list-rules", "--configfile", SMOKE)
    return sorted(r for r in listed.stdout.split() if r.endswith("_figures"))


@pytest.mark.slow
def test_plot_setting_reruns_only_figure_rules(smoke_dag, mirror):
    override = smoke_dag / "plot.yaml"
    override.write_text("figures: {dpi: 80, context: talk}\n")
    plan = run_snakemake(
        smoke_dag, "-n", "--cores", "2", "--configfile", SMOKE, str(override), mirror=mirror
    )
    planned = set(jobs_run(plan))
    stage_figures = {f"{stage}_figures" for stage in STAGE_CLAIMS}
    assert stage_figures <= planned
    # The stage times count the figure jobs too, so that cheap table is redone.
    assert planned - {"all", "run_summary"} <= set(figure_rules(smoke_dag))


# Registration trains its whole (noise, sigma) sweep in one job per seed: a model setting
# reruns those jobs and what reads their models, a gate threshold only the claims.
TABLE_RULES = {"registration_claims", "similarity_claims", "scorecard", "run_summary", "all"}
REG_MODEL_READERS = {"registration_train", "similarity_registration"} | TABLE_RULES


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, must, allowed",
    [
        ("gates: {registration_min_r2: 0.6}", TABLE_RULES - {"run_summary", "all"}, TABLE_RULES),
        ("registration: {model: {leak: 0.2}}", {"registration_train"}, REG_MODEL_READERS),
    ],
)
def test_registration_setting_reruns_only_what_depends_on_it(
    smoke_dag, mirror, override, must, allowed
):
    path = smoke_dag / "override.yaml"
    path.write_text(override + "\n")
    plan = run_snakemake(
        smoke_dag, "-n", "--cores", "2", "--configfile", SMOKE, str(path), mirror=mirror
    )
    planned = set(jobs_run(plan)) - set(figure_rules(smoke_dag))  # tables feed figures
    assert must <= planned, plan.stdout[-2000:]
    assert planned <= allowed, planned - allowed


@pytest.mark.slow
def test_figures_target_redraws_from_tables_without_training(smoke_dag, mirror):
    figures = sorted((smoke_dag / "results" / "figures").glob("*.png"))
    before = {f: f.stat().st_mtime_ns for f in figures}
    model = next((smoke_dag / "results" / "isometry").rglob("model.pt"))
    model_mtime = model.stat().st_mtime_ns
    redraw = run_snakemake(
        smoke_dag, "figures", "--cores", "2", "--configfile", SMOKE,
        "--forcerun", *figure_rules(smoke_dag), mirror=mirror,
    )  # fmt: skip
    ran = jobs_run(redraw)
    assert set(ran) - {"figures"} <= set(figure_rules(smoke_dag))
    assert all(f.stat().st_mtime_ns > before[f] for f in figures), "a figure was not redrawn"
    assert model.stat().st_mtime_ns == model_mtime


@pytest.mark.slow
def test_readme_rule_writes_results_section_and_keeps_the_rest(smoke_dag, mirror):
    readme = smoke_dag / "README.md"
    readme.write_text(f"intro\n{README_START}\nold\n{README_END}\nend\n")
    run_snakemake(smoke_dag, "readme", "--cores", "1", "--configfile", SMOKE, mirror=mirror)
    text = readme.read_text()
    assert text.startswith(f"intro\n{README_START}\n") and text.endswith(f"{README_END}\nend\n")
    card = pd.read_csv(smoke_dag / "results" / "scorecard.csv")
    # + the times table: header, data, the stages, report (the scorecard job), total
    assert text.count("\n| ") == len(card) + card["paper"].nunique() + len(STAGE_CLAIMS) + 4
    figures = sorted((smoke_dag / "results" / "figures").glob("*.png"))
    for figure in figures:
        assert f"](docs/figures/{figure.name})" in text
        assert (smoke_dag / "docs" / "figures" / figure.name).read_bytes() == figure.read_bytes()
    assert "](figures/" in (smoke_dag / "docs" / "results.md").read_text()

    readme.write_text("a README without the markers\n")
    failed = run_snakemake(
        smoke_dag, "readme", "--cores", "1", "--configfile", SMOKE, "--forcerun", "readme",
        mirror=mirror, check=False,
    )  # fmt: skip
    assert failed.returncode != 0
    assert readme.read_text() == "a README without the markers\n"
    assert "expected exactly one" in (smoke_dag / "logs" / "report" / "readme.log").read_text()
