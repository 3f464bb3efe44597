"""Adversarial stage: attacks, threat-model guarantees, sanity checks, claims, figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import torchattacks
from torch import nn

from repgeom.adversarial import attacks as atk
from repgeom.adversarial.checks import (
    checks_concerning,
    gradient_masking_checks,
    summarize_checks,
)
from repgeom.adversarial.evaluate import AttackSettings, attack_plan, eps_grid, evaluate_model
from repgeom.adversarial.summary import adversarial_claims, paired_gain, robustness_area


class TinyNet(nn.Module):
    """[N, 1, 28, 28] in [0, 1] -> logits, with a representation like the isometry MLP."""

    def __init__(self, hidden: int = 16, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.Tanh())
        self.readout = nn.Linear(hidden, 10)

    def representation(self, x):
        return self.body(x)

    def forward(self, x):
        return self.readout(self.representation(x))


class LinearNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.lin = nn.Linear(784, 10)

    def representation(self, x):
        return x.flatten(1)

    def forward(self, x):
        return self.lin(x.flatten(1))


def batch(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g)
    x[:, :, :4] = 0.0  # pixels on both edges of [0, 1], where clipping matters
    x[:, :, -4:] = 1.0
    return x, torch.randint(0, 10, (n,), generator=g)


def settings(**kw) -> AttackSettings:
    base = dict(
        eps=eps_grid(-2, 0, 4),
        n_points=40,
        subset_seed=0,
        batch_size=16,
        pgd_steps=5,
        pgd_step_factor=2.5,
        pgd_random_start=True,
        isometry_attacks=["fgsm", "pgd"],
        isometry_batch_size=8,
        run_autoattack=True,
        aa_eps=[0.1, 0.3],
        aa_points=12,
        aa_parts=["apgd-ce", "square"],
        aa_steps=5,
        aa_square_queries=20,
        run_square=True,
        square_queries=20,
    )
    base.update(kw)
    return AttackSettings.from_params(base)


def test_eps_grid_is_the_papers_logspace():
    grid = eps_grid(-2, 0, 10)
    assert len(grid) == 10 and grid[0] == pytest.approx(0.01) and grid[-1] == pytest.approx(1.0)
    assert np.allclose(np.diff(np.log10(grid)), 2 / 9)


@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_fgsm_on_linear_model_matches_closed_form(eps):
    model = LinearNet().eval()
    x, y = batch(8)
    W, b = model.lin.weight.detach(), model.lin.bias.detach()
    p = torch.softmax(x.flatten(1) @ W.T + b, dim=1)
    # d CE / d x = W^T (softmax - onehot); the batch mean only rescales it.
    grad = (p - F.one_hot(y, 10).float()) @ W
    expected = (x.flatten(1) + eps * grad.sign()).clamp(0, 1).view_as(x)
    ours = atk.fgsm(model, x, y, eps)
    theirs = torchattacks.FGSM(atk.LogitsModel(model), eps=eps)(x, y)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(theirs, expected, rtol=0, atol=1e-6)


def test_own_pgd_with_cross_entropy_equals_torchattacks():
    model = TinyNet().eval()
    x, y = batch(16)
    torch.manual_seed(5)
    ref = torchattacks.PGD(atk.LogitsModel(model), eps=0.1, alpha=0.02, steps=7)(x, y)
    torch.manual_seed(5)
    ours = atk.pgd(model, x, y, 0.1, alpha=0.02, steps=7, random_start=True)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)


def test_isometry_variant_with_beta_zero_is_cross_entropy():
    model = TinyNet().eval()
    x, y = batch(16)
    a = atk.fgsm(model, x, y, 0.1, atk.isometry_attack_loss(0.0, 10.0))
    torch.testing.assert_close(a, atk.fgsm(model, x, y, 0.1))
    # with beta > 0 the isometry term changes the gradient
    b = atk.fgsm(model, x, y, 0.1, atk.isometry_attack_loss(100.0, 10.0))
    assert not torch.equal(a, b)


@pytest.mark.parametrize(
    "method", ["fgsm", "pgd", "fgsm_isometry", "pgd_isometry", "autoattack", "square"]
)
@pytest.mark.parametrize("eps", [0.03, 0.3])
def test_adversarial_examples_stay_within_eps_and_unit_box(method, eps):
    from repgeom.adversarial.evaluate import build_attack

    model = TinyNet().eval()
    x, y = batch(16)
    s = settings()
    fn = build_attack(method, eps, model, atk.LogitsModel(model), s, beta=0.5, K=10.0, seed=0)
    x_adv = atk.in_chunks(fn, x, y, 16)
    assert x_adv.shape == x.shape
    assert (x_adv - x).abs().max() <= eps + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert atk.check_perturbation(x_adv, x, eps, method) <= eps + 1e-6
    if method in ("fgsm", "fgsm_isometry"):  # FGSM moves every unclipped pixel by eps
        moved = (x_adv - x).abs()
        interior = (x > eps) & (x < 1 - eps)
        assert torch.allclose(moved[interior], torch.full_like(moved[interior], eps), atol=1e-6)


def test_check_perturbation_rejects_leaving_the_threat_model():
    x, _ = batch(4)
    with pytest.raises(RuntimeError, match="leave the threat model"):
        atk.check_perturbation((x + 0.2).clamp(0, 1), x, 0.1, "bad")
    with pytest.raises(RuntimeError, match="leave the threat model"):
        atk.check_perturbation(x + 0.05, x, 0.1, "bad")  # above 1


def test_autoattack_parts_are_checked():
    with pytest.raises(ValueError, match="subset"):
        atk.autoattack(atk.LogitsModel(TinyNet()), 0.1, parts=["apgd-dlr"])


def test_evaluate_model_rows():
    model = TinyNet()
    images = (torch.rand(60, 1, 28, 28) * 255).to(torch.uint8)
    labels = torch.randint(0, 10, (60,))
    s = settings()
    meta = {"dataset": "mnist", "beta": 0.1, "K": 10.0, "seed": 0}
    df = pd.DataFrame(evaluate_model(model, meta, images, labels, s, seed=0))
    acc = df[df["metric"] == "accuracy"]
    assert acc["value"].between(0, 1).all()
    clean = acc[(acc["method"] == "clean") & (acc["subset"] == "main")]["value"].item()
    assert (acc[acc["subset"] == "main"]["value"] <= clean + 1e-12).all()
    assert set(acc["method"]) == {
        "clean",
        "fgsm",
        "pgd",
        "fgsm_isometry",
        "pgd_isometry",
        "autoattack",
        "square",
    }
    # PGD also runs at the AutoAttack eps, and is recorded on the AutoAttack points
    pgd_aa = acc[(acc["method"] == "pgd") & (acc["subset"] == "aa")]
    assert sorted(pgd_aa["eps"]) == [0.1, 0.3] and (pgd_aa["n_points"] == 12).all()
    assert len(acc[acc["method"] == "pgd"]) == len(s.pgd_eps()) + 2 == 8
    linf = df[df["metric"] == "max_linf"]
    assert (linf["value"] <= linf["eps"] + 1e-6).all()
    assert {"dataset", "beta", "K", "eps", "subset", "attack_loss"} <= set(df.columns)
    assert len(attack_plan(s)) == len(df[df["metric"] == "time_s"])


def test_subset_is_the_same_for_every_model():
    from repgeom.adversarial.evaluate import subset_indices

    assert torch.equal(subset_indices(100, 10, 3), subset_indices(100, 10, 3))
    assert len(subset_indices(5, 10, 3)) == 5


def table(rows):
    base = {"stage": "adversarial", "dataset": "mnist", "K": 10.0, "attack_loss": "x"}
    return pd.DataFrame([{**base, "metric": "accuracy", **r} for r in rows])


def curve_rows(method, beta, seed, accs, eps, subset="main"):
    return [
        dict(method=method, beta=beta, seed=seed, eps=e, value=a, subset=subset, n_points=100)
        for e, a in zip(eps, accs, strict=True)
    ]


def test_checks_flag_masking_symptoms():
    eps = [0.01, 0.1, 1.0]
    rows = (
        curve_rows("fgsm", 0.0, 0, [0.9, 0.5, 0.1], eps)
        + curve_rows("pgd", 0.0, 0, [0.8, 0.6, 0.3], eps)  # rises? no; weaker than FGSM at 0.1
        + curve_rows("pgd", 0.0, 0, [0.5, 0.2], [0.1, 0.3], "aa")
        + curve_rows("autoattack", 0.0, 0, [0.4, 0.25], [0.1, 0.3], "aa")
        + curve_rows("square", 0.0, 0, [0.3, 0.3], [0.1, 0.3], "aa")
        + curve_rows("fgsm", 1.0, 0, [0.9, 0.95, 0.0], eps)  # not monotone
    )
    checks = gradient_masking_checks(table(rows), tolerance=0.01, zero_accuracy=0.05)
    failed = {
        (r.beta, r.metric, r.method, round(r.eps, 3)) for r in checks.itertuples() if not r.passed
    }
    assert (0.0, "pgd_vs_fgsm", "pgd", 0.1) in failed
    assert (0.0, "pgd_vs_fgsm", "pgd", 1.0) in failed
    assert (0.0, "reaches_zero", "pgd", 1.0) in failed
    assert (0.0, "reaches_zero", "fgsm", 1.0) in failed  # 0.1 > 0.05
    assert (0.0, "autoattack_vs_pgd", "autoattack", 0.3) in failed
    assert (0.0, "square_vs_whitebox", "square", 0.1) in failed  # 0.3 < min(0.5, 0.4)
    assert (1.0, "monotone", "fgsm", 0.1) in failed
    passed = {(r.beta, r.metric, r.method) for r in checks.itertuples() if r.passed}
    assert (0.0, "monotone", "fgsm") in passed and (1.0, "reaches_zero", "fgsm") in passed
    assert (0.0, "square_vs_whitebox", "square") in passed  # at 0.3: 0.3 >= 0.2
    summary = summarize_checks(checks)
    assert summary["n_failed"].sum() == (~checks["passed"]).sum()


def test_robustness_area():
    assert robustness_area(np.array([0.01, 0.1, 1.0]), np.array([0.5, 0.5, 0.5])) == 0.5
    # linear in log10 eps from 1 to 0: area 1/2, whatever the order
    assert robustness_area(np.array([1.0, 0.01, 0.1]), np.array([0.0, 1.0, 0.5])) == 0.5
    with pytest.raises(ValueError):
        robustness_area(np.array([0.1]), np.array([1.0]))


EPS, AA_EPS = [0.01, 0.1, 1.0], [0.1, 0.3]
SHIFT = {0.0: 0.0, 0.1: 0.2, 1.0: -0.3}  # beta -> change of the curves it moves
GATES = {
    "min_loss_drop": 0.0,
    "min_accuracy_over_chance": 0.3,
    "adversarial_band": [0.1, 0.9],
    "adversarial_min_discriminating_eps": 1,
}


def attack_rows():
    """3 seeds x 3 betas whose compared models (beta 0, 0.1) pass every check: FGSM gains
    with beta 0.1, PGD does not change, AutoAttack loses 0.1. Beta 1 (not compared)
    fails pgd_vs_fgsm and autoattack_vs_pgd."""
    rows = []
    for seed, j in enumerate([0.0, 0.02, -0.01]):
        for beta, shift in SHIFT.items():
            rows += curve_rows("fgsm", beta, seed, [0.9 + j, 0.5 + j + shift, 0.0], EPS)
            rows += curve_rows("pgd", beta, seed, [0.8 + j, 0.4 + j, 0.0], EPS)
            rows += curve_rows("pgd", beta, seed, [0.4, 0.2], AA_EPS, "aa")
            rows += curve_rows("autoattack", beta, seed, [0.35 - shift, 0.15], AA_EPS, "aa")
            rows += curve_rows("square", beta, seed, [0.5, 0.3], AA_EPS, "aa")
    return rows


def isometry_rows(accuracy=0.97, losses=(2.3, 0.3)):
    """The isometry models' own rows: clean test accuracy, chance, loss tenths."""
    rows = []
    for seed in range(3):
        for beta in SHIFT:
            values = {
                "accuracy": accuracy,
                "chance_accuracy": 0.1,
                "train_loss_first_tenth": losses[0],
                "train_loss_last_tenth": losses[1],
            }
            rows += [
                {"stage": "isometry", "method": "isometric_mlp", "dataset": "mnist"}
                | {"seed": seed, "beta": beta, "metric": m, "value": v}
                for m, v in values.items()
            ]
    return pd.DataFrame(rows)


def claims_of(rows, iso=None, logger=None):
    metrics = table(rows)
    claims = adversarial_claims(
        metrics,
        checks=gradient_masking_checks(metrics, tolerance=0.01, zero_accuracy=0.05),
        isometry=isometry_rows() if iso is None else iso,
        reference_beta={"mnist": 0.1},
        threshold=0.0,
        eps=EPS,
        aa_eps=AA_EPS,
        scale={"mnist": {"n_points": 100}},
        gates=GATES,
        logger=logger,
    )
    return {(c["claim_id"], c["attack"]): c for c in claims}


def test_claims_from_a_table(caplog):
    with caplog.at_level("WARNING"):
        by_id = claims_of(attack_rows())
    # no fgsm_isometry rows in the table: that I3 case is skipped with a warning (the
    # scorecard shows it as not tested)
    assert set(by_id) == {("I3", "fgsm"), ("I4", "pgd"), ("I4", "autoattack")}
    assert "no paired runs" in caplog.text and "fgsm_isometry" in caplog.text
    assert {c["dataset"] for c in by_id.values()} == {"mnist"}
    i3, i4_pgd, i4_aa = by_id["I3", "fgsm"], by_id["I4", "pgd"], by_id["I4", "autoattack"]
    for c in by_id.values():
        assert c["gate_status"] == "pass", c["reason"]
        assert c["paper"] == "Beshkov et al. 2022"
    assert i3["verdict"] == "reproduced" and i3["mean"] == pytest.approx(0.1)
    assert i4_pgd["verdict"] == "inconclusive"  # zero gain, zero spread
    assert i4_aa["verdict"] == "not reproduced" and i4_aa["mean"] == pytest.approx(-0.1)
    assert i3["n_seeds"] == 3 and "n_points=100" in i3["scale"]
    # beta 1's failed checks concern no compared model: 2 checks x 6 models for FGSM,
    # (monotone, reaches_zero, pgd_vs_fgsm at 3 eps, square_vs_whitebox at 2) x 6 for PGD
    assert (
        "gradient_masking (failed gradient-masking checks concerning fgsm, of 12) = 0"
        in (i3["gates"])
    )
    assert "concerning pgd, of 42) = 0" in i4_pgd["gates"]
    # FGSM: only eps 0.1 has both means in [0.1, 0.9] (0.903 at eps 0.01, 0 at eps 1)
    assert "in [0.1, 0.9]) = 1, needs >= 1: pass" in i3["gates"]


def test_untrained_models_make_every_row_invalid():
    by_id = claims_of(attack_rows(), iso=isometry_rows(accuracy=0.12))
    for c in by_id.values():
        assert c["verdict"] == "invalid" and "heldout_accuracy" in c["reason"]
        assert "= 0.02" in c["reason"]
    by_id = claims_of(attack_rows(), iso=isometry_rows(losses=(2.3, 2.3)))
    assert all("training" in c["reason"] for c in by_id.values())
    assert all(c["verdict"] == "invalid" for c in by_id.values())


def test_failed_masking_check_invalidates_the_rows_of_its_attack():
    rows = attack_rows()
    for r in rows:  # FGSM leaves 20% of the points robust at eps 1: reaches_zero fails
        if r["method"] == "fgsm" and r["eps"] == 1.0 and r["beta"] == 0.0 and r["seed"] == 0:
            r["value"] = 0.2
    by_id = claims_of(rows)
    i3 = by_id["I3", "fgsm"]
    assert i3["verdict"] == "invalid"
    assert "gradient_masking" in i3["reason"] and "reaches_zero" in i3["reason"]
    assert "= 1, needs <= 0: FAIL" in i3["reason"]
    assert by_id["I4", "pgd"]["verdict"] == "inconclusive"  # PGD's checks all pass
    # Square stronger than both white-box attacks: PGD and AutoAttack are suspect, FGSM not.
    rows = attack_rows()
    for r in rows:
        if r["method"] == "square" and r["beta"] == 0.1 and r["seed"] == 1:
            r["value"] = 0.0
    by_id = claims_of(rows)
    for key in (("I4", "pgd"), ("I4", "autoattack")):
        assert by_id[key]["verdict"] == "invalid"
        assert "square_vs_whitebox" in by_id[key]["reason"]
    assert by_id["I3", "fgsm"]["verdict"] == "reproduced"


def test_eps_grid_where_every_accuracy_is_zero_is_invalid():
    rows = [{**r, "value": 0.0} if r["method"] == "fgsm" else r for r in attack_rows()]
    i3 = claims_of(rows)["I3", "fgsm"]
    assert i3["verdict"] == "invalid"
    assert "eps_grid" in i3["reason"] and "= 0, needs >= 1: FAIL" in i3["reason"]
    assert "gradient_masking" not in i3["reason"]  # all zero is monotone and reaches zero


def test_checks_concerning_an_attack():
    checks = pd.DataFrame(
        {
            "metric": ["monotone", "pgd_vs_fgsm", "autoattack_vs_pgd", "square_vs_whitebox"],
            "method": ["fgsm", "pgd", "autoattack", "square"],
        }
    )
    got = {a: list(checks_concerning(checks, a)["metric"]) for a in ("fgsm", "pgd", "autoattack")}
    assert got == {
        "fgsm": ["monotone"],
        "pgd": ["pgd_vs_fgsm", "square_vs_whitebox"],
        "autoattack": ["autoattack_vs_pgd", "square_vs_whitebox"],
    }


def test_paired_gain_uses_seeds_present_for_both_betas():
    stat = pd.Series({(0.0, 0): 0.1, (0.0, 1): 0.2, (0.1, 1): 0.5, (0.1, 2): 0.9})
    assert paired_gain(stat, 0.1) == [pytest.approx(0.3)]


def test_robustness_figure(tmp_path):
    from repgeom.figures.adversarial import robustness_curves

    eps = [0.01, 0.1, 1.0]
    rows = []
    for seed in range(2):
        for beta in (0.0, 0.1):
            rows += curve_rows("fgsm", beta, seed, [0.9, 0.5 + 0.1 * seed, 0.0], eps)
            rows += curve_rows("autoattack", beta, seed, [0.3, 0.1], [0.1, 0.3], "aa")
    out = tmp_path / "fig.png"
    robustness_curves(table(rows), "mnist", out)
    assert out.stat().st_size > 1000
    with pytest.raises(ValueError, match="no attack results"):
        robustness_curves(table(rows), "fashion-mnist", tmp_path / "none.png")
