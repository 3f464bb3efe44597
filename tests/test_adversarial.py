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
from repgeom.adversarial.evaluate import (
    AttackSettings,
    attack_plan,
    bracket_crossing,
    eps_grid,
    evaluate_model,
)
from repgeom.adversarial.grid import crossing_grid
from repgeom.adversarial.summary import (
    adversarial_claims,
    eps50,
    normalised_accuracy,
    paired_ratio,
)


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
        crossing_eps=[0.05, 0.1, 0.3],
        run_autoattack=True,
        aa_bracket=False,
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
        "autoattack_whitebox",
        "square",
    }
    # PGD runs on the crossing grid plus the largest FGSM eps, and is recorded on the
    # AutoAttack points at the crossing eps; AutoAttack (not bracketing) at every one
    pgd_aa = acc[(acc["method"] == "pgd") & (acc["subset"] == "aa")]
    assert sorted(pgd_aa["eps"]) == [0.05, 0.1, 0.3] and (pgd_aa["n_points"] == 12).all()
    assert sorted(acc.loc[acc["method"] == "pgd", "eps"].unique()) == [0.05, 0.1, 0.3, 1.0]
    assert sorted(acc.loc[acc["method"] == "autoattack", "eps"]) == [0.05, 0.1, 0.3]
    # the ensemble's white-box parts leave at least as many points as the whole ensemble
    aa = acc[acc["method"] == "autoattack"].set_index("eps")["value"]
    wb = acc[acc["method"] == "autoattack_whitebox"].set_index("eps")["value"]
    assert (aa <= wb + 1e-12).all()
    linf = df[df["metric"] == "max_linf"]
    assert (linf["value"] <= linf["eps"] + 1e-6).all()
    assert {"dataset", "beta", "K", "eps", "subset", "attack_loss"} <= set(df.columns)
    # timed: the FGSM/PGD plan, AutoAttack and Square at each of the 3 crossing eps
    assert len(attack_plan(s)) + 6 == len(df[df["metric"] == "time_s"])
    grads = df[df["method"] == "isometry_objective"].set_index("metric")["value"]
    assert grads["grad_norm_ratio"] > 0 and -1 <= grads["grad_cosine"] <= 1


def test_objective_gradients_measure_the_isometry_term():
    """The norm ratio and cosine against a hand-computed split of the variant's loss."""
    from repgeom.isometry.losses import isometry_penalty

    model, (x, y) = TinyNet(), batch(16)
    ratio, cosine = atk.objective_gradients(model, x, y, beta=2.0, K=10.0, batch_size=16)
    xg = x.clone().requires_grad_(True)
    g_ce = torch.autograd.grad(F.cross_entropy(model(xg), y), xg)[0]
    xg = x.clone().requires_grad_(True)
    g_iso = torch.autograd.grad(2.0 * isometry_penalty(model.representation(xg), x, y, 10.0), xg)[0]
    assert ratio == pytest.approx(float(g_iso.norm() / g_ce.norm()), rel=1e-5)
    total = (g_ce + g_iso).flatten()
    assert cosine == pytest.approx(float(F.cosine_similarity(total, g_ce.flatten(), dim=0)))
    assert atk.objective_gradients(model, x, y, beta=0.0, K=10.0, batch_size=16) == (0.0, 1.0)


def test_bracketed_autoattack_runs_only_where_eps50_needs_it():
    model = TinyNet()
    images = (torch.rand(60, 1, 28, 28) * 255).to(torch.uint8)
    labels = model(images.float() / 255).argmax(1)  # every point clean-correct
    s = settings(crossing_eps=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0], aa_bracket=True)
    meta = {"dataset": "mnist", "beta": 0.0, "K": 10.0, "seed": 0}
    df = pd.DataFrame(evaluate_model(model, meta, images, labels, s, seed=0))
    aa = df[(df["method"] == "autoattack") & (df["metric"] == "accuracy")].sort_values("eps")
    grid = sorted(s.crossing_eps)
    got = list(aa["eps"])
    assert len(got) == 2 and grid.index(got[1]) == grid.index(got[0]) + 1
    assert aa["value"].iloc[0] >= 0.5 > aa["value"].iloc[1]  # clean accuracy is 1


def test_bracket_crossing_walks_to_the_crossing():
    grid = [0.01, 0.02, 0.04, 0.08, 0.16]
    curve = dict(zip(grid, [0.9, 0.7, 0.55, 0.3, 0.1], strict=True))
    calls = []

    def measure(e):
        calls.append(e)
        return curve[e]

    # walks down from the start until the crossing is bracketed, keeping what it measured
    assert bracket_crossing(grid, 4, measure) == {0.04: 0.55, 0.08: 0.3, 0.16: 0.1}
    assert calls == [0.16, 0.08, 0.04]
    assert bracket_crossing(grid, 0, curve.get) == {0.01: 0.9, 0.02: 0.7, 0.04: 0.55, 0.08: 0.3}
    assert bracket_crossing(grid, 3, curve.get) == {0.04: 0.55, 0.08: 0.3}
    low = {e: 0.1 for e in grid}  # never above: walks to the start of the grid
    assert list(bracket_crossing(grid, 2, low.get)) == [0.01, 0.02, 0.04]


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


def test_square_part_of_autoattack_beyond_its_white_box_parts_fails_the_check():
    """AutoAttack's Square part breaking points its white-box parts left robust is a sign
    of gradient masking: square_vs_whitebox fails where it broke more than the tolerance."""
    eps = [0.05, 0.1]
    rows = (
        curve_rows("pgd", 0.0, 0, [0.6, 0.3], eps, "aa")
        + curve_rows("autoattack_whitebox", 0.0, 0, [0.5, 0.2], eps, "aa")
        + curve_rows("autoattack", 0.0, 0, [0.5, 0.1], eps, "aa")
    )
    checks = gradient_masking_checks(table(rows), tolerance=0.01, zero_accuracy=0.05)
    sq = checks[checks["metric"] == "square_vs_whitebox"].set_index("eps")
    assert list(sq["passed"]) == [True, False]
    assert sq.loc[0.1, "value"] == pytest.approx(-0.1)
    assert set(checks_concerning(sq.reset_index(), "pgd")["metric"]) == {"square_vs_whitebox"}


def brute_force_eps50(eps, values, level=0.5, n=200_001):
    """The first eps of a dense log grid where the curve, linear in log10(eps) between
    its points, is below ``level``."""
    t = np.linspace(np.log10(min(eps)), np.log10(max(eps)), n)
    v = np.interp(t, np.log10(eps), values)
    below = np.flatnonzero(v < level)
    return 10 ** t[below[0]] if len(below) and below[0] > 0 else np.nan


@pytest.mark.parametrize("seed", range(20))
def test_eps50_matches_brute_force_on_constructed_curves(seed):
    rng = np.random.default_rng(seed)
    eps = np.sort(rng.uniform(0.005, 0.3, size=rng.integers(3, 9)))
    values = np.sort(rng.uniform(0, 1, size=len(eps)))[::-1]  # falling curve
    values[0], values[-1] = max(values[0], 0.6), min(values[-1], 0.4)  # crosses inside
    if seed % 4 == 0:  # not monotone: the first crossing counts
        values = np.r_[values[:1], 0.45, 0.7, values[1:]][: len(eps)]
    want = brute_force_eps50(eps, values)
    assert eps50(eps, values) == pytest.approx(want, rel=2e-5)
    shuffled = rng.permutation(len(eps))  # order of the points does not matter
    assert eps50(eps[shuffled], values[shuffled]) == pytest.approx(want, rel=2e-5)


def test_eps50_of_a_smooth_curve_and_outside_the_grid():
    # logistic in log10(eps) centred at 0.04, sampled on a fine grid: close to 0.04
    grid = np.logspace(-2.5, -0.5, 60)
    curve = 1 / (1 + (grid / 0.04) ** 4)
    assert eps50(grid, curve) == pytest.approx(0.04, rel=1e-3)
    assert eps50([0.01, 0.1], [0.8, 0.2]) == pytest.approx(10**-1.5)  # halfway in log10
    assert np.isnan(eps50([0.01, 0.1], [0.4, 0.1]))  # below 50 % from the start
    assert np.isnan(eps50([0.01, 0.1], [0.9, 0.6]))  # never below 50 %
    with pytest.raises(ValueError):
        eps50([0.1], [1.0])


def test_crossing_grid_rule():
    grid = crossing_grid([0.026, 0.052, 0.039], span=2, num=5)
    assert grid[0] == pytest.approx(0.013) and grid[-1] == pytest.approx(0.104)
    assert np.allclose(np.diff(np.log10(grid)), np.log10(8) / 4)
    assert crossing_grid([0.03], span=1, num=2) == pytest.approx([0.03, 0.03])
    for bad in (dict(crossings=[0.0]), dict(crossings=[0.03], span=0.5), dict(num=1)):
        with pytest.raises(ValueError):
            crossing_grid(**{"crossings": [0.03], "span": 2, "num": 5, **bad})


def test_config_crossing_grid_spans_the_measured_crossings():
    """The default grid follows the config's stated rule and brackets the crossings it
    was built from (issue 14: 0.039-0.052 MNIST, 0.026-0.030 Fashion-MNIST under PGD)."""
    from conftest import REPO, SMOKE, merged_config

    for presets in ((), (SMOKE,), (str(REPO / "workflow/configs/paper.yaml"),)):
        rule = merged_config(*presets)["adversarial"]["crossing_eps"]
        grid = crossing_grid(rule["crossings"], rule["span"], rule["num"])
        assert grid[0] < 0.026 and grid[-1] > 0.052
    rule = merged_config()["adversarial"]["crossing_eps"]
    grid = crossing_grid(rule["crossings"], rule["span"], rule["num"])
    assert grid[0] < 0.026 and grid[-1] > 0.052 and len(grid) == rule["num"]


def test_normalised_accuracy_divides_by_the_clean_accuracy_of_the_same_subset():
    rows = [
        dict(method="clean", beta=0.0, seed=0, eps=0.0, value=0.8, subset="main", n_points=9),
        dict(method="clean", beta=0.0, seed=0, eps=0.0, value=0.5, subset="aa", n_points=9),
        dict(method="pgd", beta=0.0, seed=0, eps=0.1, value=0.4, subset="main", n_points=9),
        dict(method="pgd", beta=0.0, seed=0, eps=0.1, value=0.4, subset="aa", n_points=9),
    ]
    norm = normalised_accuracy(table(rows)).set_index("subset")["value"]
    assert norm["main"] == pytest.approx(0.5) and norm["aa"] == pytest.approx(0.8)


EPS, CROSS = [0.01, 0.03, 0.1, 1.0], [0.02, 0.04, 0.08]
GATES = {"min_loss_drop": 0.0, "min_accuracy_over_chance": 0.3}
E50 = 0.035  # eps50 of beta 0
# beta -> eps50 factor per attack; beta 1 is not compared
FACTOR = {
    0.0: {"fgsm": 1.0, "fgsm_isometry": 1.0, "pgd": 1.0, "autoattack": 1.0},
    0.1: {"fgsm": 1.5, "fgsm_isometry": 3.0, "pgd": 1.0, "autoattack": 0.9},
    1.0: {"fgsm": 2.0, "fgsm_isometry": 2.0, "pgd": 2.0, "autoattack": 2.0},
}


def curve(e50, eps, clean, slope=0.4):
    """Robust accuracy falling linearly in log10(eps) through 50 % of ``clean`` at e50."""
    return [clean * float(np.clip(0.5 - slope * np.log10(e / e50), 0, 1)) for e in eps]


def attack_rows(factor=FACTOR, clean=None, variant=True):
    """3 seeds x 3 betas of clean rows and robust-accuracy curves with known eps50 (the
    compared models pass every check), plus the variant's gradient diagnostics. ``clean``:
    beta -> clean accuracy (default 0.9)."""
    rows = []
    for seed, j in enumerate([1.0, 1.03, 0.98]):
        for beta, f in factor.items():
            c = (clean or {}).get(beta, 0.9)
            for subset in ("main", "aa"):
                rows.append(
                    dict(method="clean", beta=beta, seed=seed, eps=0.0, value=c, subset=subset)
                    | {"n_points": 100}
                )
            e50 = E50 * j
            rows += curve_rows("fgsm", beta, seed, curve(e50 * f["fgsm"], EPS, c), EPS)
            if variant:
                iso = curve(e50 * f["fgsm_isometry"], EPS, c)
                rows += curve_rows("fgsm_isometry", beta, seed, iso, EPS)
            pgd = curve(e50 * f["pgd"], [*CROSS, 1.0], c)
            rows += curve_rows("pgd", beta, seed, pgd, [*CROSS, 1.0])
            rows += curve_rows("pgd", beta, seed, pgd[:-1], CROSS, "aa")
            aa = curve(e50 * f["autoattack"], CROSS, c)
            rows += curve_rows(
                "autoattack",
                beta,
                seed,
                [min(a, p) for a, p in zip(aa, pgd[:-1], strict=True)],
                CROSS,
                "aa",
            )
            for metric, value in (("grad_norm_ratio", 6.5 * beta), ("grad_cosine", 0.45)):
                rows.append(
                    dict(method="isometry_objective", beta=beta, seed=seed, eps=0.0)
                    | dict(value=value, subset="main", n_points=100, metric=metric)
                )
    return rows


def isometry_rows(accuracy=0.97, losses=(2.3, 0.3)):
    """The isometry models' own rows: clean test accuracy, chance, loss tenths."""
    rows = []
    for seed in range(3):
        for beta in FACTOR:
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


def claims_of(rows, iso=None, logger=None, min_ratio=1.2):
    metrics = pd.concat(
        [
            table([r for r in rows if "metric" not in r]),
            pd.DataFrame(
                [
                    {"stage": "adversarial", "dataset": "mnist", "K": 10.0, "attack_loss": "x", **r}
                    for r in rows
                    if "metric" in r
                ]
            ),
        ],
        ignore_index=True,
    )
    claims = adversarial_claims(
        metrics,
        checks=gradient_masking_checks(metrics, tolerance=0.01, zero_accuracy=0.05),
        isometry=isometry_rows() if iso is None else iso,
        reference_beta={"mnist": 0.1},
        min_ratio=min_ratio,
        eps=EPS,
        crossing_eps=CROSS,
        tolerance=0.01,
        scale={"mnist": {"n_points": 100}},
        gates=GATES,
        logger=logger,
    )
    return {(c["claim_id"], c["attack"]): c for c in claims}


def test_claims_on_eps50_ratios():
    by_id = claims_of(attack_rows())
    assert set(by_id) == {
        ("I3", "fgsm"),
        ("I3", "fgsm_isometry"),
        ("I4", "pgd"),
        ("I4", "autoattack"),
    }
    i3, i4_pgd, i4_aa = by_id["I3", "fgsm"], by_id["I4", "pgd"], by_id["I4", "autoattack"]
    for c in (i3, i4_pgd, i4_aa):
        assert c["gate_status"] == "pass", c["reason"]
        assert c["paper"] == "Beshkov et al. 2022" and c["threshold"] == 1.2
    # eps50 ratios: the curves are linear in log10(eps), so interpolation is exact
    assert i3["verdict"] == "reproduced" and i3["mean"] == pytest.approx(1.5)
    assert i4_pgd["verdict"] == "not reproduced" and i4_pgd["mean"] == pytest.approx(1.0)
    assert i4_aa["verdict"] == "not reproduced" and i4_aa["mean"] == pytest.approx(0.9)
    assert i3["n_seeds"] == 3 and "n_points=100" in i3["scale"] and "eps50" in i3["metric"]
    assert "eps_grid (curves of beta 0 and 0.1 whose 50 % crossing" in i3["gates"]
    assert "= 0, needs <= 0: pass" in i3["gates"]


def test_minimum_effect_size_decides_the_verdict():
    """A consistent but small shift (eps50 x1.1 in every seed) is not a robustness gain at
    the minimum effect size 1.2; with 1.0 (any shift) it would read reproduced."""
    factor = {b: dict(f) for b, f in FACTOR.items()}
    factor[0.1]["fgsm"] = 1.1
    assert claims_of(attack_rows(factor))["I3", "fgsm"]["verdict"] == "not reproduced"
    assert claims_of(attack_rows(factor), min_ratio=1.0)["I3", "fgsm"]["verdict"] == "reproduced"


def test_clean_accuracy_does_not_mix_into_the_statistic():
    """The reference model loses clean accuracy (0.9 -> 0.6) with the same normalised
    curves: eps50 ratios are unchanged (raw robust accuracy would cross 50 % elsewhere)."""
    base = claims_of(attack_rows())
    lower = claims_of(attack_rows(clean={0.1: 0.6}))
    for key in (("I3", "fgsm"), ("I4", "pgd")):
        assert lower[key]["mean"] == pytest.approx(base[key]["mean"])


def test_authors_variant_attack_is_labelled_an_artefact():
    """The variant leaves more accuracy than cross-entropy FGSM on the reference models:
    its row is invalid, the reason says attack artefact with the measured gradients."""
    c = claims_of(attack_rows())["I3", "fgsm_isometry"]
    assert c["verdict"] == "invalid" and c["mean"] == pytest.approx(3.0)
    assert "attack_objective" in c["reason"] and "attack artefact" in c["reason"]
    assert "0.65x the cross-entropy's" in c["reason"] and "cosine" in c["reason"]
    assert "FAIL" in c["reason"]
    # a variant that is as strong as cross-entropy FGSM gets a verdict like FGSM's
    factor = {b: dict(f, fgsm_isometry=f["fgsm"]) for b, f in FACTOR.items()}
    c = claims_of(attack_rows(factor))["I3", "fgsm_isometry"]
    assert c["verdict"] == "reproduced" and "attack_objective" in c["gates"]
    # plain FGSM passes its own objective gate (it is the cross-entropy attack)
    assert "attack_objective" in claims_of(attack_rows())["I3", "fgsm"]["gates"]


def test_untrained_models_make_every_row_invalid():
    by_id = claims_of(attack_rows(), iso=isometry_rows(accuracy=0.12))
    for c in by_id.values():
        assert c["verdict"] == "invalid" and "heldout_accuracy" in c["reason"]
        assert "= 0.02" in c["reason"]
    by_id = claims_of(attack_rows(), iso=isometry_rows(losses=(2.3, 2.3)))
    assert all("training" in c["reason"] for c in by_id.values())
    assert all(c["verdict"] == "invalid" for c in by_id.values())


def test_failed_masking_check_invalidates_the_rows_of_its_attack():
    rows = attack_rows(variant=False)
    for r in rows:  # FGSM leaves 20% of the points robust at eps 1: reaches_zero fails
        if r["method"] == "fgsm" and r["eps"] == 1.0 and r["beta"] == 0.0 and r["seed"] == 0:
            r["value"] = 0.2
    by_id = claims_of(rows)
    i3 = by_id["I3", "fgsm"]
    assert i3["verdict"] == "invalid"
    assert "gradient_masking" in i3["reason"] and "reaches_zero" in i3["reason"]
    assert "= 1, needs <= 0: FAIL" in i3["reason"]
    assert by_id["I4", "pgd"]["verdict"] == "not reproduced"  # PGD's checks all pass


def test_curve_outside_the_grid_is_invalid():
    factor = {b: dict(f) for b, f in FACTOR.items()}
    factor[0.1]["pgd"] = 5.0  # crosses 50 % beyond the crossing grid
    i4 = claims_of(attack_rows(factor))["I4", "pgd"]
    assert i4["verdict"] == "invalid"
    assert "eps_grid" in i4["reason"] and "= 3, needs <= 0: FAIL" in i4["reason"]
    assert "statistic undefined" in i4["reason"]


def test_paired_ratio_uses_seeds_present_for_both_betas():
    stat = pd.Series({(0.0, 0): 0.1, (0.0, 1): 0.02, (0.1, 1): 0.03, (0.1, 2): 0.9})
    assert paired_ratio(stat, 0.1) == [pytest.approx(1.5)]


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


def test_robustness_figure(tmp_path):
    from repgeom.figures.adversarial import robustness_curves

    metrics = pd.DataFrame(
        [
            {"stage": "adversarial", "dataset": "mnist", "K": 10.0, "metric": "accuracy"} | r
            for r in attack_rows()
            if "metric" not in r
        ]
    )
    out = tmp_path / "fig.png"
    robustness_curves(metrics, "mnist", out)
    assert out.stat().st_size > 10_000
    with pytest.raises(ValueError, match="no attack results"):
        robustness_curves(metrics, "fashion-mnist", tmp_path / "none.png")
