"""Stage lsh: generators (determinism, gamma/theta independence), the collision estimator
against 1 - angle/pi, invariance and one-shot numbers, claims, and the smoke run."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from repgeom.lsh.evaluate import (
    hyperplane_collision,
    invariance_ratio,
    lsh_claims,
    one_shot_accuracy,
    simhash_collision,
)
from repgeom.lsh.generators import ImageManifolds, RandNetManifolds, make_dataset
from repgeom.lsh.models import build_model, embed_all, train_classifier
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


def test_training_reduces_loss_and_untrained_shares_the_init(one_thread):
    data = make_dataset("randnet", 0, **{**SMALL, "samples_per_class": 20})
    model, summary = train_classifier(
        data,
        6,
        hidden=32,
        embed_dim=8,
        steps=80,
        batch_size=32,
        lr=3e-3,
        weight_decay=0.0,
        run=TrainRun(0, torch.Generator().manual_seed(0), torch.device("cpu")),
    )
    assert summary["train_accuracy"] > 0.6 and summary["n_train"] == 120
    # 20 epochs of 4 steps: the mean loss of the first 8 steps and of the last 8
    assert summary["train_loss_first_tenth"] > 1.5 * summary["train_loss_last_tenth"]
    untrained = build_model("randnet", (128,), 1, 32, 8, init_seed=0)
    fresh = build_model("randnet", (128,), 6, 32, 8, init_seed=0)
    assert torch.equal(untrained.trunk[0].weight, fresh.trunk[0].weight)
    assert embed_all(model, data["x_unseen"].reshape(15, -1)).shape == (15, 8)
    with pytest.raises(ValueError, match="n_classes"):
        train_classifier(
            data,
            7,
            hidden=8,
            embed_dim=4,
            steps=1,
            batch_size=8,
            lr=1e-3,
            weight_decay=0.0,
            run=TrainRun(0, torch.Generator(), torch.device("cpu")),
        )


GATES = {"min_loss_drop": 0.0, "lsh_min_train_accuracy": 0.9}


def _table(seeds, trained_ratio, acc_by_c, coll_slope, train_acc=1.0, losses=(1.6, 0.1)):
    """The claims rule's input for one generator: eval rows of raw, untrained and trained
    (per C) embeddings, and each classifier's training summary."""
    rows = []
    for seed in seeds:
        base = {"stage": "lsh", "generator": "randnet", "seed": seed}
        for method, ratio in (("raw", 0.8), ("untrained", 0.9)):
            rows.append({**base, "method": method, "metric": "invariance_ratio", "value": ratio})
            rows.append(
                {**base, "method": method, "metric": "oneshot_accuracy", "n_way": 5, "value": 0.5}
            )
        for c, acc in acc_by_c.items():
            tag = {**base, "method": "trained", "C": c}
            rows.append({**tag, "metric": "invariance_ratio", "value": trained_ratio + 0.01 * seed})
            rows.append({**tag, "metric": "oneshot_accuracy", "n_way": 5, "value": acc})
            for d in (0.0, 1.0, 2.0):
                rows.append(
                    {**tag, "metric": "collision", "delta_gamma": d, "value": 0.5 + coll_slope * d}
                )
            summary = {
                "train_accuracy": train_acc(c) if callable(train_acc) else train_acc,
                "train_loss_first_tenth": losses[0],
                "train_loss_last_tenth": losses[1],
            }
            rows += [{**tag, "metric": k, "value": v} for k, v in summary.items()]
    return pd.DataFrame(rows)


def _claims(table):
    claims = lsh_claims(
        table, l1_max_ratio=0.5, l2_max_spearman=0.0, l3_min_margin=0.0, scale={}, gates=GATES
    )
    return {(c["claim_id"], c["generator"]): c for c in claims}


ACC_BY_C = {5: 0.6, 20: 0.7, 50: 0.75}


def test_claims_statistics():
    claims = _claims(_table([0, 1, 2], 0.2, ACC_BY_C, -0.1))
    assert set(claims) == {(f"L{i}", "randnet") for i in (1, 2, 3)}
    assert claims["L1", "randnet"]["mean"] == pytest.approx(0.21 / 0.8)
    assert claims["L1", "randnet"]["verdict"] == "reproduced"
    assert claims["L2", "randnet"]["mean"] == pytest.approx(-1.0)
    assert claims["L3", "randnet"]["mean"] == pytest.approx(0.25)  # margin 0.25, Spearman 1
    for c in claims.values():
        assert c["gate_status"] == "pass" and c["paper"] == "Dikkala et al. 2021"
    assert "worst of 9 classifiers (C=5/20/50)" in claims["L3", "randnet"]["gates"]
    assert "worst of 3 classifiers (C=50)" in claims["L1", "randnet"]["gates"]
    claims = _claims(_table([0, 1, 2], 0.2, {5: 0.6, 20: 0.4, 50: 0.3}, 0.1))
    assert claims["L3", "randnet"]["mean"] == pytest.approx(-1.0)  # falls with C
    assert claims["L2", "randnet"]["verdict"] == "not reproduced"  # +1 in every seed
    # Two values of C (the smoke preset): Spearman over C undefined -> L3 invalid.
    claims = _claims(_table([0, 1, 2], 0.2, {5: 0.6, 20: 0.7}, -0.1))
    assert claims["L3", "randnet"]["verdict"] == "invalid"
    assert "NaN" in claims["L3", "randnet"]["reason"]


def test_untrained_classifiers_give_invalid_not_a_verdict():
    # The classifiers did not fit their training manifolds (0.58 at every C).
    claims = _claims(_table([0, 1, 2], 0.2, ACC_BY_C, -0.1, train_acc=0.58))
    for c in claims.values():
        assert c["verdict"] == "invalid" and c["gate_status"] == "fail"
        assert "lsh_train_accuracy" in c["reason"] and "= 0.58, needs >= 0.9" in c["reason"]
    # Only the small C misses it: L1 and L2 use the largest C alone, L3 every C.
    claims = _claims(_table([0, 1, 2], 0.2, ACC_BY_C, -0.1, train_acc=lambda c: 0.5 + c / 100))
    assert claims["L3", "randnet"]["verdict"] == "invalid"
    assert "lsh_train_accuracy" in claims["L3", "randnet"]["reason"]
    assert claims["L1", "randnet"]["verdict"] == "reproduced"
    # Loss that did not fall.
    claims = _claims(_table([0, 1, 2], 0.2, ACC_BY_C, -0.1, losses=(1.6, 1.7)))
    assert all(c["verdict"] == "invalid" and "training" in c["reason"] for c in claims.values())
    # A classifier with no training summary: its gates are not measured.
    table = _table([0, 1, 2], 0.2, ACC_BY_C, -0.1)
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
    train = metrics[metrics.metric.isin(["train_accuracy", "train_loss_first_tenth"])]
    assert len(train) == 2 * 2 * 2  # generators x C x the two rows
    for name in ("collision", "invariance", "oneshot", "samples"):
        assert (tmp_path / f"results/figures/lsh_{name}.png").stat().st_size > 10_000
    assert (tmp_path / "results/lsh/eval/image/seed0.provenance.json").exists()
