"""Hierarchical stacking (paper section on hierarchical representations; the authors'
HierarchicalRepresentationNetwork): one block of tanh layers per level of a label
hierarchy, coarse to fine. Level l reads the output of blocks 0..l through a readout
shared by all levels; its loss (cross-entropy + β · isometry penalty with the level-l
labels) trains block l and the readout only: the lower blocks enter detached, i.e.
frozen while the level trains. All levels train on every minibatch, as the authors do;
their losses are summed into one Adam step, which gives each block the same gradient as
the authors' one step per level (block l only ever sees level l's loss).

Tasks: the torus toy (points on a torus in R^3, 8 arcs of the minor (tube) angle, nested
into 4 and 2, as the authors' HRIM_Torus labels split it), and MNIST [0-4 | 5-9] -> pairs
{0,1},...,{8,9} -> digits."""

from __future__ import annotations

import logging
import math

import torch
import torch.nn.functional as F
from torch import nn

from repgeom import streams
from repgeom.curves import history_rows
from repgeom.isometry.geometry import accuracy, geometry_metrics
from repgeom.isometry.losses import pairwise_distances, penalty_from_distances, same_class
from repgeom.isometry.models import flatten_images
from repgeom.isometry.train import fixed_subset, to_unit_float
from repgeom.training import TrainSettings, train_model

MNIST_LEVELS = (
    ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9)),
    ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9)),
    tuple((d,) for d in range(10)),
)


class HierarchicalMLP(nn.Module):
    """Blocks of tanh layers, one per level; block 0 starts with the input layer
    (in_dim -> hidden) followed by ``block_depth`` hidden layers, every other block has
    ``block_depth`` hidden layers. One linear readout to ``n_classes`` (the finest
    level's count) is shared by all levels."""

    def __init__(self, in_dim: int, hidden: int, block_depth: int, n_levels: int, n_classes: int):
        super().__init__()
        if block_depth < 1 or n_levels < 1:
            raise ValueError("block_depth and n_levels must be >= 1")
        self.blocks = nn.ModuleList()
        for level in range(n_levels):
            layers = [nn.Linear(in_dim, hidden)] if level == 0 else []
            for _ in range(block_depth):
                layer = nn.Linear(hidden, hidden)
                nn.init.orthogonal_(layer.weight)
                layers.append(layer)
            self.blocks.append(nn.ModuleList(layers))
        self.readout = nn.Linear(hidden, n_classes)

    @property
    def n_levels(self) -> int:
        return len(self.blocks)

    def level_representations(
        self, x: torch.Tensor, detach_below: bool = False
    ) -> list[torch.Tensor]:
        """[h_0, ..., h_{L-1}], h_l the output of block l. With ``detach_below`` each block
        reads its input detached, so a loss on h_l moves block l only."""
        h = x.reshape(len(x), -1).float()
        out = []
        for block in self.blocks:
            if detach_below:
                h = h.detach()
            for layer in block:
                h = torch.tanh(layer(h))
            out.append(h)
        return out

    def level_logits(self, x: torch.Tensor, level: int) -> torch.Tensor:
        return self.readout(self.level_representations(x)[level])


def hierarchical_loss(
    model: HierarchicalMLP, x: torch.Tensor, ys: torch.Tensor, beta: float, K: float
) -> torch.Tensor:
    """Sum over levels of CE(readout(h_l), y_l) + beta * isometry_penalty(h_l, x, y_l, K),
    lower blocks frozen for each level. ``ys`` is [N, L], one label column per level."""
    total = x.new_zeros(())
    reps = model.level_representations(x, detach_below=True)
    # The input distances are the same at every level: computed once.
    dx = pairwise_distances(flatten_images(x).to(reps[0].dtype)) if beta != 0 else None
    for level, h in enumerate(reps):
        y = ys[:, level]
        total = total + F.cross_entropy(model.readout(h), y)
        if beta != 0:
            same = same_class(y).to(h.dtype)
            total = total + beta * penalty_from_distances(pairwise_distances(h), dx, same, K)
    return total


def torus_dataset(
    n: int, *, R: float, r: float, noise: float, n_arcs: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points uniform in the two angles of a torus (major radius R, minor r) in R^3
    plus Gaussian noise; labels [n, levels]: the finest level is the arc of the minor
    (tube) angle phi (``n_arcs`` equal arcs, a power of 2), each coarser level merges
    pairs. The authors' labels (binary_hierarchical_labeling over their T2 grid) cut the
    tube angle this way."""
    levels = int(math.log2(n_arcs))
    if 2**levels != n_arcs or levels < 1:
        raise ValueError(f"n_arcs must be a power of 2 >= 2, got {n_arcs}")
    theta, phi = (2 * math.pi * torch.rand(2, n, generator=generator)).unbind(0)
    ring = R + r * torch.cos(phi)
    x = torch.stack([ring * torch.cos(theta), ring * torch.sin(theta), r * torch.sin(phi)], 1)
    x = x + noise * torch.randn(x.shape, generator=generator)
    arc = (phi / (2 * math.pi) * n_arcs).long().clamp_max(n_arcs - 1)
    ys = torch.stack([arc // 2 ** (levels - 1 - lv) for lv in range(levels)], 1)
    return x, ys


def mnist_hierarchy_labels(digits: torch.Tensor) -> torch.Tensor:
    """Digit labels [N] -> [N, 3]: half (0-4 | 5-9), pair, digit."""
    columns = []
    for groups in MNIST_LEVELS:
        lookup = torch.empty(10, dtype=torch.long)
        for g, members in enumerate(groups):
            lookup[list(members)] = g
        columns.append(lookup.to(digits.device)[digits])
    return torch.stack(columns, 1)


def train_hierarchy(
    x: torch.Tensor,
    ys: torch.Tensor,
    settings: TrainSettings,
    *,
    hidden: int,
    block_depth: int,
    beta: float,
    K: float,
    generator: torch.Generator,
    logger: logging.Logger | None = None,
    heldout: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[HierarchicalMLP, list[dict]]:
    """A fresh :class:`HierarchicalMLP` trained on :func:`hierarchical_loss`; returns it
    (eval mode) and the per-epoch history; with ``heldout`` (x, ys) each record also
    holds ``heldout_accuracy_<level>``, the accuracy of every level on it (one host
    read per epoch)."""
    n_classes = int(ys[:, -1].max()) + 1
    model = HierarchicalMLP(x.shape[1], hidden, block_depth, ys.shape[1], n_classes).to(x.device)

    def loss_fn(m, xb, yb):
        return hierarchical_loss(m, xb, yb, beta, K)

    def evaluate(epoch: int, history: list[dict]) -> dict:
        model.eval()
        with torch.no_grad():
            hs = model.level_representations(heldout[0])
            acc = torch.stack(
                [
                    (model.readout(h).argmax(1) == heldout[1][:, level]).float().mean()
                    for level, h in enumerate(hs)
                ]
            ).tolist()
        return {f"heldout_accuracy_{level}": a for level, a in enumerate(acc)}

    history = train_model(
        model,
        loss_fn,
        (x, ys),
        settings,
        generator=generator,
        logger=logger,
        on_epoch_end=evaluate if heldout is not None else None,
    )
    return model.eval(), history


@torch.no_grad()
def evaluate_hierarchy(
    model: HierarchicalMLP, x: torch.Tensor, ys: torch.Tensor, eval_points: int
) -> list[dict]:
    """Per level: accuracy (all of x) and within/between-class geometry of h_l against
    the input, on a fixed subset of ``eval_points`` points."""
    sub = fixed_subset(len(x), eval_points, streams.fixed_stream("isometry/eval_subset"))
    sub = sub.to(x.device)
    reps = model.level_representations(x[sub])
    rows = []
    for level in range(model.n_levels):
        acc = accuracy(lambda xb, lv=level: model.level_logits(xb, lv), x, ys[:, level])
        metrics = {"accuracy": acc, **geometry_metrics(reps[level], x[sub], ys[sub, level])}
        n_classes = int(ys[:, level].max()) + 1
        rows += [
            {"level": level, "n_classes": n_classes, "metric": k, "value": v}
            for k, v in metrics.items()
        ]
    return rows


def run_hierarchy_task(
    task: str,
    *,
    settings: dict,
    data: dict | None,
    generator: torch.Generator,
    device: torch.device,
    logger: logging.Logger | None = None,
    embedding_points: int = 0,
) -> tuple[list[dict], list[dict], list[dict]]:
    """Build the task's data, train, evaluate on held-out points: (metric rows, history,
    embedding rows of ``embedding_points`` test points for the figure).
    ``settings``: hidden, block_depth, beta, K, epochs, lr, batch_size, n_train,
    eval_points (and for the torus R, r, noise, n_arcs)."""
    s = settings
    if task == "torus":
        kw = dict(R=s["R"], r=s["r"], noise=s["noise"], n_arcs=s["n_arcs"], generator=generator)
        x_tr, y_tr = torus_dataset(s["n_train"], **kw)
        x_te, y_te = torus_dataset(s["n_test"], **kw)
    elif task == "mnist":
        if data is None:
            raise ValueError("the mnist hierarchy needs the prepared MNIST dataset")
        subset_seed = streams.fixed_stream("isometry/train_subset")
        idx = fixed_subset(len(data["train_labels"]), s["n_train"], subset_seed)
        x_tr = to_unit_float(data["train_images"][idx])
        y_tr = mnist_hierarchy_labels(data["train_labels"][idx])
        x_te = to_unit_float(data["test_images"])
        y_te = mnist_hierarchy_labels(data["test_labels"])
    else:
        raise ValueError(f"unknown hierarchy task {task!r} (known: torus, mnist)")
    x_tr, y_tr, x_te, y_te = (t.to(device) for t in (x_tr, y_tr, x_te, y_te))
    train = TrainSettings(
        s["epochs"],
        s["batch_size"],
        s["lr"],
        setting=f"isometry.hierarchy.{task}.lr",
        log_every_epoch=False,
    )
    net = {k: s[k] for k in ("hidden", "block_depth", "beta", "K")}
    model, history = train_hierarchy(
        x_tr, y_tr, train, **net, generator=generator, logger=logger, heldout=(x_te, y_te)
    )
    rows = evaluate_hierarchy(model, x_te, y_te, s["eval_points"])
    emb = []
    if embedding_points > 0:
        subset_seed = streams.fixed_stream("isometry/eval_subset")
        sub = fixed_subset(len(x_te), embedding_points, subset_seed).to(device)
        emb = level_embeddings(model, x_te[sub], y_te[sub])
    return rows, history, emb


@torch.no_grad()
def level_embeddings(model: HierarchicalMLP, x: torch.Tensor, ys: torch.Tensor) -> list[dict]:
    """Tidy-ready rows for drawing the hierarchy: the input coordinates ("x0".."x2", only
    for inputs of at most 3 dimensions) and the first two principal components of each
    level's representation ("pc1", "pc2"), each with its point index, level and label."""
    rows = []
    reps = model.level_representations(x)
    for level, h in enumerate(reps):
        hc = h.double() - h.double().mean(0)
        _, _, v = torch.linalg.svd(hc, full_matrices=False)
        pcs = (hc @ v[:2].T).cpu()
        coords = {"pc1": pcs[:, 0], "pc2": pcs[:, 1]}
        if x.shape[1] <= 3:  # low-dimensional inputs (the torus) are drawn as they are
            coords.update({f"x{k}": x[:, k].cpu() for k in range(x.shape[1])})
        labels = ys[:, level].cpu()
        for name, values in coords.items():
            rows += [
                {
                    "point": i,
                    "level": level,
                    "label": int(labels[i]),
                    "metric": name,
                    "value": float(v_),
                }
                for i, v_ in enumerate(values.tolist())
            ]
    return rows


def hierarchy_curve_rows(history: list[dict], base: dict) -> list[dict]:
    """Curve rows (repgeom.curves) of a hierarchy training: the summed training loss and
    each level's held-out accuracy (metric ``accuracy_level<l>``) per epoch."""
    levels = sorted(
        int(k.rsplit("_", 1)[1])
        for k in (history[0] if history else {})
        if k.startswith("heldout_")
    )
    metrics = {"loss": ("loss", "train")}
    metrics |= {f"heldout_accuracy_{lv}": (f"accuracy_level{lv}", "heldout") for lv in levels}
    return history_rows(history, base, metrics)
