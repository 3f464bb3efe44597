"""The paper's toy: inputs on the unit circle x = (cos 2 pi a, sin 2 pi a), targets
y = sin(2 pi f a), an MLP regressor (authors: 2 -> 64, 5 x (64 -> 64), -> 1, ReLU, L1 loss,
Adam). The higher the frequency f, the less the network can treat neighbouring inputs
alike, so the density N_S of similar samples should fall as f rises."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import torch
from torch import nn

from repgeom.curves import history_rows
from repgeom.gate_inputs import loss_rows
from repgeom.similarity.kernel import (
    density_from_features,
    normalize_features,
    per_sample_grads,
    relative_error,
    row_statistics,
)
from repgeom.training import Progress, TrainSettings, steps_per_epoch, train_model


def make_toy(n: int, frequency: float, generator: torch.Generator, distribution="uniform"):
    """alpha (sorted) in [0, 1), x = (cos 2 pi alpha, sin 2 pi alpha), y = sin(2 pi f alpha).
    ``triangular`` draws alpha with density 2 alpha (the authors' other setting)."""
    if n < 2:
        raise ValueError(f"toy n must be >= 2, got {n}")
    if frequency <= 0:
        raise ValueError(f"toy frequency must be > 0, got {frequency}")
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    if distribution == "uniform":
        alpha = u
    elif distribution == "triangular":
        alpha = u.sqrt()
    else:
        raise ValueError(f"toy distribution must be uniform or triangular, got {distribution!r}")
    alpha = alpha.sort().values
    x = torch.stack([torch.cos(2 * math.pi * alpha), torch.sin(2 * math.pi * alpha)], dim=1)
    y = torch.sin(2 * math.pi * frequency * alpha)
    return alpha.float(), x.float(), y.float()


def build_toy_mlp(hidden: int = 64, depth: int = 5) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(2, hidden), nn.ReLU()]
    for _ in range(depth):
        layers += [nn.Linear(hidden, hidden), nn.ReLU()]
    layers.append(nn.Linear(hidden, 1))
    return nn.Sequential(*layers)


def train_toy(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    settings: TrainSettings,
    *,
    generator: torch.Generator,
    logger: logging.Logger | None = None,
    progress: Progress | None = None,
) -> tuple[float, list[float]]:
    """The L1 loss (the authors', with Adam in ``settings``); returns the final training
    L1 error and the per-epoch mean training loss. ``progress``: one shared over several
    models, else one for this model."""

    def loss_fn(m, xb, yb):
        return (m(xb).squeeze(1) - yb).abs().mean()

    history = train_model(
        model, loss_fn, (x, y), settings, generator=generator, logger=logger, progress=progress
    )
    model.eval()
    with torch.no_grad():
        l1 = float((model(x).squeeze(1) - y).abs().mean())
    return l1, [h["loss"] for h in history]


def toy_density(
    model: nn.Module, x: torch.Tensor, thresholds, chunk_size: int = 256
) -> dict[str, torch.Tensor | float]:
    """Soft density N_S (O(n p)), hard counts per threshold, and the largest relative gap
    between the O(n p) density and the brute-force n x n row sums."""
    feats = normalize_features(per_sample_grads(model, x, chunk_size=chunk_size))
    fast = density_from_features(feats)
    brute, hard = row_statistics(feats, thresholds)
    gap = relative_error(fast, brute)
    return {"density": fast, "hard": hard, "max_rel_gap": gap}


def toy_metric_rows(
    res: dict, *, l1: float, losses: list[float], frequency: float, seed: int
) -> list[dict]:
    """Tidy rows of one frequency's model: fit error, mean density (and / n), the
    O(n p) vs brute-force gap, the loss tenths, and per threshold the hard-count fraction
    (``res`` from :func:`toy_density`)."""
    dens = res["density"].cpu().numpy()
    n = dens.size
    base = {"stage": "similarity", "method": "toy_mlp", "seed": seed, "frequency": float(frequency)}
    rows = [
        {**base, "metric": "train_l1", "value": l1},
        {**base, "metric": "density_mean", "value": float(dens.mean())},
        {**base, "metric": "density_fraction", "value": float(dens.mean() / n)},
        {**base, "metric": "density_max_rel_gap", "value": res["max_rel_gap"]},
        *loss_rows(losses, base),
    ]
    for t, counts in res["hard"].items():
        frac = float(counts.float().mean().cpu()) / n
        rows.append({**base, "threshold": t, "metric": "hard_fraction", "value": frac})
    return rows


def run_toy(
    *,
    frequencies,
    n: int,
    hidden: int,
    depth: int,
    epochs: int,
    batch_size: int,
    lr: float,
    thresholds,
    distribution: str,
    seed: int,
    device: torch.device,
    logger: logging.Logger | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[dict]]:
    """Train one MLP per frequency from ``seed``; returns (tidy metrics, per-sample table
    seed, frequency, alpha, density, curve rows: the L1 training loss per epoch). Metrics:
    mean density (and / n), hard-count fractions, fit error, the O(n p) vs brute-force
    gap, and the mean training loss over the first and last tenth of the epochs (the
    ``training`` gate)."""
    logger = logger or logging.getLogger("repgeom.similarity")
    rows, samples, curves = [], [], []
    per_model = epochs * steps_per_epoch(n, batch_size)
    progress = Progress(len(frequencies) * per_model, logger=logger)  # over every model
    settings = TrainSettings(
        epochs, batch_size, lr, setting="similarity.toy.lr", log_every_epoch=False
    )
    for f in frequencies:
        # The same alphas and minibatch order for every frequency: a paired comparison.
        gen = torch.Generator().manual_seed(seed)
        alpha, x, y = make_toy(n, f, gen, distribution)
        torch.manual_seed(seed)  # same initial weights for every frequency
        model = build_toy_mlp(hidden, depth).to(device)
        x, y = x.to(device), y.to(device)
        l1, losses = train_toy(
            model, x, y, settings, generator=gen, logger=logger, progress=progress
        )
        res = toy_density(model, x, thresholds)
        dens = res["density"].cpu().numpy()
        logger.info(
            "f=%g: L1 %.4f, mean N_S %.1f (gap %.2e)", f, l1, dens.mean(), res["max_rel_gap"]
        )
        rows += toy_metric_rows(res, l1=l1, losses=losses, frequency=f, seed=seed)
        curves += history_rows(
            [{"epoch": e, "loss": v} for e, v in enumerate(losses, start=1)],
            {"stage": "similarity", "method": "toy_mlp", "seed": seed, "frequency": float(f)},
            {"loss": ("l1_loss", "train")},
        )
        samples.append(
            pd.DataFrame(
                {"seed": seed, "frequency": float(f), "alpha": alpha.numpy(), "density": dens}
            )
        )
    return pd.DataFrame(rows), pd.concat(samples, ignore_index=True), curves


def log_frequency_slope(freqs, values) -> float:
    """Slope of log(mean density) against log2(f): negative when density falls with f."""
    f, v = np.asarray(freqs, dtype=float), np.asarray(values, dtype=float)
    if f.size < 2 or (v <= 0).any():
        return float("nan")
    return float(np.polyfit(np.log2(f), np.log(v), 1)[0])
