"""How much a network trained on noisy labels averages the noise away, predicted from its
unnormalised gradient kernel (Charpiat et al. 2019, self-denoising).

Near convergence the prediction at x_i is a kernel-weighted average of the labels:
with K_ji = G(x_j)^T G(x_i) (d x d), a_j = K_ji (sum_j K_ji)^{-1} and S_i = sum_j a_j a_j^T,
label noise of covariance s^2 I gives an error of covariance s^2 S_i at x_i, so the
predicted error / noise ratio is sqrt(tr(S_i) / d) (about 1/sqrt(N) for N equally similar
neighbours). The label-free check is the neighbour consistency of the network's own
predictions: the distance between f(x_i) and the same kernel average of f(x_j).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def denoising_from_gram(
    k_rows: torch.Tensor, predictions: torch.Tensor | None = None
) -> dict[str, torch.Tensor]:
    """From unnormalised blocks K(x_i, x_j) for queries i and all training samples j
    ([q, n, d, d], see kernel.gram_rows): ``trace_s`` = tr(S_i), ``predicted_ratio`` =
    sqrt(tr(S_i) / d) and, with the network's predictions on all j ([n, d]),
    ``neighbour_average`` = sum_j a_j^T f(x_j), the kernel average of the predictions
    around x_i (its weights sum to the identity)."""
    d = k_rows.shape[-1]
    k_ji = k_rows.transpose(-1, -2)  # K(x_j, x_i) = K(x_i, x_j)^T
    m = torch.linalg.inv(k_ji.sum(dim=1))  # (sum_j K_ji)^{-1}, [q, d, d]
    a = k_ji @ m.unsqueeze(1)  # a_j, [q, n, d, d]
    trace_s = a.pow(2).sum(dim=(1, 2, 3))  # tr(sum_j a_j a_j^T) = sum_j |a_j|_F^2
    out = {"trace_s": trace_s, "predicted_ratio": (trace_s / d).clamp_min(0).sqrt()}
    if predictions is not None:
        out["neighbour_average"] = torch.einsum("qnab,na->qb", a, predictions.to(a.dtype))
    return out


def measured_ratio(
    pred: torch.Tensor, floor_pred: torch.Tensor, true: torch.Tensor, labels: torch.Tensor
) -> dict:
    """Per-sample noise-induced error |f_sigma(x) - f_0(x)| (``pred`` of the model trained
    on the noisy ``labels``, ``floor_pred`` of the sigma = 0 model of the same seed, same
    initial weights and batches) and its ratio to the RMS label noise of the set. The
    difference removes the network's own bias (its error with exact labels), which the
    kernel's denoising prediction does not describe."""
    err = (pred - floor_pred).norm(dim=1)
    noise_rms = (labels - true).norm(dim=1).pow(2).mean().sqrt()
    if not float(noise_rms) > 0:
        raise ValueError("measured_ratio: the labels carry no noise (sigma = 0), no ratio")
    return {"error": err, "noise_rms": float(noise_rms), "ratio": err / noise_rms}


def bin_by_density(samples: pd.DataFrame, n_bins: int) -> pd.DataFrame:
    """Quantile bins of the density: mean density, RMS noise-induced error and ratio, RMS
    predicted ratio, and the sigma/sqrt(N) reference (1/sqrt(mean density)) per bin."""
    if n_bins < 2:
        raise ValueError(f"n_bins must be >= 2, got {n_bins}")
    df = samples.copy()
    df["bin"] = pd.qcut(df["density"].rank(method="first"), n_bins, labels=False)

    def rms(s):
        return float(np.sqrt(np.mean(np.square(s))))

    agg = df.groupby("bin").agg(
        density=("density", "mean"),
        error_rms=("error", rms),
        measured_ratio=("measured_ratio", rms),
        predicted_ratio=("predicted_ratio", rms),
        n=("density", "size"),
    )
    agg["inv_sqrt_density"] = 1.0 / np.sqrt(agg["density"].clip(lower=1e-12))
    return agg.reset_index()


def log_slope(x, y) -> float:
    """Least-squares slope of log y against log x (sigma/sqrt(N) has slope -1/2)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = (x > 0) & (y > 0)
    if keep.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[keep]), np.log(y[keep]), 1)[0])
