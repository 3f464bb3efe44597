"""Errors against the true displacement: RMSE and accuracy curves (fraction of samples
whose 2-D error norm is within tau px) of predictions and of the noisy labels, the
denoising ratio rmse_pred / rmse_label, its floor and noise-induced excess over the
sigma = 0 model of the same seed (``r1_table``), the validity gates of the claims that rest on
registration models (``training``: each model's loss fell; ``registration_learned``: each
model explains most of the held-out displacement's variance; ``registration_floor``: the
sigma = 0 model's held-out error), and claim R1 from those tables."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from repgeom.claims import Gate, evaluate_claim
from repgeom.gate_inputs import per_model, training_gate_of

STAGE = "registration"
R1_STATEMENT = (
    "a network trained on noisy displacement labels predicts the true displacement far "
    "better than its labels: the error the label noise adds to the held-out predictions, "
    "sqrt(rmse_sigma^2 - rmse_0^2) over the sigma = 0 model of the same seed, divided by "
    "rmse(training labels vs truth), is below the threshold"
)
R1_METRIC = "noise-induced excess: sqrt(rmse_pred(test)^2 - rmse_0(test)^2) / rmse_label(train)"
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
    prediction RMSE by the training labels' RMSE; ``rmse_constant`` is each split's RMSE
    of the best constant prediction (the split's mean displacement), the error of a model
    that learned nothing."""
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
        add("rmse_constant", rmse(true[split].mean(0).expand_as(true[split]), true[split]), split)
        if label_rmse > 0:
            add("ratio", pred_rmse / label_rmse, split)
        for tau, acc in zip(taus, accuracy_curve(pred[split], true[split], taus), strict=True):
            add("acc_pred", acc, split, float(tau))
    return rows


def heldout_r2(metrics: pd.DataFrame) -> pd.Series:
    """Per model (MODEL_KEYS): held-out R^2 = 1 - rmse_pred^2 / rmse_constant^2, the share
    of the held-out displacement's variance the model explains (NaN when a row is missing)."""
    test = metrics[metrics.split == "test"]
    wide = per_model(test, MODEL_KEYS, ["rmse_pred", "rmse_constant"])
    return 1 - (wide["rmse_pred"] / wide["rmse_constant"]) ** 2


def registration_gates(
    metrics: pd.DataFrame,
    noise: str,
    sigma: float,
    *,
    min_loss_drop: float,
    min_r2: float,
    max_floor_px: float,
) -> list[Gate]:
    """The gates of a claim on the registration models of (noise, sigma) and the sigma = 0
    models of the same noise mode (its floor): ``training`` (each loss fell),
    ``registration_learned`` (each model's held-out R^2, :func:`heldout_r2`, worst model,
    at least ``min_r2``: a loss can fall while the network still predicts about the mean
    displacement) and ``registration_floor``: the held-out RMSE of those sigma = 0 models,
    worst seed (NaN, hence failing, when none was trained)."""
    mode = metrics[metrics.noise == noise]
    used = mode[(mode.sigma == sigma) | (mode.sigma == 0)]
    sigmas = " and ".join(f"{v:g}" for v in sorted(set(used.sigma), reverse=True))
    clean = mode[(mode.sigma == 0) & (mode.metric == "rmse_pred") & (mode.split == "test")]
    floor_what = (
        f"held-out rmse_pred of the sigma = 0 model, worst of {len(clean)} seeds, px"
        if len(clean)
        else "held-out rmse_pred of the sigma = 0 model: none in this run (registration.sigmas)"
    )
    r2 = heldout_r2(used)
    r2_what = (
        f"held-out R^2 vs the best constant, worst of {len(r2)} models: {noise}, sigma {sigmas}"
    )
    return [
        training_gate_of(used, MODEL_KEYS, min_loss_drop, f"{noise}, sigma {sigmas}"),
        Gate.worst("registration_learned", r2, min_r2, ">=", r2_what),
        Gate.worst("registration_floor", clean["value"], max_floor_px, "<=", floor_what),
    ]


def noise_excess(rmse_sigma, rmse_0, rmse_label):
    """sqrt(max(rmse_sigma^2 - rmse_0^2, 0)) / rmse_label: the part of the held-out error
    the label noise added over the floor rmse_0 (errors of independent sources add in
    squares), in units of the label noise. A noisy model that beats its floor adds none."""
    diff = np.asarray(rmse_sigma, dtype=float) ** 2 - np.asarray(rmse_0, dtype=float) ** 2
    return np.sqrt(np.clip(diff, 0.0, None)) / np.asarray(rmse_label, dtype=float)


def r1_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per model with sigma > 0: noise, sigma, seed, rmse_pred (held-out),
    rmse_label (its training labels), rmse_0 (held-out rmse of the sigma = 0 model of the
    same noise mode and seed: same initial weights and batch order; NaN when it was not
    trained), ``ratio`` = rmse_pred / rmse_label, ``floor_ratio`` = rmse_0 / rmse_label
    and ``excess_ratio`` (:func:`noise_excess`)."""

    def values(metric, split):
        sel = metrics[(metrics.metric == metric) & (metrics.split == split)]
        return sel.set_index(MODEL_KEYS)["value"]

    pred, label = values("rmse_pred", "test"), values("rmse_label", "train")
    table = pd.concat({"rmse_pred": pred, "rmse_label": label}, axis=1, join="inner")
    table = table.reset_index()
    table = table[table.sigma > 0].copy()
    floor = pred.reset_index()
    floor = floor[floor.sigma == 0].drop(columns="sigma").rename(columns={"value": "rmse_0"})
    table = table.merge(floor, on=["noise", "seed"], how="left")
    table["ratio"] = table.rmse_pred / table.rmse_label
    table["floor_ratio"] = table.rmse_0 / table.rmse_label
    table["excess_ratio"] = noise_excess(table.rmse_pred, table.rmse_0, table.rmse_label)
    return table.sort_values(MODEL_KEYS).reset_index(drop=True)


def r1_claims(metrics: pd.DataFrame, *, max_ratio: float, gates: dict, scale: dict) -> list[dict]:
    """Claim R1 per noise mode and sigma > 0: the noise-induced excess (``r1_table``) per
    seed below ``max_ratio``; the total ratio rmse_pred / rmse_label and the floor ratio
    are shown beside it (columns ``total_ratio``, ``floor_ratio``: means over seeds).
    sigma = 0 has no label noise, hence no claim row; its models give the floor and the
    floor gate. ``gates``: the config's gates section (min_loss_drop, registration_min_r2,
    registration_max_floor_px)."""
    df = r1_table(metrics)
    if df.empty:
        raise ValueError("no held-out rmse rows with sigma > 0 in the registration metrics")
    claims = []
    for (noise, sigma), group in df.groupby(["noise", "sigma"], sort=True):
        row = evaluate_claim(
            claim_id="R1",
            statement=R1_STATEMENT,
            metric=R1_METRIC,
            values=group["excess_ratio"].to_numpy(),
            threshold=max_ratio,
            direction="<",
            scale=scale,
            gates=registration_gates(
                metrics,
                noise,
                float(sigma),
                min_loss_drop=gates["min_loss_drop"],
                min_r2=gates["registration_min_r2"],
                max_floor_px=gates["registration_max_floor_px"],
            ),
        )
        beside = {"total_ratio": float(group.ratio.mean())}
        beside["floor_ratio"] = float(group.floor_ratio.mean())
        claims.append({**row, "noise": noise, "sigma": float(sigma), **beside})
    return claims
