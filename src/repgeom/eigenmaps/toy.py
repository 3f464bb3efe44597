"""Circle toy with exact eigenfunctions (claim E1).

Data: angles theta ~ Uniform[0, 2pi) drawn afresh every step, seen by the network as the
point (cos theta, sin theta). Augmentation: angular jitter, each of the two views is
theta + eps with eps ~ N(0, s^2) independently. The views' joint density is
p(a, b) = (1/2pi) * g(a - b) with g the wrapped normal of variance 2 s^2 (the difference of
two independent jitters), the marginal is uniform, so the augmentation kernel
K(a, b) = p(a, b) / (p(a) p(b)) = 2pi g(a - b) is a convolution on the circle. Its
eigenfunctions under the uniform measure are the Fourier modes 1, cos(m theta),
sin(m theta) with eigenvalues E[cos(m Delta)], Delta ~ N(0, 2 s^2), i.e.

    lambda_m = exp(-m^2 s^2)          (two views, each jittered with std s)

(with one jittered view against the clean point it would be exp(-m^2 s^2 / 2)). Modes
m >= 1 are degenerate pairs, so outputs are compared group by group: output 1 against the
constant, outputs 2m and 2m+1 against span{cos m theta, sin m theta}.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from repgeom.claims import evaluate_claim
from repgeom.curves import history_rows
from repgeom.eigenmaps.gates import models_training_gate, step_loss_rows
from repgeom.eigenmaps.loss import neuralef_loss
from repgeom.training import DivergenceGuard, Progress

LOG = logging.getLogger("repgeom.eigenmaps.toy")


def exact_eigenvalues(n_outputs: int, jitter: float) -> np.ndarray:
    """lambda of each output slot in order: slot 0 -> m=0, slots 2m-1, 2m -> m."""
    return np.exp(-(mode_of_output(n_outputs) ** 2) * jitter**2)


def mode_of_output(n_outputs: int) -> np.ndarray:
    """Fourier frequency m that output slot j (0-based) should converge to."""
    return (np.arange(n_outputs) + 1) // 2


def fourier_basis(theta: np.ndarray, m: int) -> np.ndarray:
    """[n, 1] constant for m = 0, [n, 2] (cos, sin) for m >= 1."""
    if m == 0:
        return np.ones((theta.size, 1))
    return np.stack([np.cos(m * theta), np.sin(m * theta)], axis=1)


def projector(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """The authors' projector: Linear without bias, BatchNorm, ReLU, Linear (with bias)."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(),
        nn.Linear(hidden, out_dim),
    )


def circle_net(hidden: int, n_outputs: int) -> nn.Sequential:
    """Backbone (2 -> hidden -> hidden ReLU MLP) followed by the projector."""
    backbone = nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
    return nn.Sequential(backbone, projector(hidden, hidden, n_outputs))


def embed_angles(theta: torch.Tensor) -> torch.Tensor:
    return torch.stack([torch.cos(theta), torch.sin(theta)], dim=1)


def sample_views(
    batch_size: int, jitter: float, generator: torch.Generator, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two jittered views of batch_size fresh uniform angles (drawn on the CPU generator,
    so every device sees the same numbers)."""
    theta = torch.rand(batch_size, generator=generator, dtype=torch.float64) * (2 * math.pi)
    eps = torch.randn(2, batch_size, generator=generator, dtype=torch.float64) * jitter
    views = [embed_angles(theta + e).float().to(device) for e in eps]
    return views[0], views[1]


def train_views(
    model: nn.Module,
    sample,
    *,
    steps: int,
    lr: float,
    alpha: float,
    t: float,
    stop_grad: bool,
    weight_decay: float = 0.0,
    logger: logging.Logger | None = None,
    setting: str = "eigenmaps.toy.lr",
    progress: Progress | None = None,
    on_bucket: Callable[[int], None] | None = None,
) -> list[float]:
    """Adam on the NeuralEF loss for ``steps`` steps; ``sample(step)`` returns the two
    views' inputs. Returns every step's loss (the training gate compares its tenths).
    The DivergenceGuard's error names ``setting``; progress is logged every 10 % of the
    steps (on ``progress`` when the caller shares one over several runs).
    ``on_bucket(step)`` is called at the end of each of the CURVE_BUCKETS step buckets
    (the curve's held-out measure; training resumes in train mode after it)."""
    logger = logger or LOG
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    guard = DivergenceGuard(model.parameters(), setting=setting, lr=lr)
    progress = progress or Progress(steps, logger=logger)
    losses = []
    ends = set(bucket_ends(steps))
    model.train()
    for step in range(1, steps + 1):
        x1, x2 = sample(step)
        z = model(torch.cat([x1, x2]))  # one pass: BatchNorm sees both views together
        z1, z2 = z.chunk(2)
        loss, info = neuralef_loss(z1, z2, alpha=alpha, t=t, stop_grad=stop_grad)
        value = guard.check_loss(loss, epoch=1, step=step)
        losses.append(value)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress.advance(detail=f"loss {value:.4g}"):
            guard.check_parameters(epoch=1, step=step)
        if step % max(1, steps // 5) == 0 or step == steps:
            eig = [round(float(v), 3) for v in info["eigenvalues"].cpu()]
            logger.info("step %d/%d loss %.4f eigenvalues %s", step, steps, value, eig)
        if on_bucket is not None and step in ends:
            on_bucket(step)
            model.train()
    guard.finish(epoch=1, step=steps, logger=logger)
    return losses


CURVE_BUCKETS = 20  # points of the circle's and graphs' training curves


def bucket_ends(steps: int, buckets: int = CURVE_BUCKETS) -> list[int]:
    """The last step of each of ``buckets`` (at most ``steps``) equal step buckets."""
    n = min(buckets, steps)
    return sorted({round(steps * (i + 1) / n) for i in range(n)})


def step_curve_rows(
    losses: list[float], heldout: dict[int, float], base: dict, heldout_metric: str
) -> list[dict]:
    """Curve rows (repgeom.curves, unit step) of a step-wise training: the mean loss of
    each step bucket (``neuralef_loss``, train) at its last step, and ``heldout`` (step ->
    value) as ``heldout_metric`` (heldout split)."""
    history, start = [], 0
    for end in bucket_ends(len(losses)):
        history.append({"step": end, "loss": float(np.mean(losses[start:end]))})
        history[-1]["heldout"] = heldout.get(end)
        start = end
    metrics = {"loss": ("neuralef_loss", "train"), "heldout": (heldout_metric, "heldout")}
    return history_rows(history, base, metrics, unit="step", x="step")


@torch.no_grad()
def circle_alignment(model: nn.Module, grid: int, device: torch.device) -> float:
    """Span alignment of the outputs on ``grid`` angles with the exact top-k Fourier
    span (eval mode): the circle curve's held-out measure."""
    model.eval()
    theta = np.arange(grid) * (2 * math.pi / grid)
    out = model(embed_angles(torch.as_tensor(theta)).float().to(device)).double().cpu().numpy()
    k = out.shape[1]
    modes = mode_of_output(k)
    exact = np.concatenate([fourier_basis(theta, int(m)) for m in np.unique(modes)], axis=1)
    return span_alignment(out, exact[:, :k])


def orthonormal(columns: np.ndarray) -> np.ndarray:
    """Orthonormal basis (uniform measure on the grid) of the span of the columns."""
    q, _ = np.linalg.qr(columns / math.sqrt(columns.shape[0]))
    return q


def span_alignment(learned: np.ndarray, exact: np.ndarray) -> float:
    """Mean squared cosine of the principal angles between span(learned) and span(exact),
    both [n, d]: 1 when the spans coincide, ~d/n-ish for unrelated ones."""
    a, b = orthonormal(learned), orthonormal(exact)
    s = np.linalg.svd(a.T @ b, compute_uv=False)
    return float(np.mean(np.clip(s, 0, 1) ** 2))


def group_alignment(outputs: np.ndarray, theta: np.ndarray) -> list[dict]:
    """For each mode group (m=0: output 0; m>=1: outputs 2m-1, 2m, as many as exist),
    the alignment of the learned outputs' span with the exact Fourier span. A truncated
    last group (one output of a pair) is scored by the fraction of that output's variance
    inside the pair's span."""
    modes = mode_of_output(outputs.shape[1])
    rows = []
    for m in np.unique(modes):
        cols = np.flatnonzero(modes == m)
        learned, exact = outputs[:, cols], fourier_basis(theta, int(m))
        a, b = orthonormal(learned), orthonormal(exact)
        # fraction of the learned span's (unit) directions captured by the exact span
        score = float(np.sum((a.T @ b) ** 2) / a.shape[1])
        rows.append({"mode": int(m), "outputs": cols.tolist(), "alignment": score})
    return rows


@torch.no_grad()
def evaluate_circle(
    model: nn.Module,
    *,
    jitter: float,
    grid: int,
    n_pairs: int,
    generator: torch.Generator,
    device: torch.device,
) -> dict:
    """Learned outputs on a uniform grid of angles (eval mode), their group alignment with
    the Fourier modes, the whole-span alignment with the top-k exact span, and each
    output's Rayleigh-quotient eigenvalue estimate on n_pairs fresh view pairs."""
    model.eval()
    theta = np.arange(grid) * (2 * math.pi / grid)
    out = model(embed_angles(torch.as_tensor(theta)).float().to(device)).double().cpu().numpy()
    k = out.shape[1]
    modes = mode_of_output(k)
    exact_all = np.concatenate([fourier_basis(theta, int(m)) for m in np.unique(modes)], axis=1)
    x1, x2 = sample_views(n_pairs, jitter, generator, device)
    z1, z2 = model(x1).double(), model(x2).double()
    est = ((z1 * z2).sum(0) / ((z1.pow(2).sum(0) + z2.pow(2).sum(0)) / 2)).cpu().numpy()
    return {
        "theta": theta,
        "outputs": out,
        "groups": group_alignment(out, theta),
        "span_alignment": span_alignment(out, exact_all[:, :k]),
        "eigenvalues": est,
        "exact_eigenvalues": exact_eigenvalues(k, jitter),
    }


VARIANTS = {"neuralef": True, "neuralef_no_stop_grad": False}  # method -> stop_grad


def run_circle(
    *,
    seed: int,
    n_outputs: int,
    jitter: float,
    hidden: int,
    batch_size: int,
    grid: int,
    eval_pairs: int,
    figure_points: int,
    device: torch.device,
    logger: logging.Logger | None = None,
    **train,
) -> tuple[list[dict], list[dict]]:
    """Train the circle network with and without stop-gradient (same init and data
    stream, from ``seed``; ``train``: the settings of :func:`train_views`, steps, lr,
    alpha, t); returns tidy metric rows, tidy function rows (learned output and its
    best match in the exact span of its assigned mode, on figure_points angles) and curve
    rows (loss per step bucket, span alignment with the exact modes after each)."""
    if n_outputs < 1 or jitter <= 0:
        raise ValueError(f"need n_outputs >= 1 and jitter > 0, got {n_outputs}, {jitter}")
    logger = logger or LOG
    metrics, functions, curves = [], [], []
    progress = Progress(len(VARIANTS) * train["steps"], logger=logger)
    for method, stop_grad in VARIANTS.items():
        torch.manual_seed(seed)
        model = circle_net(hidden, n_outputs).to(device)
        gen = torch.Generator().manual_seed(seed)
        logger.info("circle %s (stop_grad=%s)", method, stop_grad)

        def sample(_step, g=gen):
            return sample_views(batch_size, jitter, g, device)

        aligned = {}

        def monitor(step, model=model, aligned=aligned):
            aligned[step] = circle_alignment(model, grid, device)

        losses = train_views(
            model,
            sample,
            stop_grad=stop_grad,
            **train,
            logger=logger,
            progress=progress,
            on_bucket=monitor,
        )
        res = evaluate_circle(
            model, jitter=jitter, grid=grid, n_pairs=eval_pairs, generator=gen, device=device
        )
        metrics += circle_metric_rows(res, method, seed, losses[-1])
        metrics += step_loss_rows(losses, stage="eigenmaps", part="toy", method=method, seed=seed)
        functions += circle_function_rows(res, method, seed, figure_points)
        base = {"stage": "eigenmaps", "part": "toy", "method": method, "seed": seed}
        curves += step_curve_rows(losses, aligned, base, "span_alignment")
    return metrics, functions, curves


def circle_metric_rows(res: dict, method: str, seed: int, final_loss: float) -> list[dict]:
    base = {"stage": "eigenmaps", "part": "toy", "method": method, "seed": seed}
    groups = res["groups"]
    err = np.abs(res["eigenvalues"] - res["exact_eigenvalues"])
    rows = [
        {**base, "metric": "ordered_alignment", "value": np.mean([g["alignment"] for g in groups])},
        {**base, "metric": "span_alignment", "value": res["span_alignment"]},
        {**base, "metric": "eigenvalue_max_error", "value": float(err.max())},
        {**base, "metric": "final_loss", "value": final_loss},
    ]
    rows += [
        {**base, "mode": g["mode"], "metric": "group_alignment", "value": g["alignment"]}
        for g in groups
    ]
    modes = mode_of_output(len(err))
    for j, (est, exact) in enumerate(
        zip(res["eigenvalues"], res["exact_eigenvalues"], strict=True)
    ):
        common = {**base, "output": j + 1, "mode": int(modes[j])}
        rows.append({**common, "metric": "eigenvalue", "value": float(est)})
        rows.append({**common, "metric": "exact_eigenvalue", "value": float(exact)})
    return rows


def circle_function_rows(res: dict, method: str, seed: int, points: int) -> list[dict]:
    """Each output (unit RMS on the grid, sign fixed to correlate positively with its
    match) beside its best match: its projection onto the exact span of its assigned
    mode, rescaled to unit RMS."""
    theta, out = res["theta"], res["outputs"]
    step = max(1, theta.size // points)
    modes = mode_of_output(out.shape[1])
    rows = []
    for j in range(out.shape[1]):
        f = out[:, j] / np.sqrt(np.mean(out[:, j] ** 2))
        basis = orthonormal(fourier_basis(theta, int(modes[j]))) * math.sqrt(theta.size)
        match = basis @ (basis.T @ f) / theta.size
        rms = np.sqrt(np.mean(match**2))
        match = match / rms if rms > 1e-8 else match
        sign = 1.0 if f @ match >= 0 else -1.0
        for i in range(0, theta.size, step):
            rows.append(
                {
                    "method": method,
                    "seed": seed,
                    "output": j + 1,
                    "mode": int(modes[j]),
                    "theta": float(theta[i]),
                    "learned": float(sign * f[i]),
                    "exact": float(match[i]),
                }
            )
    return rows


def toy_claims(
    metrics, *, min_alignment: float, max_eigenvalue_error: float, min_loss_drop: float, scale
) -> list:
    """E1 rows: ordered recovery of the Fourier modes with stop-gradient, eigenvalue
    estimates against exp(-m^2 s^2), and the ablation (order lost without stop-gradient).
    Gate ``training``: the loss of every seed's network of the row's method fell."""

    def values(method, metric):
        sel = metrics[(metrics.method == method) & (metrics.metric == metric)]
        return sel.sort_values("seed")["value"].to_numpy()

    specs = [
        (
            "ordered_modes",
            "NeuralEF outputs converge, in order, to the principal eigenfunctions of the "
            "augmentation kernel (circle: constant, then the cos/sin pairs of m = 1, 2, ...)",
            "neuralef",
            "ordered_alignment",
            ">",
            min_alignment,
        ),
        (
            "eigenvalues",
            "the outputs' agreement between views estimates the kernel's eigenvalues exp(-m^2 s^2)",
            "neuralef",
            "eigenvalue_max_error",
            "<",
            max_eigenvalue_error,
        ),
        (
            "no_stop_grad",
            "without the stop-gradient in the penalty the outputs lose their order "
            "(ordered alignment below the threshold)",
            "neuralef_no_stop_grad",
            "ordered_alignment",
            "<",
            min_alignment,
        ),
    ]
    rows = []
    for variant, statement, method, metric, direction, threshold in specs:
        row = evaluate_claim(
            claim_id="E1",
            statement=statement,
            metric=f"{metric} ({method})",
            values=values(method, metric),
            threshold=threshold,
            direction=direction,
            scale=scale,
            gates=[models_training_gate(metrics, [method], min_loss_drop)],
        )
        rows.append({**row, "dataset": "circle", "variant": variant})
    return rows
