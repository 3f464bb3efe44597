"""Eigenmaps pretraining: batched augmentations, baseline losses, retrieval metrics,
models, claims E2/E3, and a smoke run of the whole eigenmaps stage."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch
from conftest import REPO, merged_config

from repgeom.eigenmaps.augment import AugmentConfig, augment, gaussian_blur
from repgeom.eigenmaps.evaluate import (
    evaluate_floors,
    shortest_prefix,
    shortest_prefixes,
    ssl_claims,
)
from repgeom.eigenmaps.gates import (
    RANDOM_INIT,
    RAW_PIXELS,
    last_tenth_share,
    levelled_rows,
    step_loss_rows,
)
from repgeom.eigenmaps.models import (
    build_model,
    initial_model,
    load_model,
    save_model,
    to_training_layout,
)
from repgeom.eigenmaps.retrieval import (
    average_precision_at,
    knn_accuracy,
    linear_probe_accuracy,
    mean_average_precision,
    prefix_grid,
    random_subsets,
)
from repgeom.eigenmaps.ssl import (
    JOINT_BN,
    ViewPairLoss,
    barlow_twins_loss,
    heldout_loss,
    heldout_views,
    pretrain,
    simclr_loss,
    spectral_contrastive_loss,
    ssl_loss,
)

IDENTITY = AugmentConfig(
    crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, blur_p=0.0,
    grayscale_p=0.0,
)  # fmt: skip


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n=16, c=1, s=28, seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (n, c, s, s), generator=gen(seed), dtype=torch.uint8)


# ------------------------------------------------------------------- augmentations


@pytest.mark.parametrize("c, s", [(1, 28), (3, 32)])
def test_augment_shapes_range_and_dtype(c, s):
    x = images(c=c, s=s)
    out = augment(x, AugmentConfig(flip_p=0.5), gen(0))
    assert out.shape == x.shape and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x.float() / 255)


def test_augment_is_seeded_by_the_generator():
    x = images(c=3, s=32)
    cfg = AugmentConfig(flip_p=0.5)
    a, b = augment(x, cfg, gen(7)), augment(x, cfg, gen(7))
    assert torch.equal(a, b)
    assert not torch.allclose(a, augment(x, cfg, gen(8)))
    g = gen(7)  # two draws from one generator: two different views
    assert not torch.allclose(augment(x, cfg, g), augment(x, cfg, g))


def test_identity_settings_return_the_images_and_flip_mirrors():
    x = images(c=3, s=32)
    assert torch.allclose(augment(x, IDENTITY, gen(0)), x.float() / 255, atol=1e-6)
    flip = AugmentConfig(**{**IDENTITY.to_dict(), "flip_p": 1.0, "crop_scale": (1.0, 1.0)})
    assert torch.allclose(augment(x, flip, gen(0)), x.float().flip(-1) / 255, atol=1e-6)


def test_crop_zooms_in():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 10:18, 10:18] = 1.0  # a centred square grows when a central crop is resized
    cfg = AugmentConfig(crop_scale=(0.25, 0.25), crop_ratio=(1.0, 1.0), jitter_p=0, blur_p=0)
    out = augment(x, cfg, gen(0))
    assert out.sum() > 1.5 * x.sum()


def test_blur_keeps_constants_and_smooths_noise():
    flat = torch.full((2, 3, 16, 16), 0.3)
    on = torch.tensor([True, True])
    sigma = torch.tensor([1.0, 2.0])
    assert torch.allclose(gaussian_blur(flat, sigma, on, 2.0), flat, atol=1e-6)
    noise = torch.rand(2, 1, 16, 16, generator=gen(0))
    out = gaussian_blur(noise, sigma, torch.tensor([True, False]), 2.0)
    assert out[0].std() < 0.6 * noise[0].std()
    assert torch.allclose(out[1], noise[1], atol=1e-6)  # off: identity kernel


def test_augment_config_rejects_bad_values():
    with pytest.raises(ValueError, match="crop_scale"):
        AugmentConfig(crop_scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="flip_p"):
        AugmentConfig(flip_p=2)
    with pytest.raises(ValueError, match="unknown augmentation key"):
        AugmentConfig.from_dict({"solarize": 0.1})
    with pytest.raises(ValueError, match="images must be"):
        augment(torch.zeros(2, 28, 28), AugmentConfig(), gen(0))


# ------------------------------------------------------------------- baseline losses


def test_barlow_twins_is_zero_for_identical_decorrelated_views():
    z = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    assert barlow_twins_loss(z, z, 0.005).item() == pytest.approx(0.0, abs=1e-6)
    # Fully correlated outputs: each off-diagonal entry is 1, the diagonal is perfect.
    zc = torch.cat([z[:, :1], z[:, :1]], 1)
    assert barlow_twins_loss(zc, zc, 0.5).item() == pytest.approx(0.5 * 2, abs=1e-4)


def test_simclr_loss_limits():
    z = torch.eye(4) * 10
    # Partners identical (cosine 1), orthogonal to the 6 others (cosine 0).
    assert simclr_loss(z, z, 0.1).item() == pytest.approx(math.log(1 + 6 * math.exp(-10)), rel=1e-3)
    # Every similarity equal: uniform over the other 2B - 1 views.
    ones = torch.ones(4, 3)
    assert simclr_loss(ones, ones, 0.5).item() == pytest.approx(math.log(7), abs=1e-5)


def test_spectral_contrastive_loss_closed_form():
    z1 = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    z2 = torch.tensor([[1.0, 1.0], [1.0, 1.0]])
    # Rows rescaled to norm sqrt(t) = 2: z1 -> [[2, 0], [0, 2]], z2 -> sqrt(2) [[1, 1], [1, 1]].
    # positives: both 2 sqrt(2); negatives: (z1_0.z2_1)^2 = (z1_1.z2_0)^2 = 8 -> 16 / 2
    assert spectral_contrastive_loss(z1, z2, t=4.0).item() == pytest.approx(
        -2 * 2 * math.sqrt(2) + 8
    )


def test_spectral_contrastive_loss_is_blind_to_output_scale():
    # As Deng et al.'s baseline: codes at norm sqrt(t), so a network whose raw outputs are
    # large at init (a ResNet-18 with a 2048-wide projector) starts at a loss of order t^2,
    # not of order |z|^4 (9584 in a CPU run on CIFAR-shaped data, which then diverged).
    z1, z2 = torch.randn(16, 32, generator=gen(0)), torch.randn(16, 32, generator=gen(1))
    t = 10.0
    small = spectral_contrastive_loss(z1, z2, t)
    for scale in (1e-3, 30.0, 1e3):
        assert spectral_contrastive_loss(scale * z1, scale * z2, t).item() == pytest.approx(
            small.item(), rel=1e-4
        )
    assert -2 * t <= small.item() <= t**2
    with pytest.raises(ValueError, match="t must be > 0"):
        spectral_contrastive_loss(z1, z2, 0.0)


def test_ssl_loss_dispatch_and_errors():
    z1, z2 = torch.randn(8, 4, generator=gen(0)), torch.randn(8, 4, generator=gen(1))
    loss, info = ssl_loss("neuralef", z1, z2, {"alpha": 5.0, "t": 10.0, "stop_grad": True})
    assert torch.isfinite(loss) and info["eigenvalues"].shape == (4,)
    with pytest.raises(ValueError, match="unknown method"):
        ssl_loss("byol", z1, z2, {})
    with pytest.raises(ValueError, match="same shape"):
        barlow_twins_loss(z1, z2[:, :3], 0.1)


# ------------------------------------------------------------------- retrieval metrics


def test_map_on_a_hand_made_example():
    # Query 0 (class 0) ranks gallery items 0, 1, 2 in that order: relevant, not, relevant.
    gallery = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0]])
    g_labels = torch.tensor([0, 1, 0, 1])
    query = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    q_labels = torch.tensor([0, 2])  # the second query's class is not in the gallery
    expected = ((1 / 1 + 2 / 3) / 2 + 0.0) / 2
    got = mean_average_precision(query, gallery, q_labels, g_labels, top_n=3)
    assert got == pytest.approx(expected)
    # top 1 only: a hit at rank 1 is AP 1
    got1 = mean_average_precision(query[:1], gallery, q_labels[:1], g_labels, top_n=1)
    assert got1 == pytest.approx(1.0)
    rel = torch.tensor([[0, 1, 1, 0], [0, 0, 0, 0]])
    assert average_precision_at(rel).tolist() == pytest.approx([(1 / 2 + 2 / 3) / 2, 0.0])
    with pytest.raises(ValueError, match="top_n"):
        mean_average_precision(query, gallery, q_labels, g_labels, top_n=5)


def test_prefix_grid_and_random_subsets():
    assert prefix_grid(128, 10) == [10, 12, 16, 24, 32, 48, 64, 96, 128]
    assert prefix_grid(32, 10) == [10, 12, 16, 24, 32]
    assert prefix_grid(20, 10) == [10, 12, 16, 20]
    assert prefix_grid(8, 8) == [8]
    subsets = random_subsets(10, 4, 3, gen(0))
    assert all(len(set(s.tolist())) == 4 and s.max() < 10 for s in subsets)
    assert [s.tolist() for s in subsets] == [s.tolist() for s in random_subsets(10, 4, 3, gen(0))]
    with pytest.raises(ValueError, match="n_classes"):
        prefix_grid(8, 10)


def test_probe_and_knn_on_separable_clusters():
    g = gen(0)
    centres = torch.randn(3, 8, generator=g) * 5
    ytr, yte = torch.arange(90) % 3, torch.arange(30) % 3
    xtr = centres[ytr] + 0.1 * torch.randn(90, 8, generator=g)
    xte = centres[yte] + 0.1 * torch.randn(30, 8, generator=g)
    assert linear_probe_accuracy(xtr, ytr, xte, yte) == pytest.approx(100.0)
    assert knn_accuracy(xtr, ytr, xte, yte, k=5) == pytest.approx(100.0)
    # Labels unrelated to the features: the kNN vote is near chance.
    shuffled = ytr[torch.randperm(90, generator=g)]
    assert knn_accuracy(xtr, shuffled, xte, yte, k=5) < 80


# ------------------------------------------------------------------- models, pretraining


@pytest.mark.parametrize("arch, c, s", [("cnn", 1, 28), ("resnet18", 3, 32)])
def test_models_give_codes_and_features(arch, c, s, tmp_path):
    torch.manual_seed(0)
    model = build_model(arch, c, proj_hidden=16, proj_dim=8).eval()
    x = torch.rand(2, c, s, s)
    code = model(x)
    assert code.shape == (2, 8)
    assert model.features(x).shape == (2, model.backbone.out_dim)
    meta = {"arch": arch, "in_channels": c, "proj_hidden": 16, "proj_dim": 8}
    save_model(tmp_path / "m.pt", model, meta)
    again, _ = load_model(tmp_path / "m.pt")
    assert torch.allclose(again(x), code, atol=1e-5)
    # The training layout changes memory order only; files are stored contiguous.
    to_training_layout(model)
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(model(x), code, atol=1e-5)
    save_model(tmp_path / "cl.pt", model, meta)
    stored = torch.load(tmp_path / "cl.pt", weights_only=True)["state_dict"]
    assert all(t.is_contiguous() for t in stored.values())
    with pytest.raises(ValueError, match="unknown arch"):
        build_model("vit", c, proj_hidden=4, proj_dim=4)


def _tiny_run(method, seed):
    torch.manual_seed(seed)
    model = build_model("cnn", 1, proj_hidden=8, proj_dim=8, widths=(4, 8), strides=(2, 2))
    params = {"alpha": 2.5, "t": 10.0, "stop_grad": True, "lambd": 0.01, "temperature": 0.5}
    history = pretrain(
        model,
        images(n=40, seed=1),
        method=method,
        loss_params=params,
        augment_cfg=AugmentConfig(),
        epochs=2,
        batch_size=16,
        lr=1e-3,
        weight_decay=0.0,
        generator=gen(seed),
        heldout=heldout_views(images(n=16, seed=9), AugmentConfig(), gen(7)),
    )
    return model, history


@pytest.mark.parametrize("method", ["neuralef", "barlow", "simclr", "spectral"])
def test_pretrain_is_finite_and_reproducible(method, one_thread):
    model, history = _tiny_run(method, 0)
    assert len(history) == 2 and all(math.isfinite(h["loss"]) for h in history)
    again, history2 = _tiny_run(method, 0)
    assert [h["loss"] for h in history] == [h["loss"] for h in history2]
    other, history3 = _tiny_run(method, 1)
    assert history3[0]["loss"] != history[0]["loss"]
    if method == "neuralef":
        assert len(history[-1]["eigenvalues"]) == 8
    assert all(math.isfinite(h["heldout_loss"]) for h in history)  # the curve's held-out side
    # every step's loss (40 images, batches of 16: 3 steps an epoch), the epoch's mean
    for h in history:
        assert len(h["step_losses"]) == 3
        assert sum(h["step_losses"]) / 3 == pytest.approx(h["loss"], rel=1e-5)


def _bn_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(784, 6), torch.nn.BatchNorm1d(6), torch.nn.Linear(6, 4)
    )


@pytest.mark.parametrize("method", ["neuralef", "barlow", "simclr"])
def test_only_neuralef_views_share_one_batchnorm_pass(method):
    # The authors' NeuralEF concatenates the views (BatchNorm statistics over 2B images);
    # their Barlow Twins and SimCLR pass each view alone. Views made far apart in
    # brightness make the two give different losses.
    params = {"alpha": 0.5, "t": 10.0, "stop_grad": True, "lambd": 0.01, "temperature": 0.5}
    cfg = AugmentConfig(jitter_p=1.0, brightness=0.9, blur_p=0.0)
    batch = images(n=8, seed=2)
    got = ViewPairLoss(method, params, cfg, gen(0))(_bn_net().train(), batch)
    g = gen(0)
    v1, v2 = augment(batch, cfg, g), augment(batch, cfg, g)
    net = _bn_net().train()
    joint = ssl_loss(method, *net(torch.cat([v1, v2])).chunk(2), params)[0]
    separate = ssl_loss(method, net(v1), net(v2), params)[0]
    assert not torch.allclose(joint, separate)
    expected = joint if method in JOINT_BN else separate
    assert torch.allclose(got, expected)
    assert JOINT_BN == ("neuralef",)


def test_heldout_loss_is_measured_without_changing_the_model():
    net = _bn_net().train()
    views = heldout_views(images(n=12, seed=3), AugmentConfig(), gen(1))
    again = heldout_views(images(n=12, seed=3), AugmentConfig(), gen(1))
    assert all(torch.equal(a, b) for a, b in zip(views, again, strict=True))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    params = {"alpha": 0.5, "t": 10.0, "stop_grad": True}
    first = heldout_loss(net, views, "neuralef", params, batch_size=4)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    # three full batches of 4, BatchNorm's running statistics (eval mode)
    parts = [
        ssl_loss("neuralef", *net(torch.cat([views[0][i : i + 4], views[1][i : i + 4]])).chunk(2),
                 params)[0]
        for i in (0, 4, 8)
    ]  # fmt: skip
    assert first == pytest.approx(float(torch.stack(parts).mean().detach()), rel=1e-6)
    assert heldout_loss(net, views, "neuralef", params, batch_size=4) == first
    with pytest.raises(ValueError, match="one batch"):
        heldout_loss(net, views, "neuralef", params, batch_size=16)


SPEC = {"arch": "cnn", "widths": [4, 8], "strides": [2, 2], "feature_dim": 16,
        "proj_hidden": 8, "proj_dim": 8}  # fmt: skip


def test_initial_model_is_the_seeds_starting_point():
    a, b = initial_model(SPEC, 1, 28, seed=3), initial_model(SPEC, 1, 28, seed=3)
    other = initial_model(SPEC, 1, 28, seed=4)
    state, again = a.state_dict(), b.state_dict()
    assert all(torch.equal(state[k], again[k]) for k in state)
    assert not torch.equal(state["projector.0.weight"], other.state_dict()["projector.0.weight"])
    assert a.backbone.out_dim == 16 and a(torch.rand(2, 1, 28, 28)).shape == (2, 8)


def test_floors_probe_each_seeds_untrained_backbone_and_the_raw_pixels():
    # Two classes told apart by brightness: an untrained backbone's features show it.
    g = gen(0)
    labels = torch.arange(60) % 2
    imgs = torch.rand(60, 1, 28, 28, generator=g) * 100 + 150 * labels[:, None, None, None]
    data = {
        "train_images": imgs[:40].to(torch.uint8),
        "train_labels": labels[:40],
        "test_images": imgs[40:].to(torch.uint8),
        "test_labels": labels[40:],
    }
    models = {s: initial_model(SPEC, 1, 28, seed=s) for s in (3, 0)}
    rows = evaluate_floors(models, data, probe_max_iter=20)
    keys = [(r["method"], r["seed"], r["metric"]) for r in rows]
    assert keys == [
        (RANDOM_INIT, 0, "probe_accuracy"),
        (RANDOM_INIT, 3, "probe_accuracy"),
        (RAW_PIXELS, 0, "probe_accuracy"),  # seed-free: once, under the first seed
    ]
    # accuracies (%) over the 20 test images, above chance (80 % for these seeds); the
    # pixels' brightness separates the classes outright
    assert [round(r["value"], 6) for r in rows] == [80.0, 80.0, 100.0]
    with pytest.raises(ValueError, match="no models"):
        evaluate_floors({}, data)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # same reduction order in both runs
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------- claims


FALLING, FLAT = [2.0] * 5 + [1.0] * 5, [2.0] * 10
GRID = (10, 16, 32)
GOOD_NEF = {10: 0.78, 16: 0.8, 32: 0.8}  # reaches 0.95 x 0.8 at k = 10
BASE = {10: 0.5, 16: 0.7, 32: 0.8}  # reaches it only at its full length, 32
BAD_NEF = {10: 0.3, 16: 0.5, 32: 0.6}  # never reaches it


def _metrics(nef, base, rand10, probe_nef, probe_base, floor=50.0, curves=None):
    """Two methods and the floors over 3 seeds: prefix mAP per k (``nef``, ``base``),
    NeuralEF's random 10-subsets' mAP ``rand10``; ``curves``: the step losses of a
    method (default falling)."""
    curves = curves or {}
    rows = []
    for seed in range(3):
        for method, maps, probe in (("neuralef", nef, probe_nef), ("barlow", base, probe_base)):
            rows.append(
                {"method": method, "seed": seed, "metric": "probe_accuracy", "value": probe + seed}
            )
            rows += [
                {"method": method, "seed": seed, "metric": "map", "k": k, "variant": "prefix",
                 "value": maps[k]}
                for k in GRID
            ]  # fmt: skip
            rows += step_loss_rows(curves.get(method, FALLING), method=method, seed=seed)
        rows.append({"method": "neuralef", "seed": seed, "metric": "map", "k": 10,
                     "variant": "random", "value": rand10 + 0.01 * seed})  # fmt: skip
        rows.append({"method": RANDOM_INIT, "seed": seed, "metric": "probe_accuracy",
                     "value": floor + seed})  # fmt: skip
    rows.append({"method": RAW_PIXELS, "seed": 0, "metric": "probe_accuracy", "value": 89.5})
    return pd.DataFrame(rows).assign(stage="eigenmaps")


def _claims(df, methods=("neuralef", "barlow")):
    claims = ssl_claims(
        df,
        methods=list(methods),
        e2_min_difference=-1.0,
        e3_match_ratio=0.95,
        e3_min_factor=1.5,
        e3_min_margin=0.0,
        levelled_max_share=0.05,
        min_loss_drop=0.0,
        min_probe_over_random_init=0.0,
        scale={"seeds": 3},
    )
    return {c["variant"]: c for c in claims}


def test_ssl_claims_verdicts():
    df = _metrics(GOOD_NEF, BASE, rand10=0.5, probe_nef=95.0, probe_base=95.5)
    by = _claims(df)
    assert set(by) == {"vs_best_baseline", "vs_random_subsets", "vs_barlow"}
    assert by["vs_best_baseline"]["mean"] == pytest.approx(-0.5)
    assert by["vs_best_baseline"]["verdict"] == "reproduced"  # -0.5 every seed: no CI width
    # retention at k = 10 (the grid's shortest): 0.78 / 0.8 minus (0.5 + 0.01 seed) / 0.8
    assert by["vs_random_subsets"]["mean"] == pytest.approx((0.78 - 0.51) / 0.8)
    assert by["vs_random_subsets"]["verdict"] == "reproduced"
    assert by["vs_barlow"]["mean"] == pytest.approx(32 / 10)  # k 10 vs 32
    assert by["vs_barlow"]["verdict"] == "reproduced"
    assert "seed 0: 10 vs 32" in by["vs_barlow"]["statement"]
    assert {c["gate_status"] for c in by.values()} == {"pass"}
    # every row states the floors and whether each loss levelled off (FALLING: a step
    # in the middle, flat in its last fifth -> share 0)
    for row in by.values():
        assert "random-init backbone 51.0 %, raw pixels 89.5 %" in row["detail"]
        assert "neuralef 3/3 (max 0.000), barlow 3/3 (max 0.000)" in row["detail"]
        assert row["detail"] in row["reason"]
    # E2 compares both methods: its probe gate is the worse one (neuralef, 95 - 50 points)
    assert "probe_above_random_init (" in by["vs_best_baseline"]["gates"]
    assert "= 45, needs > 0: pass" in by["vs_best_baseline"]["gates"]
    bad = _metrics(BAD_NEF, BASE, rand10=0.5, probe_nef=90.0, probe_base=95.0)
    bad_by = _claims(bad)
    assert {c["verdict"] for c in bad_by.values()} == {"not reproduced"}
    assert bad_by["vs_barlow"]["mean"] == 0.0  # NeuralEF never reaches barlow's mAP
    assert "seed 0: never vs 32" in bad_by["vs_barlow"]["statement"]
    with pytest.raises(ValueError, match="neuralef"):
        _claims(df[df.method != "neuralef"])
    with pytest.raises(ValueError, match="random_init"):
        _claims(df, methods=("neuralef", RANDOM_INIT))
    with pytest.raises(ValueError, match="raw_pixels"):
        _claims(df, methods=("neuralef", RAW_PIXELS))


def test_shortest_prefixes_match_a_brute_force_loop():
    # Random mAP curves on the default grid: the statistic against a plain loop.
    grid = prefix_grid(128, 10)
    g = gen(5)
    rows = []
    for seed in range(6):
        for method in ("neuralef", "simclr"):
            values = torch.rand(len(grid), generator=g).mul(0.3).add(0.6).tolist()
            rows += [
                {"method": method, "seed": seed, "metric": "map", "k": k, "variant": "prefix",
                 "value": v}
                for k, v in zip(grid, values, strict=True)
            ]  # fmt: skip
    df = pd.DataFrame(rows)
    got = shortest_prefixes(df, "simclr", 0.95)
    for seed in range(6):
        own = {r["k"]: r["value"] for r in rows if r["seed"] == seed and r["method"] == "neuralef"}
        other = {r["k"]: r["value"] for r in rows if r["seed"] == seed and r["method"] == "simclr"}
        target = other[128]
        k_own = k_other = math.inf
        for k in grid:  # increasing: the first match is the shortest
            if k_own == math.inf and own[k] >= 0.95 * target:
                k_own = k
            if k_other == math.inf and other[k] >= 0.95 * target:
                k_other = k
        assert got.loc[seed, "k_neuralef"] == k_own
        assert got.loc[seed, "k_baseline"] == k_other
        assert got.loc[seed, "factor"] == (0.0 if k_own == math.inf else k_other / k_own)
    assert shortest_prefix(pd.Series([0.1, 0.2], index=[10, 12]), 1.0, 0.95) == math.inf
    with pytest.raises(ValueError, match="no seed"):
        shortest_prefixes(df, "barlow", 0.95)


def test_last_tenth_share_measures_levelling_off():
    steps = torch.arange(100, dtype=torch.float64)
    assert last_tenth_share((100 - steps).tolist()) == pytest.approx(0.1 / 0.9 * 1.0)
    levelled = torch.exp(-steps / 5).tolist()  # flat long before the end
    assert last_tenth_share(levelled) < 1e-3
    still = (1 - steps / 200).tolist()  # half-way down, still falling at a constant rate
    assert last_tenth_share(still) == pytest.approx(1 / 9)
    assert math.isnan(last_tenth_share([1.0] * 50))  # no drop: not measured
    assert math.isnan(last_tenth_share([2.0, 1.0]))  # under 10 steps
    # negative losses (NeuralEF): only differences count
    assert last_tenth_share((-steps).tolist()) == pytest.approx(
        last_tenth_share((100 - steps).tolist())
    )
    df = pd.DataFrame(step_loss_rows(levelled, method="simclr", seed=2)).assign(stage="eigenmaps")
    (row,) = levelled_rows(df, ["simclr"])
    assert (row["method"], row["seed"], row["metric"]) == ("simclr", 2, "loss_last_tenth_share")
    assert row["value"] == pytest.approx(last_tenth_share(levelled))


def test_random_init_is_a_floor_not_a_baseline():
    # A floor above every method would be the "best baseline" if it were one
    df = _metrics(GOOD_NEF, BASE, rand10=0.5, probe_nef=95.0, probe_base=95.5, floor=99.0)
    by = _claims(df)
    assert set(by) == {"vs_best_baseline", "vs_random_subsets", "vs_barlow"}
    assert by["vs_best_baseline"]["mean"] == pytest.approx(-0.5)  # vs barlow, not the floor
    # ... and every method is below it: every row is invalid with the measured gap
    assert {c["verdict"] for c in by.values()} == {"invalid"}
    reason = by["vs_best_baseline"]["reason"]
    assert reason.startswith("probe_above_random_init (") and "= -4, needs > 0: FAIL" in reason


def test_ssl_claims_of_an_untrained_method_are_invalid():
    # barlow's pretraining loss did not fall: the rows comparing with it are invalid,
    # NeuralEF's own row (random subsets) keeps its verdict
    df = _metrics(GOOD_NEF, BASE, rand10=0.5, probe_nef=95.0, probe_base=95.5,
                  curves={"barlow": FLAT})  # fmt: skip
    by = _claims(df)
    assert {v: c["verdict"] for v, c in by.items()} == {
        "vs_best_baseline": "invalid",
        "vs_barlow": "invalid",
        "vs_random_subsets": "reproduced",
    }
    assert by["vs_barlow"]["reason"].startswith("training (")
    assert "worst of 6 models (neuralef, barlow)) = 0, needs > 0: FAIL" in by["vs_barlow"]["reason"]
    assert "barlow 0/3 (max n/a)" in by["vs_barlow"]["detail"]  # did not fall: not levelled
    # no random-init rows at all: the probe gate is not measured, so nothing gets a verdict
    no_floor = _claims(df[df.method != RANDOM_INIT])
    assert {c["verdict"] for c in no_floor.values()} == {"invalid"}
    assert "probe_above_random_init" in no_floor["vs_random_subsets"]["reason"]


# ------------------------------------------------------------------- workflow


CONFIGS = REPO / "workflow" / "configs"


@pytest.mark.parametrize("presets", [(), ("smoke.yaml",), ("paper.yaml",)])
def test_loss_settings_follow_their_stated_rules(presets):
    # NeuralEF: alpha * k * t^2 / B = 1, the penalty noise of the authors' pairs (alpha
    # 0.01 at k = 2048, t = 10, batch 2048). Barlow Twins: lambda * k / B as Zbontar et
    # al. (0.0051 at k = 8192, batch 2048). SimCLR: Chen et al.'s CIFAR-10 temperature.
    ssl = merged_config(*(str(CONFIGS / p) for p in presets))["eigenmaps"]["ssl"]
    k, b, t = ssl["proj_dim"], ssl["batch_size"], ssl["t"]
    assert ssl["alpha"] * k * t**2 / b == pytest.approx(0.01 * 2048 * 10**2 / 2048, rel=1e-3)
    assert ssl["barlow_lambda"] * k / b == pytest.approx(0.0051 * 8192 / 2048, rel=1e-3)
    assert ssl["simclr_temperature"] == 0.5


@pytest.mark.slow
def test_eigenmaps_stage_smoke_run(smoke_dag):
    tmp_path = smoke_dag
    claims = pd.read_csv(tmp_path / "results/eigenmaps/claims.csv")
    assert {"E1", "E2", "E3", "E4"} <= set(claims["claim_id"])
    e3 = claims[claims.claim_id == "E3"]
    assert {"vs_random_subsets", "vs_barlow", "vs_simclr"} == set(e3["variant"])
    ssl_rows = claims[claims.claim_id.isin(["E2", "E3"])]
    assert ssl_rows["detail"].str.contains("probe floors: random-init backbone").all()
    assert claims["mean"].notna().all()
    # every row reports its gates (smoke models may fail them: then invalid, with the value)
    assert claims["gates"].str.startswith("training (").all()
    ssl = claims[claims.claim_id.isin(["E2", "E3"])]
    assert ssl["gates"].str.contains("probe_above_random_init (", regex=False).all()
    invalid = claims[claims.verdict == "invalid"]
    assert invalid["reason"].str.contains(r"^(?:training|probe_above_random_init) \(").all()
    for name in ("retrieval", "probe", "pretrain_spectrum", "curves"):
        assert (tmp_path / f"results/figures/eigenmaps_{name}.png").stat().st_size > 10_000
    metrics = pd.read_csv(tmp_path / "results/eigenmaps/ssl/metrics.csv")
    spectrum = metrics[(metrics.metric == "eigenvalue") & (metrics.method == "neuralef")]
    assert len(spectrum) == 32  # one estimate per output of the smoke code
    assert (tmp_path / "results/eigenmaps/ssl/models/neuralef/seed0.pt").is_file()
    floors = metrics[metrics.method.isin([RANDOM_INIT, RAW_PIXELS])]
    assert floors[["method", "metric", "seed"]].values.tolist() == [
        [RANDOM_INIT, "probe_accuracy", 0],
        [RAW_PIXELS, "probe_accuracy", 0],
    ]
    assert floors["value"].between(0, 100).all()
    maps = metrics[(metrics.metric == "map") & (metrics.variant == "prefix")]
    assert sorted(maps["k"].unique()) == [10, 12, 16, 24, 32]  # the smoke code's grid
    levelled = metrics[metrics.metric == "loss_last_tenth_share"]
    assert sorted(levelled["method"]) == ["barlow", "neuralef", "simclr"]
    curves = pd.read_csv(tmp_path / "results/eigenmaps/ssl/pretrain/neuralef/seed0_curves.csv")
    pairs = set(zip(curves.split, curves.metric, strict=True))
    assert pairs == {("train", "ssl_loss"), ("heldout", "ssl_loss")}
    for part in ("toy", "graph"):
        c = pd.read_csv(tmp_path / f"results/eigenmaps/{part}/seed0_curves.csv")
        assert set(c["split"]) == {"train", "heldout"} and set(c["unit"]) == {"step"}
    steps = metrics[(metrics.metric == "step_loss") & (metrics.method == "neuralef")]
    assert steps["step"].tolist() == [1, 2, 3, 4]  # 512 images, batches of 128, 1 epoch
