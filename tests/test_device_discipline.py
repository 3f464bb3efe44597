"""Device discipline without a GPU: one short run of every stage's training function (and
an attack) on a simulated second device (tests/simdevice.py). A CPU tensor meeting a
device tensor, or a CPU generator drawing a device tensor, fails as it would on CUDA; the
host reads (syncs) per step are counted from two runs that differ by a known number of
steps, so a hidden ``.item()``/``.cpu()`` per step shows, whatever the fixed cost around
the loop. The numbers equal a plain CPU run's: the device path computes the same thing."""

from __future__ import annotations

import pytest
import torch
from simdevice import DeviceMismatch, SimTensor, SimulatedDevice

from repgeom.training import TrainRun, TrainSettings

CPU = torch.device("cpu")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def digits(n: int, seed: int = 0) -> dict:
    images = torch.randint(0, 256, (n, 1, 28, 28), generator=gen(seed), dtype=torch.uint8)
    labels = torch.arange(n) % 10
    return {
        "train_images": images,
        "train_labels": labels,
        "test_images": images[: n // 2].clone(),
        "test_labels": labels[: n // 2].clone(),
        "classes": [str(i) for i in range(10)],
    }


def registration(device, units):
    from repgeom.registration.models import train_regressor

    x = torch.rand(80, 5, 16, 16, generator=gen(1))
    y = torch.randn(80, 2, generator=gen(2))
    arch = {"in_channels": 5, "size": 16, "width": 4, "depth": 2, "max_shift": 2.0}
    model, history = train_regressor(
        x, y, arch, epochs=units, batch_size=8, lr=1e-3, weight_decay=0.0,
        run=TrainRun(0, gen(), device),
    )  # fmt: skip
    return [h["loss"] for h in history], 10  # an epoch: 10 steps, one read each


def similarity_toy(device, units):
    from repgeom.similarity.toy import build_toy_mlp, make_toy, train_toy

    _, x, y = make_toy(80, 2.0, gen(), "uniform")
    torch.manual_seed(0)
    model = build_toy_mlp(8, 3).to(device)
    settings = TrainSettings(epochs=units, batch_size=8, lr=1e-3)
    l1, losses = train_toy(model, x.to(device), y.to(device), settings, generator=gen())
    return [l1, *losses], 10


def similarity_enforce(device, units):
    from repgeom.similarity.enforce import run_enforce

    curves, _ = run_enforce(
        digits(64), variants=["plus_cos"], steps=10 * units, batch_size=2, lr=1e-3,
        eval_every=1000, val_size=16, target_accuracy=0.5, seed=0, device=device,
    )  # fmt: skip
    values = curves[["val_accuracy", "cosine", "train_loss"]].to_numpy().ravel().tolist()
    return values, 10  # evaluated at the first and the last step only


def similarity_kernel(device, units):
    from repgeom.registration.models import build_model
    from repgeom.similarity.kernel import per_sample_grads

    model = build_model(init_seed=0, in_channels=5, size=8, width=2, depth=2, max_shift=2.0)
    model = model.to(device).eval()
    x = torch.rand(4 * units, 5, 8, 8, generator=gen()).to(device)
    grads = per_sample_grads(model, x, chunk_size=4)
    return grads.sum().item(), 0  # one chunk a unit: no step, no read


def eigenmaps_ssl(device, units):
    from repgeom.eigenmaps.augment import AugmentConfig
    from repgeom.eigenmaps.models import build_model
    from repgeom.eigenmaps.ssl import pretrain

    images = torch.randint(0, 256, (80, 3, 16, 16), generator=gen(), dtype=torch.uint8)
    torch.manual_seed(0)
    model = build_model("cnn", 3, proj_hidden=8, proj_dim=8, widths=[4, 8], strides=[2, 2])
    history = pretrain(
        model.to(device), images.to(device), method="neuralef",
        loss_params={"alpha": 0.1, "t": 10.0, "stop_grad": True},
        augment_cfg=AugmentConfig(flip_p=0.5, hue=0.1), epochs=units, batch_size=8, lr=1e-3,
        weight_decay=0.0, generator=gen(),
    )  # fmt: skip
    return [h["loss"] for h in history], 10


def eigenmaps_toy(device, units):
    from repgeom.eigenmaps.toy import circle_net, sample_views, train_views

    torch.manual_seed(0)
    model = circle_net(8, 3).to(device)
    g = gen()
    losses = train_views(
        model, lambda _s: sample_views(16, 0.4, g, device), steps=10 * units, lr=1e-3, alpha=1.0,
        t=10.0, stop_grad=True,
    )  # fmt: skip
    return losses, 10


def eigenmaps_graph(device, units):
    from repgeom.eigenmaps.graph import run_graph

    res = run_graph(
        "karate", seed=0, sbm=None, n_outputs=4, hidden=8, steps=40 * units, batch_size=32, lr=1e-3,
        alpha=1.0, t=10.0, generator=gen(), device=device,
    )  # fmt: skip
    # 40 steps a unit: the curve's 20 step buckets (a read each) are there from one unit on.
    return list(res["losses"]), 40


def isometry(device, units):
    from repgeom.isometry.train import run_isometric

    (res,) = run_isometric(
        digits(160), dataset="mnist", betas=[0.1], K=1.0, seed=0, steps=10 * units, lr=1e-3,
        batch_size=16, max_train=0, hidden=8, depth=2, eval_points=16, scatter_pairs=4,
        generator=gen(), device=device,
    )  # fmt: skip
    return [r["value"] for r in res["rows"]], 10


def hierarchy(device, units):
    from repgeom.isometry.hierarchy import run_hierarchy_task

    settings = {
        "hidden": 8, "block_depth": 1, "beta": 1.0, "K": 1.0, "epochs": units, "lr": 1e-3,
        "batch_size": 16, "n_train": 160, "n_test": 32, "eval_points": 16, "R": 0.67,
        "r": 0.33, "noise": 0.001, "n_arcs": 4,
    }  # fmt: skip
    rows, history, _ = run_hierarchy_task(
        "torus", settings=settings, data=None, generator=gen(), device=device
    )
    return [r["value"] for r in rows] + [h["loss"] for h in history], 10


def lsh(device, units):
    from repgeom.lsh.models import train_classifier

    data = {
        "kind": "image",
        "x_train": torch.randint(0, 256, (96, 3, 8, 8), generator=gen(), dtype=torch.uint8),
        "y_train": torch.arange(3).repeat_interleave(32),
        "x_heldout": torch.randint(0, 256, (12, 3, 8, 8), generator=gen(), dtype=torch.uint8),
        "y_heldout": torch.arange(3).repeat_interleave(4),
    }
    _, summary, _ = train_classifier(
        data, 3, hidden=4, embed_dim=4, epochs=units, batch_size=8, lr=1e-3,
        weight_decay=0.0, run=TrainRun(0, gen(), device),
    )  # fmt: skip
    return [summary["final_loss"], summary["train_accuracy"], summary["heldout_accuracy"]], 12


def attack(device, units):
    from repgeom.adversarial.attacks import isometry_attack_loss, pgd
    from repgeom.isometry.models import IsometricMLP

    torch.manual_seed(0)
    model = IsometricMLP(hidden=8, depth=2).to(device).eval()
    x = torch.rand(8, 1, 28, 28, generator=gen()).to(device)
    y = (torch.arange(8) % 10).to(device)
    loss = isometry_attack_loss(1.0, 1.0)
    x_adv = pgd(model, x, y, 0.1, alpha=0.05, steps=10 * units, random_start=False, loss_fn=loss)
    return x_adv.sum().item(), 10


# Reads per epoch by design: pretraining's step losses and eigenvalues; the lsh curve's
# training accuracy and held-out-theta accuracy; the hierarchy's held-out accuracy per
# level (its training curve); registration's per-model epoch losses (a stack's).
READS_PER_UNIT = {"eigenmaps_ssl": 2, "lsh": 2, "hierarchy": 1, "registration": 1}
# The pgd unit: 10 attack steps, which read nothing (no guard).
STAGES = [
    registration,
    similarity_toy,
    similarity_enforce,
    similarity_kernel,
    eigenmaps_ssl,
    eigenmaps_toy,
    eigenmaps_graph,
    isometry,
    hierarchy,
    lsh,
    attack,
]


@pytest.mark.parametrize("run", STAGES, ids=[s.__name__ for s in STAGES])
def test_stage_runs_on_a_second_device(run):
    """``run(device, units)`` -> (numbers, the steps in a unit). One more unit may add one
    host read a step (the DivergenceGuard's loss check) plus what a stage reads per epoch
    by design (``READS_PER_UNIT``), and at most two uploads a step (a batch's indices or
    inputs drawn on the CPU)."""

    # One thread, as every rule runs (threads: 1): float32 reductions split over several
    # threads differ in the last digits between the CPU and the simulated-device paths
    # (NeuralEF's joint BatchNorm pass: 4.8e-6 relative with 2 threads).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _compare_with_cpu(run)
    finally:
        torch.set_num_threads(threads)


def _compare_with_cpu(run):
    from repgeom.runtime import seed_everything

    seed_everything(0)
    expected, _ = run(CPU, 1)
    seen = []
    for units in (1, 2):
        seed_everything(0)
        with SimulatedDevice() as sim:
            values, steps = run(sim.device, units)
        seen.append((sim.syncs, sim.uploads, dict(sim.sync_ops)))
        if units == 1:
            assert values == pytest.approx(expected, rel=1e-6, nan_ok=True)
    (reads1, up1, ops1), (reads2, up2, ops2) = seen
    extra = {k: ops2.get(k, 0) - ops1.get(k, 0) for k in ops2}
    allowed = steps + READS_PER_UNIT.get(run.__name__, 0)
    assert reads2 - reads1 <= allowed, f"{run.__name__}: host reads of one more unit: {extra}"
    assert up2 - up1 <= 2 * max(steps, 1), f"{run.__name__}: {up2 - up1} uploads a unit"


# ------------------------------------------------------------ the detector itself


def test_detector_raises_what_cuda_raises():
    with SimulatedDevice() as sim:
        x = torch.ones(3, 2).to(sim.device)
        assert isinstance(x, SimTensor) and x.device == sim.device
        assert isinstance(x * torch.tensor(2.0), SimTensor)  # a 0-dim CPU tensor: a scalar
        with pytest.raises(DeviceMismatch, match="same device"):
            x + torch.ones(3, 2)
        with pytest.raises(DeviceMismatch, match="generator"):
            torch.empty(3, device=sim.device).uniform_(generator=gen())
        with pytest.raises(DeviceMismatch, match="generator"):
            torch.randperm(5, generator=gen(), device=sim.device)
        with pytest.raises(TypeError, match="numpy"):
            x.numpy()
        moved = torch.randperm(5, generator=gen()).to(sim.device)  # draw on CPU, then move
        assert isinstance(moved, SimTensor)


def test_detector_counts_host_reads():
    with SimulatedDevice() as sim:
        x = torch.arange(4.0).to(sim.device)
        y = (x * 2).sum()
        assert sim.syncs == 0
        assert float(y) == 12.0 and y.item() == 12.0
        assert x.cpu().tolist() == [0.0, 1.0, 2.0, 3.0] and x.tolist() == [0.0, 1.0, 2.0, 3.0]
        assert bool((x > 2).any())
    assert sim.syncs == 5
