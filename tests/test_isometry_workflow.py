"""The isometry stage in a smoke run: models the adversarial stage can load, tidy
tables, claims I1 and I2, figures."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import torch
from conftest import run_snakemake

from repgeom.claims import read_claims
from repgeom.isometry.models import load_model
from repgeom.metrics import read_metrics


@pytest.mark.slow
def test_isometry_stage_smoke(smoke_dag):
    res = smoke_dag / "results"

    for dataset in ("mnist", "fashion-mnist"):
        for beta in ("0", "0.1"):
            model, meta = load_model(
                res / "isometry" / dataset / f"beta{beta}" / "seed0" / "model.pt"
            )
            assert meta["dataset"] == dataset and meta["beta"] == float(beta)
            logits = model(torch.rand(3, 1, 28, 28))
            assert logits.shape == (3, 10) and torch.isfinite(logits).all()

    metrics = read_metrics(res / "isometry" / "metrics.csv")
    acc = metrics[metrics["metric"] == "accuracy"]
    assert len(acc) == 4 and acc["value"].between(0, 1).all()
    assert set(metrics["metric"]) >= {"within_class_correlation", "between_class_stress"}
    # what the gates read: chance, and the loss over the first/last tenth of the steps
    # (5 steps here: the first step against the last)
    wide = metrics.pivot_table(index=["dataset", "beta"], columns="metric", values="value")
    assert (wide["chance_accuracy"] == 0.1).all()
    assert (wide["train_loss_first_tenth"] > 0).all() and wide[
        "train_loss_last_tenth"
    ].notna().all()
    hier = read_metrics(res / "isometry" / "hierarchy_metrics.csv")
    levels = hier[hier["metric"] == "accuracy"].groupby("task")["level"].nunique()
    assert levels.to_dict() == {"mnist": 3, "torus": 3}

    claims = read_claims(res / "isometry" / "claims.csv")
    assert sorted(claims["claim_id"]) == ["I1", "I1", "I2", "I2"]
    # One seed gives no interval, so no verdict; barely trained models may fail a gate.
    assert set(claims["verdict"]) <= {"inconclusive", "invalid"}
    for gate in ("training (", "heldout_accuracy ("):
        assert claims["gates"].str.contains(gate, regex=False).all()
    i1, i2 = claims[claims["claim_id"] == "I1"], claims[claims["claim_id"] == "I2"]
    assert i1["mean"].notna().all()
    # Two betas: Spearman over beta is undefined (NaN), so I2 is invalid, never a verdict.
    assert (i2["verdict"] == "invalid").all() and i2["reason"].str.contains("NaN").all()
    assert "train_images=500" in claims["scale"].iloc[0]  # the count, not "all"
    curves = read_metrics(res / "isometry" / "curves.csv")
    flat = curves[curves["method"] == "isometric_mlp"]
    assert len(flat.groupby(["dataset", "beta", "seed"])) == 4  # every model's curve
    assert set(flat["metric"]) == {"loss", "accuracy"}
    hier = curves[curves["method"] == "hierarchical_mlp"]
    assert set(hier["metric"]) == {"loss", "accuracy_level0", "accuracy_level1", "accuracy_level2"}
    for name in ("geometry", "distances", "hierarchy", "curves"):
        assert (res / "figures" / f"isometry_{name}.png").stat().st_size > 10_000
    for log in (smoke_dag / "logs" / "isometry").rglob("*.log"):
        assert log.stat().st_size > 0
    bench = pd.read_csv(smoke_dag / "results" / "benchmarks" / "isometry" / "summary.tsv", sep="\t")
    assert len(bench) == 1


def test_reference_beta_outside_the_sweep_fails_before_any_job(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("isometry:\n  per_dataset:\n    mnist:\n      reference_beta: 5\n")
    proc = run_snakemake(tmp_path, "-n", "--cores", "1", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    assert "isometry.per_dataset.mnist.reference_beta" in proc.stdout + proc.stderr


def test_beta_wildcards_and_model_paths_in_dry_run(tmp_path):
    out = run_snakemake(tmp_path, "-n", "--cores", "2", "--config", "stages=[isometry]").stdout
    for beta in ("0", "0.01", "0.1", "1", "10"):
        assert f"results/isometry/mnist/beta{beta}/seed5/model.pt" in out
    assert "results/isometry/fashion-mnist/beta10/seed2/model.pt" in out
    # MNIST has its own 6 seeds (isometry.per_dataset.mnist.seeds), Fashion-MNIST the
    # top-level 3; one job trains every beta of a (dataset, seed)
    assert "results/isometry/fashion-mnist/beta10/seed3/model.pt" not in out
    assert re.search(r"^isometry_train_mnist\s+6$", out, re.M), out[-2000:]
    assert re.search(r"^isometry_train_fashion_mnist\s+3$", out, re.M)
