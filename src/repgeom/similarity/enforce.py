"""Similarity-enforcing training term on MNIST (Charpiat et al. 2019, section 4).

Each step draws one class and two minibatches A, B of that class (the authors' setting:
batch of 1 pair, Adam at default settings, the small CNN below). With the log-softmax
contrast of the true class s(x) = log p_c(x) - 1/(C-1) sum_{k != c} log p_k(x), the term is
the cosine between grad_theta mean_A s and grad_theta mean_B s, weighted by sqrt(batch).

The paper's text wants same-class pairs to look similar to the network (a term -cos
added to the loss); the authors' code adds +cos, which pushes them apart. Both signs run
here beside a baseline from the same initial weights and the same pair sequence, so the
comparison per seed is paired. Validation accuracy is recorded against the step."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from repgeom import stats, streams
from repgeom.curves import history_rows
from repgeom.gate_inputs import loss_rows
from repgeom.training import DivergenceGuard, Progress

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
# variant -> sign of the cosine term in the loss
VARIANTS = {"baseline": 0.0, "plus_cos": 1.0, "minus_cos": -1.0}
VARIANT_NOTES = {
    "baseline": "cross-entropy only",
    "plus_cos": "+cos added to the loss (authors' code: lowers similarity)",
    "minus_cos": "-cos added to the loss (paper's text: enforces similarity)",
}


class SmallCNN(nn.Module):
    """The authors' MNIST network: conv 5x5 (32) - PReLU - avgpool, conv 5x5 (64) - PReLU -
    avgpool, fc 1024 -> 256 - PReLU, fc -> classes; returns logits."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5),
            nn.PReLU(),
            nn.AvgPool2d(2, stride=2),
            nn.Conv2d(32, 64, 5),
            nn.PReLU(),
            nn.AvgPool2d(2, stride=2),
        )
        self.head = nn.Sequential(nn.Linear(64 * 4 * 4, 256), nn.PReLU(), nn.Linear(256, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, 1, 28, 28] -> float, standardised with the MNIST mean and std."""
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"expected MNIST-like images [N, 1, H, W], got {tuple(images.shape)}")
    return (images.float() / 255.0 - MNIST_MEAN) / MNIST_STD


def contrast(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """s(x): log-softmax of the true class minus the mean log-softmax of the others."""
    c = logits.shape[1]
    mask = torch.full_like(logits, -1.0 / (c - 1))
    mask.scatter_(1, labels.unsqueeze(1), 1.0)
    return (F.log_softmax(logits, dim=1) * mask).sum(dim=1)


def gradient_cosine(model: nn.Module, xa, ya, xb, yb, create_graph: bool = True) -> torch.Tensor:
    """cos(grad_theta mean_A s, grad_theta mean_B s), differentiable in theta."""
    params = [p for p in model.parameters() if p.requires_grad]
    flat = []
    for x, y in ((xa, ya), (xb, yb)):
        s = contrast(model(x), y).mean()
        grads = torch.autograd.grad(s, params, create_graph=create_graph)
        flat.append(torch.cat([g.reshape(-1) for g in grads]))
    return F.cosine_similarity(flat[0], flat[1], dim=0)


class PairSampler:
    """Same-class minibatch pairs from in-memory tensors: a class uniformly, then
    ``batch_size`` random members of it for A and again for B (with replacement)."""

    def __init__(self, labels: torch.Tensor, n_classes: int, generator: torch.Generator):
        self.gen = generator
        order = torch.argsort(labels.cpu(), stable=True)
        counts = torch.bincount(labels.cpu(), minlength=n_classes)
        if (counts == 0).any():
            missing = torch.nonzero(counts == 0).flatten().tolist()
            raise ValueError(f"classes {missing} have no training images")
        self.order, self.counts = order, counts
        self.starts = torch.cumsum(counts, 0) - counts
        self.n_classes = n_classes

    def draw(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        c = torch.randint(self.n_classes, (1,), generator=self.gen)
        pos = torch.randint(int(self.counts[c]), (2, batch_size), generator=self.gen)
        idx = self.order[self.starts[c] + pos]
        return idx[0], idx[1]


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 1000) -> float:
    """The model's accuracy on (x, y), in eval mode, ``chunk`` images at a time."""
    was = model.training
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(x[i : i + chunk]).argmax(1) for i in range(0, len(x), chunk)])
    model.train(was)
    return stats.accuracy(predicted.cpu().numpy(), y.cpu().numpy())


def train_variant(
    init_state: dict,
    sign: float,
    data: dict,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    eval_every: int,
    seed: int,
    device: torch.device,
    progress: Progress | None = None,
) -> list[dict]:
    """One run from ``init_state``: validation accuracy at step 0 and every ``eval_every``
    steps, plus the running cosine of the pair gradients (measured in every variant) and
    the mean task loss (cross-entropy, without the term) since the last evaluation.
    Guarded by a DivergenceGuard; progress every 10 % (on ``progress`` when shared)."""
    model = SmallCNN(data["n_classes"]).to(device)
    model.load_state_dict(init_state)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    guard = DivergenceGuard(model.parameters(), setting="similarity.enforce.lr", lr=lr)
    progress = progress or Progress(steps)
    sampler = PairSampler(data["y_train"], data["n_classes"], torch.Generator().manual_seed(seed))
    weight = math.sqrt(batch_size)
    x, y, xv, yv = data["x_train"], data["y_train"], data["x_val"], data["y_val"]
    acc0 = accuracy(model, xv, yv)
    history = [{"step": 0, "val_accuracy": acc0, "cosine": math.nan, "train_loss": math.nan}]
    cos_sum, cos_n, loss_sum = 0.0, 0, 0.0
    for step in range(1, steps + 1):
        ia, ib = (i.to(device) for i in sampler.draw(batch_size))
        opt.zero_grad(set_to_none=True)
        loss = 0.5 * (F.cross_entropy(model(x[ia]), y[ia]) + F.cross_entropy(model(x[ib]), y[ib]))
        # The task loss, for the training gate; summed in float64 on the device (the
        # same additions as Python floats, without a host read per step).
        loss_sum = loss_sum + loss.detach().double()
        cos = gradient_cosine(model, x[ia], y[ia], x[ib], y[ib], create_graph=sign != 0)
        if sign != 0:
            loss = loss + sign * weight * cos
        value = guard.check_loss(loss, epoch=1, step=step)
        loss.backward()
        opt.step()
        cos_sum, cos_n = cos_sum + cos.detach().double(), cos_n + 1
        if progress.advance(detail=f"loss {value:.4g}"):
            guard.check_parameters(epoch=1, step=step)
        if step % eval_every == 0 or step == steps:
            acc = accuracy(model, xv, yv)
            means = {"cosine": float(cos_sum) / cos_n, "train_loss": float(loss_sum) / cos_n}
            history.append({"step": step, "val_accuracy": acc, **means})
            cos_sum, cos_n, loss_sum = 0.0, 0, 0.0
    guard.finish(epoch=1, step=steps, logger=progress.logger)
    return history


def steps_to_accuracy(steps, accuracies, target: float) -> float:
    """First step at which validation accuracy reaches ``target``, linearly interpolated
    between evaluations; NaN when never reached."""
    s, a = np.asarray(steps, dtype=float), np.asarray(accuracies, dtype=float)
    hit = np.nonzero(a >= target)[0]
    if hit.size == 0:
        return math.nan
    k = int(hit[0])
    if k == 0:
        return float(s[0])
    s0, s1, a0, a1 = s[k - 1], s[k], a[k - 1], a[k]
    return float(s0 + (target - a0) / (a1 - a0) * (s1 - s0))


def prepare_mnist(mnist: dict, val_size: int, device: torch.device, seed: int) -> dict:
    """Standardised training images and a fixed random validation subset of the test split."""
    n_test = mnist["test_images"].shape[0]
    if not 0 < val_size <= n_test:
        raise ValueError(f"similarity.enforce.val_size must be in [1, {n_test}], got {val_size}")
    pick = torch.from_numpy(stats.subset_indices(n_test, val_size, seed))
    return {
        "x_train": normalize_images(mnist["train_images"]).to(device),
        "y_train": mnist["train_labels"].to(device),
        "x_val": normalize_images(mnist["test_images"][pick.to(mnist["test_images"].device)]).to(
            device
        ),
        "y_val": mnist["test_labels"][pick.to(mnist["test_labels"].device)].to(device),
        "n_classes": len(mnist["classes"]),
    }


def run_enforce(
    mnist: dict,
    *,
    variants,
    steps: int,
    batch_size: int,
    lr: float,
    eval_every: int,
    val_size: int,
    target_accuracy: float,
    seed: int,
    device: torch.device,
    logger: logging.Logger | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every variant from the same initial weights and pair sequence of ``seed``; returns
    (curves: step, val_accuracy, cosine, train_loss per variant; tidy metrics incl. steps
    to target, chance accuracy (1 / classes) and the task loss over the first and last
    tenth of the evaluation intervals)."""
    logger = logger or logging.getLogger("repgeom.similarity")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"similarity.enforce.variants: unknown {unknown}; known {list(VARIANTS)}")
    data = prepare_mnist(mnist, val_size, device, streams.stream(seed, "similarity/enforce/val"))
    init = initial_state(data["n_classes"], seed, device)
    curves, rows = [], []
    base = {"stage": "similarity", "method": "small_cnn", "seed": seed}
    chance = 1.0 / data["n_classes"]
    progress = Progress(len(variants) * steps, logger=logger)  # over every variant
    for variant in variants:
        hist = train_variant(
            init,
            VARIANTS[variant],
            data,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            eval_every=eval_every,
            seed=seed,
            device=device,
            progress=progress,
        )
        tag = {**base, "variant": variant}
        curves += [{**tag, **h} for h in hist]
        rows += variant_metrics(hist, tag, target_accuracy, steps, chance, logger)
    return pd.DataFrame(curves), pd.DataFrame(rows)


def run_mean_cosine(hist: list[dict]) -> float:
    """The pair-gradient cosine averaged over every step of the run: each evaluation
    interval's mean weighted by its number of steps (the last one may be shorter)."""
    steps = np.array([h["step"] for h in hist], dtype=float)
    cos = np.array([h["cosine"] for h in hist[1:]], dtype=float)
    return float(np.average(cos, weights=np.diff(steps)))


def curve_rows(curves: pd.DataFrame) -> list[dict]:
    """The run's curves as a curve table (repgeom.curves): validation accuracy (held-out
    images) and, per evaluation interval, the mean task loss and pair-gradient cosine."""
    metrics = {
        "val_accuracy": ("accuracy", "heldout"),
        "train_loss": ("task_loss", "train"),
        "cosine": ("gradient_cosine", "train"),
    }
    records = curves.to_dict("records")
    keys = ("stage", "method", "seed", "variant")
    return [
        row
        for r in records
        for row in history_rows([r], {k: r[k] for k in keys}, metrics, unit="step", x="step")
        if not (isinstance(row["value"], float) and math.isnan(row["value"]))
    ]


def initial_state(n_classes: int, seed: int, device: torch.device) -> dict:
    """The initial weights every variant starts from: a SmallCNN drawn after seeding
    torch's global generator with the run seed."""
    torch.manual_seed(seed)
    return {k: v.clone() for k, v in SmallCNN(n_classes).to(device).state_dict().items()}


def variant_metrics(
    hist: list[dict],
    tag: dict,
    target_accuracy: float,
    steps: int,
    chance: float,
    logger: logging.Logger,
) -> list[dict]:
    """Tidy metric rows of one variant's history (``tag``: its identifying columns):
    final accuracy, whether and when it reached ``target_accuracy``, chance accuracy and
    the task loss over the first and last tenth of the evaluation intervals."""
    acc = [h["val_accuracy"] for h in hist]
    reach = steps_to_accuracy([h["step"] for h in hist], acc, target_accuracy)
    cosine = run_mean_cosine(hist)
    logger.info(
        "%s: final val acc %.3f, steps to %.2f: %s", tag["variant"], acc[-1], target_accuracy, reach
    )
    return [
        {**tag, "metric": "final_val_accuracy", "value": acc[-1]},
        {**tag, "metric": "reached_target", "value": float(reach == reach)},
        # Censored at the last step when never reached (flagged by reached_target).
        {**tag, "metric": "steps_to_target", "value": reach if reach == reach else float(steps)},
        {**tag, "metric": "chance_accuracy", "value": chance},
        # What the term did to same-class gradient similarity (S4's mechanism).
        {**tag, "metric": "mean_gradient_cosine", "value": cosine},
        # The task loss per evaluation interval: first vs last tenth of the steps.
        *loss_rows([h["train_loss"] for h in hist[1:]], tag),
    ]
