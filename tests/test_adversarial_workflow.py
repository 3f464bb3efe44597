"""The adversarial stage in the DAG: planning (dry run) and the smoke run."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import SMOKE, merged_config, run_snakemake

ONLY = ("--config", "stages=[adversarial]")


def planned(stdout: str) -> dict[str, int]:
    """Job counts from snakemake's 'Job stats' table."""
    counts, on = {}, False
    for line in stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            on = True
        elif on and len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    return counts


def model_seeds(config: dict) -> dict[str, list]:
    """Each isometry dataset's seeds: its own (isometry.per_dataset.<d>.seeds) or the run's."""
    iso = config["isometry"]
    return {d: iso["per_dataset"][d].get("seeds") or config["seeds"] for d in iso["datasets"]}


def test_dry_run_plans_one_eval_per_dataset_and_seed(tmp_path):
    out = run_snakemake(tmp_path, "-n", "--cores", "2", *ONLY).stdout
    jobs = planned(out)
    # one job attacks every beta of a dataset and seed
    assert jobs["adversarial_eval"] == sum(map(len, model_seeds(merged_config()).values()))
    assert jobs["adversarial_summary"] == 1 and jobs["adversarial_figures"] == 1
    assert "results/figures/adversarial_robustness_fashion-mnist.png" in out
    assert "results/adversarial/mnist/seed2/metrics.csv" in out
    assert "results/isometry/mnist/beta0.1/seed2/model.pt" in out


def test_dry_run_smoke(tmp_path):
    out = run_snakemake(tmp_path, "-n", "--cores", "2", "--configfile", SMOKE, *ONLY).stdout
    jobs = planned(out)
    assert jobs["adversarial_eval"] == sum(map(len, model_seeds(merged_config(SMOKE)).values()))
    assert jobs["adversarial_summary"] == 1


@pytest.mark.slow
def test_smoke_run(smoke_dag):
    res = smoke_dag / "results"
    metrics = pd.read_csv(res / "adversarial/metrics.csv")
    acc = metrics[metrics["metric"] == "accuracy"]
    assert acc["value"].between(0, 1).all()
    assert {"fgsm", "pgd", "fgsm_isometry", "autoattack", "square"} <= set(acc["method"])
    linf = metrics[metrics["metric"] == "max_linf"]
    assert (linf["value"] <= linf["eps"] + 1e-6).all()
    claims = pd.read_csv(res / "adversarial/claims.csv")
    assert set(claims["claim_id"]) == {"I3", "I4"}
    assert set(claims["attack"]) == {"fgsm", "fgsm_isometry", "pgd", "autoattack"}
    # every row reports its four gates, measured in the run; smoke models may fail them
    assert set(claims["verdict"]) <= {"inconclusive", "invalid"}  # one seed: no interval
    for gate in ("training", "heldout_accuracy", "gradient_masking", "eps_grid"):
        assert claims["gates"].str.contains(f"{gate} (", regex=False).all()
    i3 = claims[claims["claim_id"] == "I3"]
    assert i3["gates"].str.contains("attack_objective (", regex=False).all()
    assert claims["metric"].str.contains("eps50").all()
    invalid = claims[claims["verdict"] == "invalid"]
    assert (invalid["reason"].str.contains("FAIL|NaN")).all()
    checks = pd.read_csv(res / "adversarial/checks.csv")
    assert {"monotone", "reaches_zero", "pgd_vs_fgsm", "square_vs_whitebox"} <= set(
        checks["metric"]
    )
    log = (smoke_dag / "logs/adversarial/summary.log").read_text()
    assert "gradient-masking checks" in log and "claims:" in log
    for dataset in claims["dataset"].unique():
        assert (res / f"figures/adversarial_robustness_{dataset}.png").stat().st_size > 10_000
    run = next((res / "adversarial").glob("*/seed*/provenance.json"))
    assert all(m["beta"] >= 0 for m in json.loads(run.read_text())["model_meta"])
    grads = metrics[metrics["method"] == "isometry_objective"]
    assert set(grads["metric"]) == {"grad_norm_ratio", "grad_cosine"}
