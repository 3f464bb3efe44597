"""Errors against the true displacement: RMSE and accuracy curves (fraction of samples
whose 2-D error norm is within tau px) of predictions and of the noisy labels, the
denoising ratio rmse_pred / rmse_label, the validity gates of the claims that rest on
registration models (``training``: each model's loss fell; ``registration_floor``: the
sigma = 0 model's held-out error), and claim R1 from those tables."""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch

from repgeom.claims import Gate, evaluate_claim
from repgeom.gate_inputs import training_gate_of

STAGE = "registration"
R1_STATEMENT = (
    "a network trained on noisy displacement labels predicts the true displacement far "
    "better than its labels: rmse(prediction vs truth on held-out scenes) / rmse(training "
    "labels vs truth) is below the threshold"
)
MODEL_KEYS = ["noise", "sigma", "seed"]  # one registration model


def error_norms(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Euclidean norm of the displacement error per sample, [n] (px)."""
    if pred.shape != true.shape or pred.shape[-1] != 2:
        raise ValueError(
            f"pred and true must both be [n, 2], got {tuple(pred.shape)}, {tuple(true.shape)}"
        )
    return (pred.float().cpu() - true.float().cpu()).norm(dim=1)


def rmse(pred: torch.Tensor, true: torch.Tensor) -> float:
    """sqrt(mean ||pred - true||^2): the 2-D displacement RMSE (px)."""
    return float(error_norms(pred, true).pow(2).mean().sqrt())


def accuracy_curve(pred: torch.Tensor, true: torch.Tensor, taus: Sequence[float]) -> list[float]:
    """Fraction of samples with ||pred - true|| <= tau, for each tau."""
    err = error_norms(pred, true)
    return [float((err <= float(t)).float().mean()) for t in taus]


def model_rows(
    *,
    pred: dict[str, torch.Tensor],
    true: dict[str, torch.Tensor],
    labels: torch.Tensor,
    taus: Sequence[float],
    base: dict,
) -> list[dict]:
    """Tidy rows of one trained model. ``pred`` and ``true`` map split ("train", "test")
    to [n, 2]; ``labels`` are the noisy training labels. ``base`` holds stage, method,
    seed, noise, sigma. The ratio (only when the labels are noisy) divides each split's
    prediction RMSE by the training labels' RMSE."""
    rows = []

    def add(metric, value, split, tau=math.nan):
        rows.append({**base, "metric": metric, "value": float(value), "split": split, "tau": tau})

    label_rmse = rmse(labels, true["train"])
    add("rmse_label", label_rmse, "train")
    for tau, acc in zip(taus, accuracy_curve(labels, true["train"], taus), strict=True):
        add("acc_label", acc, "train", float(tau))
    for split in ("train", "test"):
        pred_rmse = rmse(pred[split], true[split])
        add("rmse_pred", pred_rmse, split)
        if label_rmse > 0:
            add("ratio", pred_rmse / label_rmse, split)
        for tau, acc in zip(taus, accuracy_curve(pred[split], true[split], taus), strict=True):
            add("acc_pred", acc, split, float(tau))
    return rows


def registration_gates(
    metrics: pd.DataFrame, noise: str, sigma: float, *, min_loss_drop: float, max_floor_px: float
) -> list[Gate]:
    """The gates of a claim on the registration models of (noise, sigma): ``training`` of
    those models and of the sigma = 0 models of the same noise mode (its floor), and
    ``registration_floor``: the held-out RMSE of those sigma = 0 models, worst seed (NaN,
    hence failing, when none was trained)."""
    mode = metrics[metrics.noise == noise]
    used = mode[(mode.sigma == sigma) | (mode.sigma == 0)]
    sigmas = " and ".join(f"{v:g}" for v in sorted(set(used.sigma), reverse=True))
    clean = mode[(mode.sigma == 0) & (mode.metric == "rmse_pred") & (mode.split == "test")]
    floor_what = (
        f"held-out rmse_pred of the sigma = 0 model, worst of {len(clean)} seeds, px"
        if len(clean)
        else "held-out rmse_pred of the sigma = 0 model: none in this run (registration.sigmas)"
    )
    return [
        training_gate_of(used, MODEL_KEYS, min_loss_drop, f"{noise}, sigma {sigmas}"),
        Gate.worst("registration_floor", clean["value"], max_floor_px, "<=", floor_what),
    ]


def r1_claims(metrics: pd.DataFrame, *, max_ratio: float, gates: dict, scale: dict) -> list[dict]:
    """Claim R1 per noise mode and sigma > 0: held-out ratio per seed below ``max_ratio``.
    sigma = 0 has no label noise, hence no ratio and no claim row; its models give the
    floor gate. ``gates``: the config's gates section (min_loss_drop,
    registration_max_floor_px)."""
    df = metrics[(metrics.metric == "ratio") & (metrics.split == "test") & (metrics.sigma > 0)]
    if df.empty:
        raise ValueError("no held-out ratio rows (sigma > 0) in the registration metrics")
    claims = []
    for (noise, sigma), group in df.groupby(["noise", "sigma"], sort=True):
        row = evaluate_claim(
            claim_id="R1",
            statement=R1_STATEMENT,
            metric="ratio: rmse_pred(test) / rmse_label(train)",
            values=group.sort_values("seed")["value"].to_numpy(),
            threshold=max_ratio,
            direction="<",
            scale=scale,
            gates=registration_gates(
                metrics,
                noise,
                float(sigma),
                min_loss_drop=gates["min_loss_drop"],
                max_floor_px=gates["registration_max_floor_px"],
            ),
        )
        claims.append({**row, "noise": noise, "sigma": float(sigma)})
    return claims
