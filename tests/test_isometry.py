"""Isometry stage library: the regulariser, the model API, geometry metrics, hierarchy,
claims."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from conftest import REPO, merged_config

from repgeom.isometry.budget import authors_steps, isometry_seeds, isometry_steps
from repgeom.isometry.geometry import geometry_metrics, normalised_stress
from repgeom.isometry.hierarchy import (
    HierarchicalMLP,
    hierarchical_loss,
    mnist_hierarchy_labels,
    torus_dataset,
)
from repgeom.isometry.losses import (
    isometric_loss,
    isometry_penalty,
    pairwise_distances,
    stacked_isometric_loss,
)
from repgeom.isometry.models import IsometricMLP, StackedMLP, load_model, save_model
from repgeom.isometry.summary import (
    accuracy_drop_points,
    beta_rank_correlation,
    isometry_claims,
    measured_scale,
)
from repgeom.isometry.train import run_isometric, train_isometric


def double_loop_penalty(h, x, y, K):
    n = len(y)
    total = 0.0
    for i, j in itertools.product(range(n), range(n)):
        same = float(y[i] == y[j])
        dh = math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(h[i], h[j], strict=True)))
        dx = math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(x[i], x[j], strict=True)))
        total += (K * same * dh - same * dx) ** 2
    return total / n**2


def test_penalty_equals_double_loop():
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(7, 5, generator=gen, dtype=torch.float64)
    x = torch.rand(7, 12, generator=gen, dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 2, 1, 0, 2])
    for K in (1.0, 10.0):
        got = isometry_penalty(h, x, y, K).item()
        assert got == pytest.approx(double_loop_penalty(h, x, y, K), rel=1e-10)


def test_penalty_flattens_images_and_ignores_between_class_pairs():
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(6, 1, 28, 28, generator=gen)
    h = torch.randn(6, 4, generator=gen)
    distinct = torch.arange(6)  # no within-class pair but the diagonal: penalty 0
    assert isometry_penalty(h, x, distinct, 10.0).item() == 0.0
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    flat = isometry_penalty(h, x.reshape(6, -1), y, 10.0)
    assert isometry_penalty(h, x, y, 10.0).item() == pytest.approx(flat.item(), rel=1e-6)


def test_penalty_is_zero_for_an_exact_scaled_isometry():
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(8, 20, generator=gen, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=gen, dtype=torch.float64))
    h = (x @ q) / 10.0  # rotated and shrunk by K = 10
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2])
    assert isometry_penalty(h, x, y, 10.0).item() == pytest.approx(0.0, abs=1e-20)


def test_gradient_finite_at_zero_distance():
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(5, 784, generator=gen)
    x = torch.cat([x, x[:2]]).requires_grad_()  # duplicates: off-diagonal zero distances
    h = torch.randn(7, 10, generator=gen)
    h = torch.cat([h[:5], h[:2]]).requires_grad_()
    y = torch.tensor([0, 1, 0, 1, 2, 0, 1])
    isometry_penalty(h, x, y, 10.0).backward()
    assert torch.isfinite(h.grad).all() and torch.isfinite(x.grad).all()
    d = pairwise_distances(x.detach())
    assert d.diagonal().abs().max().item() == 0.0 and d[0, 5].item() == 0.0


def test_beta_zero_is_cross_entropy():
    torch.manual_seed(0)
    model = IsometricMLP()
    x = torch.rand(16, 1, 28, 28)
    y = torch.randint(0, 10, (16,))
    loss = isometric_loss(model, x, y, beta=0.0, K=10.0)
    ce = F.cross_entropy(model(x), y)
    assert loss.item() == ce.item()
    g_loss = torch.autograd.grad(loss, list(model.parameters()))
    g_ce = torch.autograd.grad(ce, list(model.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(g_loss, g_ce, strict=True))
    with_term = isometric_loss(model, x, y, beta=0.5, K=10.0)
    expected = ce + 0.5 * isometry_penalty(model.representation(x), x, y, 10.0)
    assert with_term.item() == pytest.approx(expected.item(), rel=1e-6)


def test_model_shapes_and_round_trip(tmp_path):
    torch.manual_seed(0)
    model = IsometricMLP(in_dim=784, hidden=100, depth=5, n_classes=10)
    assert len(model.hidden) == 5
    x = torch.rand(4, 1, 28, 28)
    assert model(x).shape == (4, 10) and model.representation(x).shape == (4, 100)
    assert torch.equal(model(x), model(x.reshape(4, 784)))
    assert model.representation(x).abs().max() <= 1  # tanh units
    path = tmp_path / "m" / "model.pt"
    save_model(path, model, {"dataset": "mnist", "beta": 0.1, "K": 10.0, "seed": 3})
    loaded, meta = load_model(path)
    assert not loaded.training
    assert meta == {"dataset": "mnist", "beta": 0.1, "K": 10.0, "seed": 3}
    assert torch.equal(loaded(x), model(x))
    with pytest.raises(ValueError, match="input features"):
        model(torch.rand(2, 10))


def test_geometry_metrics_of_an_isometry_and_of_noise():
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(60, 30, generator=gen)
    y = torch.arange(60) % 3
    iso = geometry_metrics(3.0 * x, x, y)  # a uniform rescaling is isometric up to scale
    assert iso["within_class_correlation"] == pytest.approx(1.0, abs=1e-5)
    assert iso["within_class_stress"] == pytest.approx(0.0, abs=1e-3)
    assert iso["between_class_stress"] == pytest.approx(0.0, abs=1e-3)
    noise = geometry_metrics(torch.randn(60, 30, generator=gen), x, y)
    assert abs(noise["within_class_correlation"]) < 0.3
    assert noise["within_class_stress"] > 0.05
    d = torch.tensor([1.0, 2.0, 3.0])
    assert normalised_stress(d, 2 * d) == pytest.approx(0.0, abs=1e-7)


def test_hierarchy_labels_are_nested():
    digits = torch.arange(10)
    labels = mnist_hierarchy_labels(digits)
    assert labels[:, 0].tolist() == [0] * 5 + [1] * 5
    assert labels[:, 1].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert labels[:, 2].tolist() == list(range(10))
    x, ys = torus_dataset(
        500, R=0.67, r=0.33, noise=0.0, n_arcs=8, generator=torch.Generator().manual_seed(0)
    )
    assert x.shape == (500, 3) and ys.shape == (500, 3)
    assert [int(ys[:, k].max()) + 1 for k in range(3)] == [2, 4, 8]
    assert torch.equal(ys[:, 0], ys[:, 2] // 4) and torch.equal(ys[:, 1], ys[:, 2] // 2)
    radial = (x[:, :2].norm(dim=1) - 0.67) ** 2 + x[:, 2] ** 2
    assert torch.allclose(radial, torch.full_like(radial, 0.33**2), atol=1e-5)


def test_torus_labels_split_the_tube_angle():
    """As the authors' HRIM_Torus: the classes are arcs of the minor (tube) angle phi;
    the major angle says nothing about the class."""
    x, ys = torus_dataset(
        2000, R=0.67, r=0.33, noise=0.0, n_arcs=8, generator=torch.Generator().manual_seed(0)
    )
    phi = torch.atan2(x[:, 2], x[:, :2].norm(dim=1) - 0.67) % (2 * math.pi)
    arc = (phi / (2 * math.pi) * 8).long()
    inner = ((phi / (2 * math.pi) * 8) - arc - 0.5).abs() < 0.49  # away from arc borders
    assert torch.equal(arc[inner], ys[inner, 2])
    theta = torch.atan2(x[:, 1], x[:, 0]) % (2 * math.pi)
    major_arc = (theta / (2 * math.pi) * 8).long()
    assert (major_arc == ys[:, 2]).float().mean() < 0.3  # chance is 1/8


def test_hierarchy_level_loss_trains_only_its_block():
    torch.manual_seed(0)
    model = HierarchicalMLP(in_dim=3, hidden=8, block_depth=2, n_levels=3, n_classes=8)
    x, ys = torus_dataset(
        32, R=0.67, r=0.33, noise=0.01, n_arcs=8, generator=torch.Generator().manual_seed(1)
    )
    total = hierarchical_loss(model, x, ys, beta=1.0, K=1.0)
    block0 = list(model.blocks[0].parameters())
    g_total = torch.autograd.grad(total, block0)
    # Block 0 is moved by the level-0 loss alone: levels 1, 2 see it frozen.
    h0 = model.level_representations(x)[0]
    level0 = F.cross_entropy(model.readout(h0), ys[:, 0]) + isometry_penalty(h0, x, ys[:, 0], 1.0)
    g_level0 = torch.autograd.grad(level0, block0)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g_total, g_level0, strict=True))


GATES = {"min_loss_drop": 0.0, "min_accuracy_over_chance": 0.3}


def _sweep_table(acc, corr, losses=(2.3, 0.3)):
    """A dataset's sweep as the train rule writes it: per (seed, beta) accuracy, chance
    (10 classes), the geometry metric and the loss over the first/last tenth of steps."""
    rows = []
    for seed, betas in enumerate(acc):
        for beta, a in betas.items():
            values = {
                "accuracy": a,
                "chance_accuracy": 0.1,
                "within_class_correlation": corr[seed][beta],
                "train_loss_first_tenth": losses[0],
                "train_loss_last_tenth": losses[1],
            }
            rows += [
                {"seed": seed, "dataset": "mnist", "beta": beta, "metric": m, "value": v}
                for m, v in values.items()
            ]
    return pd.DataFrame(rows).assign(stage="isometry", method="isometric_mlp")


ACC = [
    {0.0: 0.97, 0.1: 0.965, 1.0: 0.95},
    {0.0: 0.96, 0.1: 0.956, 1.0: 0.94},
    {0.0: 0.97, 0.1: 0.964, 1.0: 0.95},
]
CORR = [
    {0.0: 0.5, 0.1: 0.6, 1.0: 0.9},
    {0.0: 0.4, 0.1: 0.7, 1.0: 0.8},
    {0.0: 0.5, 0.1: 0.55, 1.0: 0.95},
]


def _claims(df):
    claims = isometry_claims(
        df,
        reference_betas={"mnist": 0.1},
        scales={"mnist": {"epochs": 5}},
        i1_threshold=-1.0,
        i2_threshold=0.0,
        gates=GATES,
    )
    return {c["claim_id"]: c for c in claims}


def test_claims_from_a_sweep_table():
    df = _sweep_table(ACC, CORR)
    drops = accuracy_drop_points(df, "mnist", 0.1)
    assert drops == pytest.approx([-0.5, -0.4, -0.6])
    assert beta_rank_correlation(df, "mnist") == pytest.approx([1.0, 1.0, 1.0])
    by_id = _claims(df)
    assert by_id["I1"]["verdict"] == "reproduced" and by_id["I1"]["dataset"] == "mnist"
    assert by_id["I2"]["n_seeds"] == 3 and by_id["I2"]["mean"] == pytest.approx(1.0)
    assert "dataset=mnist" in by_id["I1"]["scale"]
    for c in by_id.values():
        assert c["gate_status"] == "pass" and c["paper"] == "Beshkov et al. 2022"
        assert (
            "heldout_accuracy (test accuracy - chance (1/classes), worst of 9 models) = 0.84"
            in (c["gates"])
        )
    with pytest.raises(ValueError, match="beta 10"):
        accuracy_drop_points(df, "mnist", 10.0)


def test_untrained_sweep_is_invalid_not_a_verdict():
    # One model of the sweep at chance accuracy: no verdict rests on it.
    acc = [dict(a) for a in ACC]
    acc[1][1.0] = 0.11
    by_id = _claims(_sweep_table(acc, CORR))
    for c in by_id.values():
        assert c["verdict"] == "invalid" and c["gate_status"] == "fail"
        assert "heldout_accuracy" in c["reason"] and "= 0.01" in c["reason"]
    # Losses that did not fall (first tenth 2.3, last 2.31): training gate.
    by_id = _claims(_sweep_table(ACC, CORR, losses=(2.3, 2.31)))
    for c in by_id.values():
        assert c["verdict"] == "invalid" and "training" in c["reason"]
        assert "heldout_accuracy" not in c["reason"]
    # A model without its loss rows (a run from before the gate): not measured, invalid.
    df = _sweep_table(ACC, CORR)
    lost = (df["seed"] == 2) & (df["beta"] == 0.0) & df["metric"].str.startswith("train_loss")
    by_id = _claims(df[~lost])
    assert by_id["I1"]["verdict"] == "invalid" and "training" in by_id["I1"]["reason"]


def test_constant_geometry_metric_makes_i2_invalid():
    # The metric does not vary with beta: Spearman undefined (NaN), by the one policy.
    flat = [{b: 0.5 for b in c} for c in CORR]
    assert all(math.isnan(v) for v in beta_rank_correlation(_sweep_table(ACC, flat), "mnist"))
    by_id = _claims(_sweep_table(ACC, flat))
    assert by_id["I2"]["verdict"] == "invalid" and "NaN" in by_id["I2"]["reason"]
    assert by_id["I1"]["verdict"] == "reproduced"


def _toy_images(n: int, classes: int) -> dict:
    """uint8 images whose brightness says the class; the first half is the test split."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % classes
    step = 240 // classes
    images = torch.rand(n, 1, 28, 28, generator=gen) * step + step * labels[:, None, None, None]
    images = images.to(torch.uint8)
    return {
        "train_images": images,
        "train_labels": labels,
        "test_images": images[: n // 2],
        "test_labels": labels[: n // 2],
    }


def test_run_records_losses_and_chance():
    data = _toy_images(60, 3)
    (res,) = run_isometric(
        data,
        dataset="toy",
        betas=[0.1],
        K=1.0,
        seed=0,
        steps=13,
        lr=3e-3,
        batch_size=6,
        max_train=0,
        hidden=8,
        depth=2,
        eval_points=30,
        scatter_pairs=5,
        generator=torch.Generator().manual_seed(0),
        device=torch.device("cpu"),
    )
    values = {r["metric"]: r["value"] for r in res["rows"]}
    assert values["chance_accuracy"] == pytest.approx(1 / 3)
    assert values["train_images"] == 60
    # 13 steps: the first and last two steps, not the same epoch mean twice
    assert values["train_loss_first_tenth"] > values["train_loss_last_tenth"]
    # 13 steps of 10 a pass: two epochs, the second partial; a curve point after each
    curves = pd.DataFrame(res["curves"])
    assert sorted(set(curves["epoch"])) == [1, 2]
    assert set(zip(curves["metric"], curves["split"], strict=True)) == {
        ("loss", "train"),
        ("accuracy", "heldout"),
    }
    acc = curves[curves["metric"] == "accuracy"]["value"]
    assert acc.between(0, 1).all()
    assert acc.iloc[-1] == pytest.approx(values["accuracy"])  # the last curve point: the model


def test_betas_trained_together_equal_separate_runs():
    """One stacked run of three betas gives each beta the weights, curve and loss tenths
    of a run of that beta alone (same seed: same initial weights and batches)."""
    data = _toy_images(120, 10)
    kw = dict(K=10.0, steps=25, lr=1e-3, batch_size=20, max_train=0, hidden=16, depth=3)
    kw |= dict(device=torch.device("cpu"))
    betas = [0.0, 0.1, 10.0]

    def train(bs):
        torch.manual_seed(3)
        return train_isometric(data, betas=bs, generator=torch.Generator().manual_seed(1), **kw)

    models, histories, tenths = train(betas)
    assert len(histories[0]) == 5 and histories[0][-1]["steps"] == 25  # 6 a pass: 4 x 6 + 1
    for i, beta in enumerate(betas):
        (alone,), (history,), (tenth,) = train([beta])
        for p, q in zip(models[i].state_dict().values(), alone.state_dict().values(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-6)
        assert tenths[i] == pytest.approx(tenth, rel=1e-6)
        acc = [h["heldout_accuracy"] for h in histories[i]]
        assert acc == pytest.approx([h["heldout_accuracy"] for h in history])
    # the betas did train differently
    assert not torch.equal(models[0].readout.weight, models[2].readout.weight)


def test_stacked_loss_is_each_models_isometric_loss():
    torch.manual_seed(0)
    template = IsometricMLP(hidden=12, depth=3)
    stack = StackedMLP(template, 3)
    with torch.no_grad():  # give the copies different weights
        for w in stack.weights:
            w.add_(0.05 * torch.randn_like(w))
    x = torch.rand(30, 1, 28, 28)
    y = torch.arange(30) % 4
    betas = [0.0, 0.5, 10.0]
    losses = stacked_isometric_loss(stack, x, y, torch.tensor(betas), K=2.0)
    for i, beta in enumerate(betas):
        model = stack.unstack(i)
        torch.testing.assert_close(model(x), stack(x)[i], rtol=1e-5, atol=1e-6)
        expected = isometric_loss(model, x, y, beta, 2.0)
        assert float(losses[i].detach()) == pytest.approx(float(expected.detach()), rel=1e-5)


def test_authors_step_budget_at_default_scale():
    """The default config's rule gives the authors' steps: 5 x 60,000 / 100 = 3,000 on
    MNIST, 10 x 60,000 / 100 = 6,000 on Fashion-MNIST; MNIST has 6 seeds (issue 14)."""
    iso = merged_config()["isometry"]
    assert isometry_steps(iso, "mnist") == 3000
    assert isometry_steps(iso, "fashion-mnist") == 6000
    assert isometry_seeds(iso, "mnist", [0, 1, 2]) == [0, 1, 2, 3, 4, 5]
    assert isometry_seeds(iso, "fashion-mnist", [0, 1, 2]) == [0, 1, 2]
    assert authors_steps(1, 1001, 100) == 11  # a last partial batch is a step
    smoke = merged_config(REPO / "workflow" / "configs" / "smoke.yaml")["isometry"]
    assert isometry_steps(smoke, "mnist") == 5 and isometry_seeds(smoke, "mnist", [0]) == [0]


def test_measured_scale_names_the_training_images():
    df = pd.DataFrame(
        {"dataset": ["mnist", "mnist", "fashion-mnist"], "metric": ["train_images"] * 3,
         "value": [8000.0, 8000.0, 20000.0]}
    )  # fmt: skip
    scale = {"train_images": "all", "steps": 3000}
    assert measured_scale(scale, df, "mnist") == {"train_images": "8000", "steps": 3000}
    assert measured_scale(scale, df[df["dataset"] != "mnist"], "mnist") == scale
