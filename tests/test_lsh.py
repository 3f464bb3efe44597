"""Stage lsh: generators (determinism, gamma/theta independence), the collision estimator
against 1 - angle/pi, invariance and one-shot numbers, claims, and the smoke run."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from repgeom.lsh.evaluate import (
    claims_detail,
    evaluate_seed,
    hyperplane_collision,
    invariance_ratio,
    l2_statistic,
    lsh_claims,
    one_shot_accuracy,
    simhash_collision,
)
from repgeom.lsh.generators import ImageManifolds, RandNetManifolds, make_dataset
from repgeom.lsh.models import build_model, curve_rows, embed_all, train_classifier
from repgeom.training import TrainRun

SMALL = dict(
    n_classes=6,
    samples_per_class=4,
    n_unseen=5,
    samples_per_unseen=3,
    rho_levels=[1.0, 0.0, -1.0],
    pairs_per_level=2,
    samples_per_pair=2,
)


@pytest.mark.parametrize("kind", ["randnet", "image"])
def test_generators_are_deterministic_and_seeded(kind):
    a, b = make_dataset(kind, 3, **SMALL), make_dataset(kind, 3, **SMALL)
    other = make_dataset(kind, 4, **SMALL)
    for key, value in a.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, b[key]), key
    assert not torch.equal(a["x_train"], other["x_train"])
    assert not torch.equal(a["gamma_train"], other["gamma_train"])
    shape = (32 * 32 * 3,) if kind == "image" else (128,)
    assert a["x_train"].reshape(24, -1).shape[1] == math.prod(shape)
    assert a["x_unseen"].shape[:2] == (5, 3) and a["x_pair_a"].shape[:2] == (6, 2)
    assert torch.equal(a["y_train"], torch.arange(6).repeat_interleave(4))


@pytest.mark.parametrize("kind", ["randnet", "image"])
def test_gamma_and_theta_are_independent_streams(kind):
    a = make_dataset(kind, 0, **SMALL)
    more_theta = make_dataset(kind, 0, **{**SMALL, "samples_per_class": 7})
    # More theta draws per manifold leave the manifolds (gammas) unchanged, and vice versa.
    assert torch.equal(a["gamma_train"], more_theta["gamma_train"])
    more_gamma = make_dataset(kind, 0, **{**SMALL, "n_classes": 9})
    assert torch.equal(a["theta_train"], more_gamma["theta_train"][: a["theta_train"].shape[0]])
    assert torch.equal(a["gamma_train"], more_gamma["gamma_train"][:6])


def test_pair_gammas_are_correlated_by_rho():
    d = make_dataset("randnet", 1, **SMALL)
    rho, ga, gb = d["pair_rho"], d["gamma_pair_a"], d["gamma_pair_b"]
    assert rho.tolist() == [1.0, 1.0, 0.0, 0.0, -1.0, -1.0]
    assert torch.allclose(gb[rho == 1], ga[rho == 1])
    assert torch.allclose(gb[rho == -1], -ga[rho == -1])
    assert not torch.allclose(gb[rho == 0], ga[rho == 0], atol=0.1)
    # Same manifold (rho = 1), other thetas: the samples differ, the manifold does not.
    assert not torch.equal(d["x_pair_a"][0], d["x_pair_b"][0])


def test_gamma_theta_uncorrelated_and_both_matter():
    g = RandNetManifolds(0)
    big = make_dataset("randnet", 1, **{**SMALL, "n_classes": 400, "samples_per_class": 5})
    gamma = big["gamma_train"].repeat_interleave(5, dim=0)
    theta = big["theta_train"]
    cross = (gamma - gamma.mean(0)).T @ (theta - theta.mean(0)) / gamma.shape[0]
    assert cross.abs().max() < 0.2  # 2000 samples, 400 distinct gammas: |corr| ~ 0.05
    gam, th = torch.randn(4, 16), torch.randn(4, 16)
    x = g.render(gam, th)
    assert torch.allclose(x, g.render(gam, th))
    assert not torch.allclose(x, g.render(gam, torch.randn(4, 16)))
    assert not torch.allclose(x, g.render(torch.randn(4, 16), th))


def test_randnet_formula():
    g = RandNetManifolds(5, gamma_dim=3, theta_dim=2, hidden_dim=7, input_dim=4)
    gam, th = torch.randn(2, 3), torch.randn(2, 2)
    manual = torch.tanh(torch.cat([gam, th], 1) @ g.w1.T) @ g.w2.T
    assert torch.allclose(g.render(gam, th), manual)
    assert g.w1.shape == (7, 5) and g.w2.shape == (4, 7)


def test_image_theta_zero_is_the_canonical_object_and_pose_moves_it():
    g = ImageManifolds(0)
    gamma = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))  # seeded: not flaky
    obj = g.canonical(gamma)
    theta = torch.zeros(3, 16)
    img = g.compose(obj, theta)
    assert img.shape == (3, 3, 32, 32) and 0 <= img.min() and img.max() <= 1
    mask = obj[:, 3:]
    centre = mask[:, :, 12:20, 12:20]
    # An object covers the centre (the mean: a concave outline may leave a corner pixel).
    assert (centre.mean(dim=(1, 2, 3)) > 0.9).all()
    inside = mask.expand_as(img) > 0.999  # theta = 0: no warp, unit gain, flat light
    assert torch.allclose(img[inside], obj[:, :3][inside], atol=1e-3)
    shifted = theta.clone()
    shifted[:, 1] = 3.0  # translate right
    moved = g.compose(obj, shifted)
    assert (moved - img).abs().mean() > 0.02


def test_collision_estimator_matches_closed_form():
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(12, 8, generator=gen)
    angles = torch.linspace(0, math.pi, 12)
    w = torch.randn(12, 8, generator=gen)
    w = w - (w * u).sum(1, keepdim=True) / (u * u).sum(1, keepdim=True) * u
    w = w / w.norm(dim=1, keepdim=True) * u.norm(dim=1, keepdim=True)
    v = torch.cos(angles)[:, None] * u + torch.sin(angles)[:, None] * w
    exact = simhash_collision(u, v)
    assert torch.allclose(exact, 1 - angles.double() / math.pi, atol=1e-5)
    est = hyperplane_collision(u, v, 40000, torch.Generator().manual_seed(1))
    assert (est - exact).abs().max() < 0.015
    assert hyperplane_collision(u, u, 10, gen).eq(1).all()
    assert hyperplane_collision(u, -u, 10, gen).eq(0).all()


def test_invariance_ratio_and_one_shot_on_known_geometry():
    centres = torch.randn(30, 1, 5) * 10
    tight = centres + 0.01 * torch.randn(30, 6, 5)
    loose = torch.randn(30, 6, 5)
    assert invariance_ratio(tight)["ratio"] < 0.01
    assert 0.9 < invariance_ratio(loose)["ratio"] < 1.1
    g = torch.Generator().manual_seed(0)
    assert one_shot_accuracy(tight, 20, 10, g) == 1.0
    acc = one_shot_accuracy(loose, 5, 400, torch.Generator().manual_seed(0))
    assert 0.12 < acc < 0.28  # chance 1/5
    a = one_shot_accuracy(loose, 5, 50, torch.Generator().manual_seed(3))
    assert a == one_shot_accuracy(loose, 5, 50, torch.Generator().manual_seed(3))
    with pytest.raises(ValueError, match="n_way"):
        one_shot_accuracy(loose, 31, 5, g)


@pytest.fixture
def one_thread():
    """Tiny models: a single intra-op thread avoids spinning threads on a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train(data, n_classes, epochs, **kw):
    settings = dict(hidden=32, embed_dim=8, batch_size=32, lr=3e-3, weight_decay=0.0) | kw
    run = TrainRun(0, torch.Generator().manual_seed(0), torch.device("cpu"))
    return train_classifier(data, n_classes, epochs=epochs, run=run, **settings)


def test_training_reduces_loss_and_untrained_shares_the_init(one_thread):
    data = make_dataset("randnet", 0, **{**SMALL, "samples_per_class": 20})
    model, summary, history = _train(data, 6, 20)
    assert summary["train_accuracy"] > 0.6 and summary["n_train"] == 120
    # 20 epochs of 4 steps: the mean loss of the first 8 steps and of the last 8
    assert summary["train_loss_first_tenth"] > 1.5 * summary["train_loss_last_tenth"]
    untrained = build_model("randnet", (128,), 1, 32, 8, init_seed=0)
    fresh = build_model("randnet", (128,), 6, 32, 8, init_seed=0)
    assert torch.equal(untrained.trunk[0].weight, fresh.trunk[0].weight)
    assert embed_all(model, data["x_unseen"].reshape(15, -1)).shape == (15, 8)
    with pytest.raises(ValueError, match="n_classes"):
        _train(data, 7, 1)
    with pytest.raises(ValueError, match="epochs"):
        _train(data, 6, 0)


def test_budget_rule_same_epochs_at_every_c(one_thread):
    """Every C trains the same number of epochs: steps grow with C (a fixed step count
    gave the small C many more passes over its manifolds than the large C)."""
    data = make_dataset("randnet", 0, **{**SMALL, "samples_per_class": 10})
    for n_classes in (2, 6):
        _, summary, history = _train(data, n_classes, 3, batch_size=16)
        n = 10 * n_classes
        assert summary["epochs"] == 3 and len(history) == 3 and summary["n_train"] == n
        assert summary["steps"] == 3 * math.ceil(n / 16)  # 3 x 2 and 3 x 4 steps
        # every training sample counted once per epoch by the running accuracy
        assert all(
            abs(h["train_accuracy"] * n - round(h["train_accuracy"] * n)) < 1e-9 for h in history
        )


def test_heldout_theta_split():
    """Held-out thetas: further samples of the seen manifolds (same gammas), from their
    own stream, so the training set is the same with or without them."""
    without = make_dataset("randnet", 2, **SMALL)
    data = make_dataset("randnet", 2, **SMALL, heldout_per_class=3)
    for key in ("x_train", "theta_train", "gamma_train", "x_unseen", "x_pair_a"):
        assert torch.equal(data[key], without[key]), key
    assert without["x_heldout"].shape[0] == 0
    assert data["x_heldout"].shape == (18, 128)
    assert torch.equal(data["y_heldout"], torch.arange(6).repeat_interleave(3))
    g = RandNetManifolds(2)
    gamma = data["gamma_train"][data["y_heldout"]]
    assert torch.allclose(g.render(gamma, data["theta_heldout"]), data["x_heldout"], atol=1e-6)
    # the held-out thetas are new draws, not copies of training thetas
    dist = torch.cdist(data["theta_heldout"], data["theta_train"])
    assert dist.min() > 0.1


def test_heldout_accuracy_uses_the_first_c_manifolds(one_thread):
    data = make_dataset("randnet", 0, **{**SMALL, "samples_per_class": 20}, heldout_per_class=4)
    model, summary, history = _train(data, 4, 10)
    assert summary["n_heldout"] == 16
    keep = data["y_heldout"] < 4
    pred = model(data["x_heldout"][keep]).argmax(1)
    expected = float((pred == data["y_heldout"][keep]).float().mean())
    assert summary["heldout_accuracy"] == pytest.approx(expected)
    assert history[-1]["heldout_accuracy"] == summary["heldout_accuracy"]
    rows = pd.DataFrame(curve_rows(history, {"stage": "lsh", "method": "trained", "C": 4}))
    assert len(rows) == 3 * 10  # loss, train accuracy, held-out accuracy per epoch
    assert set(zip(rows.metric, rows.split, strict=True)) == {
        ("loss", "train"),
        ("accuracy", "train"),
        ("accuracy", "heldout"),
    }
    # without held-out thetas the curve has no held-out rows
    _, summary, history = _train(make_dataset("randnet", 0, **SMALL), 4, 2)
    assert math.isnan(summary["heldout_accuracy"])
    assert {r["split"] for r in curve_rows(history, {"C": 4})} == {"train"}


def _brute_force_collision(ea, eb, center, planes):
    """Fraction of hyperplanes on which a - center and b - center fall on the same side,
    one pair of vectors and one plane at a time."""
    same = 0
    for k in range(planes.shape[1]):
        p = planes[:, k]
        same += bool(((ea - center) @ p > 0) == ((eb - center) @ p > 0))
    return same / planes.shape[1]


def test_collision_gap_and_l2_against_brute_force(one_thread):
    data = make_dataset(
        "randnet", 4, **{**SMALL, "rho_levels": [1.0, 0.5, 0.0], "pairs_per_level": 3}
    )
    untrained = build_model("randnet", (128,), 1, 16, 8, init_seed=4)
    trained = build_model("randnet", (128,), 6, 16, 8, init_seed=9)  # stands in for C = 6
    table, _ = evaluate_seed(
        data,
        {6: trained},
        untrained,
        seed=4,
        n_way=[5],
        episodes=5,
        hyperplanes=32,
        n_projected=2,
        device=torch.device("cpu"),
    )
    detail = claims_detail(table).set_index(["method", "C"], drop=False)
    gaps = {}
    for method, model in (("raw", None), ("untrained", untrained), ("trained", trained)):
        center = embed_all(model, data["x_unseen"].reshape(-1, 128)).mean(0)
        planes = torch.randn(center.shape[0], 32, generator=torch.Generator().manual_seed(4))
        per_rho = {}
        for i, rho in enumerate(data["pair_rho"].tolist()):
            ea, eb = embed_all(model, data["x_pair_a"][i]), embed_all(model, data["x_pair_b"][i])
            pair = (
                sum(
                    _brute_force_collision(ea[j], eb[j], center, planes) for j in range(ea.shape[0])
                )
                / ea.shape[0]
            )
            per_rho.setdefault(rho, []).append(pair)
        gaps[method] = sum(per_rho[1.0]) / 3 - sum(per_rho[0.0]) / 3
        c = 6.0 if method == "trained" else -1
        row = detail[(detail.method == method) & (detail.C.fillna(-1) == c)]
        assert row["collision_gap"].iloc[0] == pytest.approx(gaps[method], abs=1e-9), method
    expected = gaps["trained"] - max(gaps["raw"], gaps["untrained"])
    assert l2_statistic(table, 6) == pytest.approx(expected, abs=1e-9)
    # the gap needs both levels
    with pytest.raises(ValueError, match="rho"):
        l2_statistic(table[~((table.metric == "collision") & (table.rho == 0))], 6)


GATES = {"min_loss_drop": 0.0, "lsh_min_train_accuracy": 0.9}


BASELINE_RATIO = {"raw": 0.8, "untrained": 0.9}
BASELINE_GAP = {"raw": 0.3, "untrained": 0.1}  # collision at rho = 1 minus at rho = 0


def _collision_rows(tag: dict, gap: float) -> list[dict]:
    """Collision rows at rho 1, 0.5, 0 (||dgamma|| growing) whose rho=1 - rho=0 gap is
    ``gap``."""
    return [
        {**tag, "metric": "collision", "rho": rho, "delta_gamma": d, "value": v}
        for rho, d, v in ((1.0, 0.0, 0.5 + gap), (0.5, 1.0, 0.5 + gap / 2), (0.0, 2.0, 0.5))
    ]


def _table(
    seeds,
    trained_ratio,
    acc_by_c,
    trained_gap,
    train_acc=1.0,
    losses=(1.6, 0.1),
    baseline_ratio=BASELINE_RATIO,
):
    """The claims rule's input for one generator: eval rows of raw, untrained and trained
    (per C) embeddings, and each classifier's training summary."""
    rows = []
    for seed in seeds:
        base = {"stage": "lsh", "generator": "randnet", "seed": seed}
        for method in ("raw", "untrained"):
            tag = {**base, "method": method}
            rows.append({**tag, "metric": "invariance_ratio", "value": baseline_ratio[method]})
            rows.append({**tag, "metric": "oneshot_accuracy", "n_way": 5, "value": 0.5})
            rows += _collision_rows(tag, BASELINE_GAP[method])
        for c, acc in acc_by_c.items():
            tag = {**base, "method": "trained", "C": c}
            rows.append({**tag, "metric": "invariance_ratio", "value": trained_ratio + 0.01 * seed})
            rows.append({**tag, "metric": "oneshot_accuracy", "n_way": 5, "value": acc})
            rows += _collision_rows(tag, trained_gap + 0.01 * seed)
            summary = {
                "train_accuracy": train_acc(c) if callable(train_acc) else train_acc,
                "heldout_accuracy": 0.8,
                "train_loss_first_tenth": losses[0],
                "train_loss_last_tenth": losses[1],
            }
            rows += [{**tag, "metric": k, "value": v} for k, v in summary.items()]
    return pd.DataFrame(rows)


def _claims(table):
    claims = lsh_claims(
        table, l1_min_margin=0.0, l2_min_margin=0.0, l3_min_margin=0.0, scale={}, gates=GATES
    )
    return {(c["claim_id"], c["generator"]): c for c in claims}


ACC_BY_C = {5: 0.6, 20: 0.7, 50: 0.75}


def test_claims_statistics():
    claims = _claims(_table([0, 1, 2], 0.2, ACC_BY_C, 0.5))
    assert set(claims) == {(f"L{i}", "randnet") for i in (1, 2, 3)}
    # L1: the better (lower) baseline ratio 0.8 minus the trained 0.2, 0.21, 0.22
    assert claims["L1", "randnet"]["mean"] == pytest.approx(0.8 - 0.21)
    assert claims["L1", "randnet"]["verdict"] == "reproduced"
    # L2: trained gap 0.5, 0.51, 0.52 minus the better (larger) baseline gap 0.3
    assert claims["L2", "randnet"]["mean"] == pytest.approx(0.51 - 0.3)
    assert claims["L2", "randnet"]["verdict"] == "reproduced"
    assert claims["L3", "randnet"]["mean"] == pytest.approx(0.25)  # margin 0.25, Spearman 1
    for c in claims.values():
        assert c["gate_status"] == "pass" and c["paper"] == "Dikkala et al. 2021"
    assert "worst of 9 classifiers (C=5/20/50)" in claims["L3", "randnet"]["gates"]
    assert "worst of 3 classifiers (C=50)" in claims["L1", "randnet"]["gates"]
    claims = _claims(_table([0, 1, 2], 0.2, {5: 0.6, 20: 0.4, 50: 0.3}, 0.1))
    assert claims["L3", "randnet"]["mean"] == pytest.approx(-1.0)  # falls with C
    # A trained gap (0.1-0.12) below the raw input's (0.3): not reproduced, although the
    # trained collision curve falls with ||dgamma|| as the old Spearman statistic wanted.
    assert claims["L2", "randnet"]["mean"] == pytest.approx(0.11 - 0.3)
    assert claims["L2", "randnet"]["verdict"] == "not reproduced"
    # Two values of C (the smoke preset): Spearman over C undefined -> L3 invalid.
    claims = _claims(_table([0, 1, 2], 0.2, {5: 0.6, 20: 0.7}, 0.5))
    assert claims["L3", "randnet"]["verdict"] == "invalid"
    assert "NaN" in claims["L3", "randnet"]["reason"]


def test_l1_compares_with_the_best_baseline_paired_by_seed():
    # The untrained net is the better baseline here: the statistic follows it.
    table = _table([0, 1, 2], 0.5, ACC_BY_C, 0.5, baseline_ratio={"raw": 0.9, "untrained": 0.6})
    assert _claims(table)["L1", "randnet"]["mean"] == pytest.approx(0.6 - 0.51)
    # Better than one baseline only (raw 0.9 > trained 0.7 > untrained 0.6): not reproduced.
    table = _table([0, 1, 2], 0.7, ACC_BY_C, 0.5, baseline_ratio={"raw": 0.9, "untrained": 0.6})
    l1 = _claims(table)["L1", "randnet"]
    assert l1["mean"] == pytest.approx(0.6 - 0.71) and l1["verdict"] == "not reproduced"
    # Paired per seed: a baseline that moves with the trained net from seed to seed (both
    # + 0.01 x seed) leaves a constant margin, a CI of zero width above 0.
    table = _table([0, 1, 2], 0.7, ACC_BY_C, 0.5, baseline_ratio={"raw": 0.9, "untrained": 0.9})
    base = table.method.isin(["raw", "untrained"]) & (table.metric == "invariance_ratio")
    table.loc[base, "value"] = 0.75 + 0.01 * table.loc[base, "seed"]
    l1 = _claims(table)["L1", "randnet"]
    assert l1["ci_low"] == pytest.approx(0.05) and l1["ci_high"] == pytest.approx(0.05)
    assert l1["verdict"] == "reproduced"


def test_claims_detail_lists_baselines_beside_trained_nets():
    detail = claims_detail(_table([0, 1], 0.2, ACC_BY_C, 0.5))
    detail = detail.set_index(["seed", "method", "C"]).sort_index()
    assert len(detail) == 2 * (2 + 3)
    raw = detail.xs((1, "raw"))
    assert raw["collision_gap"].iloc[0] == pytest.approx(0.3)
    assert raw["invariance_ratio"].iloc[0] == pytest.approx(0.8)
    assert math.isnan(raw["train_accuracy"].iloc[0])
    trained = detail.xs((1, "trained", 50))
    assert trained["collision_gap"] == pytest.approx(0.51)
    assert trained["collision_spearman"] == pytest.approx(-1.0)
    assert trained["oneshot_accuracy"] == pytest.approx(0.75)
    assert trained["heldout_accuracy"] == pytest.approx(0.8)


def test_untrained_classifiers_give_invalid_not_a_verdict():
    # The classifiers did not fit their training manifolds (0.58 at every C).
    claims = _claims(_table([0, 1, 2], 0.2, ACC_BY_C, 0.5, train_acc=0.58))
    for c in claims.values():
        assert c["verdict"] == "invalid" and c["gate_status"] == "fail"
        assert "lsh_train_accuracy" in c["reason"] and "= 0.58, needs >= 0.9" in c["reason"]
    # Only the small C misses it: L1 and L2 use the largest C alone, L3 every C.
    claims = _claims(_table([0, 1, 2], 0.2, ACC_BY_C, 0.5, train_acc=lambda c: 0.5 + c / 100))
    assert claims["L3", "randnet"]["verdict"] == "invalid"
    assert "lsh_train_accuracy" in claims["L3", "randnet"]["reason"]
    assert claims["L1", "randnet"]["verdict"] == "reproduced"
    # Loss that did not fall.
    claims = _claims(_table([0, 1, 2], 0.2, ACC_BY_C, 0.5, losses=(1.6, 1.7)))
    assert all(c["verdict"] == "invalid" and "training" in c["reason"] for c in claims.values())
    # A classifier with no training summary: its gates are not measured.
    table = _table([0, 1, 2], 0.2, ACC_BY_C, 0.5)
    keep = ~((table.seed == 1) & (table.C == 50) & table.metric.str.startswith("train"))
    claims = _claims(table[keep])
    assert claims["L1", "randnet"]["verdict"] == "invalid"
    assert "lsh_train_accuracy" in claims["L1", "randnet"]["reason"]


@pytest.mark.slow
def test_lsh_stage_smoke_run(smoke_dag):
    tmp_path = smoke_dag
    claims = pd.read_csv(tmp_path / "results/lsh/claims.csv")
    assert sorted(zip(claims["claim_id"], claims["generator"], strict=True)) == sorted(
        (f"L{i}", g) for i in (1, 2, 3) for g in ("randnet", "image")
    )
    assert (claims["n_seeds"] == 1).all()
    assert claims.loc[claims["claim_id"] != "L3", "mean"].notna().all()
    # Two values of C: the Spearman over C in L3 is undefined (NaN): invalid, no verdict.
    l3 = claims[claims["claim_id"] == "L3"]
    assert (l3["verdict"] == "invalid").all() and l3["reason"].str.contains("NaN").all()
    for gate in ("training (", "lsh_train_accuracy ("):
        assert claims["gates"].str.contains(gate, regex=False).all()
    metrics = pd.read_csv(tmp_path / "results/lsh/metrics.csv")
    acc = metrics[metrics.metric == "oneshot_accuracy"]
    assert set(acc["n_way"].dropna()) == {5, 20} and acc["value"].between(0, 1).all()
    assert set(metrics.loc[metrics.method == "trained", "C"]) == {5, 20}
    train = metrics[metrics.metric.isin(["train_accuracy", "heldout_accuracy", "epochs"])]
    assert len(train) == 2 * 2 * 3  # generators x C x the three rows
    assert (metrics.loc[metrics.metric == "epochs", "value"] == 20).all()  # every C
    assert metrics.loc[metrics.metric == "heldout_accuracy", "value"].between(0, 1).all()
    detail = pd.read_csv(tmp_path / "results/lsh/claims_detail.csv")
    assert sorted(detail["method"].unique()) == ["raw", "trained", "untrained"]
    assert detail["collision_gap"].notna().all()
    curves = pd.read_csv(tmp_path / "results/lsh/train/image/seed0_curves.csv")
    assert set(curves["split"]) == {"train", "heldout"} and curves["epoch"].max() == 20
    for name in ("collision", "invariance", "oneshot", "samples", "curves"):
        assert (tmp_path / f"results/figures/lsh_{name}.png").stat().st_size > 10_000
    assert (tmp_path / "results/lsh/eval/image.provenance.json").exists()
