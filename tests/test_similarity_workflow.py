"""Stage similarity in the smoke run: claims S1-S4, the tidy tables and the figures, and
a clear error for a registration model the configuration does not train."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import SMOKE, run_snakemake

FIGURES = ("toy_density", "density_hist", "retrieval", "denoising", "training", "curves")
GATES = {  # every row reports the gates the claims registry declares, in its order
    "S1": ["training"],
    "S2": ["training", "registration_learned", "registration_floor", "density_exact"],
    "S3": ["training", "registration_learned", "registration_floor", "density_exact"],
    "S4": ["training", "heldout_accuracy", "similarity_term_effect"],
    "S4c": ["training", "heldout_accuracy", "similarity_term_effect"],
}


@pytest.mark.slow
def test_similarity_stage_smoke_run(smoke_dag):
    tmp_path = smoke_dag
    claims = pd.read_csv(tmp_path / "results/similarity/claims.csv")
    assert sorted(claims["claim_id"]) == ["S1", "S2", "S3", "S4", "S4c"]
    # The paper's -cos term is S4; the authors' +cos term is S4c.
    assert claims.loc[claims.claim_id == "S4", "variant"].tolist() == ["minus_cos"]
    assert claims.loc[claims.claim_id == "S4c", "variant"].tolist() == ["plus_cos"]
    assert claims["mean"].notna().all() and (claims["n_seeds"] == 1).all()
    # One seed: no interval, so no verdict beyond inconclusive; a row whose gate failed
    # (the smoke preset's models are barely trained) is invalid and says which gate.
    assert set(claims["verdict"]) <= {"inconclusive", "invalid"}
    decided = claims[claims.verdict == "inconclusive"]
    assert (decided["gate_status"] == "pass").all()
    assert decided["reason"].str.startswith("one seed").all()
    invalid = claims[claims.verdict == "invalid"]
    assert invalid["reason"].str.contains(": FAIL").all()
    for cid, gates in GATES.items():
        for text in claims.loc[claims.claim_id == cid, "gates"]:
            assert [g.split(" (")[0] for g in text.split("; ")] == gates
    # The smoke preset trains sigma = 0 too: S2 and S3 measure the registration floor.
    reg = claims[claims.claim_id.isin(["S2", "S3"])]
    assert reg["gates"].str.contains("registration_floor \\(held-out rmse_pred").all()
    metrics = pd.read_csv(tmp_path / "results/similarity/metrics.csv")
    gaps = metrics.loc[metrics.metric == "density_max_rel_gap", "value"]
    assert len(gaps) == 3 and (gaps < 1e-4).all()  # toy f = 1, 8 and the registration model
    check = metrics.set_index("metric")["value"]
    assert check["density_check_samples"] == 64 and check["density_check_max_rel_error"] < 1e-4
    losses = metrics[metrics.metric.str.startswith("train_loss_")]
    assert len(losses) == 2 * (2 + 3)  # first and last tenth: 2 toy MLPs, 3 MNIST CNNs
    steps = metrics[metrics.metric == "steps_to_target"]
    assert set(steps["variant"]) == {"baseline", "plus_cos", "minus_cos"}
    assert steps["value"].between(0, 30).all()
    curves = pd.read_csv(tmp_path / "results/similarity/enforce/seed0_curves.csv")
    accuracy = curves[curves.metric == "accuracy"]  # a curve table, unit: step
    assert sorted(accuracy["epoch"].unique()) == [0, 10, 20, 30]
    assert (accuracy["split"] == "heldout").all() and (curves["unit"] == "step").all()
    assert accuracy["value"].between(0, 1).all()
    samples = pd.read_csv(tmp_path / "results/similarity/registration/iid/sigma2/seed0_samples.csv")
    assert len(samples) == 144 and (samples["predicted_ratio"] > 0).all()
    assert (samples["hard_0.5"] >= 1).all()  # every sample is its own neighbour
    for name in FIGURES:
        assert (tmp_path / f"results/figures/similarity_{name}.png").stat().st_size > 10_000


@pytest.mark.parametrize(
    "override, message",
    [
        # A sigma the registration stage does not train.
        ("similarity={'registration': {'sigmas': [3]}}", "similarity.registration.sigmas"),
        # S2/S3 measure the noise-induced error against the sigma = 0 model of each seed.
        ("registration={'sigmas': [2]}", "'registration.sigmas': must contain 0"),
    ],
)
def test_similarity_refuses_registration_sigmas_it_cannot_use(tmp_path, override, message):
    proc = run_snakemake(
        tmp_path, "-n", "--configfile", SMOKE, "--config", "stages=[similarity]", override,
        check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
