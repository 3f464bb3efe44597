"""Figures of the registration stage, drawn from results/registration/metrics.csv (and a
few stored test samples for the modality figure, never a model):

- accuracy against label noise: RMSE and fraction within tau px of the predictions
  (held-out and training samples) and of the noisy training labels, against sigma;
- accuracy curves: fraction within tau against tau, per sigma, predictions vs labels;
- samples: aerial image with the map's outline over it, and the true displacement;
- training curves: training loss and held-out RMSE per epoch of every model (its curve
  tables, repgeom.curves)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from repgeom.curves import read_curves
from repgeom.figures import save_figure
from repgeom.figures.curves import plot_curves
from repgeom.metrics import read_metrics, summarize

SERIES = {  # (metric prefix, split) -> label, colour, line style, marker
    ("pred", "test"): ("network, held-out scenes", "C0", "-", "o"),
    ("pred", "train"): ("network, training samples", "C2", "--", "s"),
    ("label", "train"): ("noisy training labels", "0.4", ":", "^"),
}


def _err(s: pd.DataFrame) -> np.ndarray:
    return np.vstack(
        [np.nan_to_num(s["mean"] - s["ci_low"]), np.nan_to_num(s["ci_high"] - s["mean"])]
    )


def _series(ax, summ: pd.DataFrame, x: str) -> None:
    for (kind, split), (label, colour, ls, marker) in SERIES.items():
        s = summ[(summ.kind == kind) & (summ.split == split)].sort_values(x)
        if s.empty:
            continue
        ax.errorbar(
            s[x],
            s["mean"],
            yerr=_err(s),
            color=colour,
            ls=ls,
            marker=marker,
            ms=3,
            capsize=2,
            label=label,
        )


def _with_kind(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(kind=df.metric.str.split("_").str[-1])


def plot_accuracy_vs_noise(
    metrics: pd.DataFrame, path: str | os.PathLike, taus: Sequence[float]
) -> None:
    """Rows: noise modes; columns: RMSE, then accuracy at each tau in ``taus``."""
    noises = list(dict.fromkeys(metrics["noise"]))
    fig, axes = plt.subplots(
        len(noises),
        1 + len(taus),
        figsize=(4 * (1 + len(taus)), 3.4 * len(noises)),
        layout="constrained",
        squeeze=False,
    )
    for row, noise in zip(axes, noises, strict=True):
        sub = _with_kind(metrics[metrics.noise == noise])
        rm = summarize(
            sub[sub.metric.isin(["rmse_pred", "rmse_label"])], ["kind", "split", "sigma"]
        )
        _series(row[0], rm, "sigma")
        top = float(rm["mean"].max())
        row[0].plot([0, top], [0, top], color="0.85", lw=0.8, zorder=0)
        row[0].set(
            title=f"{noise} label noise: RMSE vs truth",
            xlabel="label noise σ (px)",
            ylabel="RMSE (px)",
        )
        for ax, tau in zip(row[1:], taus, strict=True):
            acc = sub[sub.metric.isin(["acc_pred", "acc_label"]) & np.isclose(sub["tau"], tau)]
            _series(ax, summarize(acc, ["kind", "split", "sigma"]), "sigma")
            ax.set(
                title=f"{noise}: within τ = {tau:g} px",
                xlabel="label noise σ (px)",
                ylabel="fraction of samples",
                ylim=(0, 1.02),
            )
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        "Predictions vs noisy labels, against the true displacement (mean, 95% CI over seeds)"
    )
    save_figure(fig, path)


def plot_accuracy_curves(metrics: pd.DataFrame, path: str | os.PathLike) -> None:
    """One panel per noise mode: fraction within tau against tau; colour = sigma,
    solid = held-out predictions, dotted = training labels."""
    noises = list(dict.fromkeys(metrics["noise"]))
    sigmas = sorted(metrics["sigma"].unique())
    palette = dict(zip(sigmas, sns.color_palette("viridis_r", len(sigmas)), strict=True))
    fig, axes = plt.subplots(1, len(noises), figsize=(5.2 * len(noises), 4), squeeze=False)
    for ax, noise in zip(axes[0], noises, strict=True):
        sub = metrics[(metrics.noise == noise) & metrics.metric.isin(["acc_pred", "acc_label"])]
        summ = summarize(sub, ["metric", "split", "sigma", "tau"])
        for sigma in sigmas:
            pred = summ[
                (summ.metric == "acc_pred") & (summ.split == "test") & (summ.sigma == sigma)
            ]
            lab = summ[(summ.metric == "acc_label") & (summ.sigma == sigma)]
            ax.plot(
                pred["tau"],
                pred["mean"],
                color=palette[sigma],
                marker="o",
                ms=3,
                label=f"CNN, σ = {sigma:g}",
            )
            if sigma > 0:
                ax.plot(
                    lab["tau"],
                    lab["mean"],
                    color=palette[sigma],
                    ls=":",
                    label=f"labels, σ = {sigma:g}",
                )
        ax.set(
            title=f"{noise} label noise",
            xlabel="τ (px)",
            ylabel="fraction with error ≤ τ",
            ylim=(0, 1.02),
        )
    axes[0, -1].legend(fontsize=7, loc="lower right", ncol=2)
    fig.suptitle("Accuracy curves: held-out predictions (solid) and training labels (dotted)")
    save_figure(fig, path)


def plot_samples(samples: dict, path: str | os.PathLike, n: int = 6) -> None:
    """Top: the aerial image with the map's edge channel in red; bottom: the map fill.
    Titles give the true displacement (dx, dy)."""
    x, true = samples["inputs"][:n], samples["true"][:n]
    n = x.shape[0]
    fig, axes = plt.subplots(2, n, figsize=(1.9 * n, 4), squeeze=False)
    for i in range(n):
        aerial = x[i, :3].permute(1, 2, 0).numpy()
        edge = x[i, 4].numpy()
        overlay = aerial * (1 - edge[..., None]) + edge[..., None] * np.array([1.0, 0.1, 0.1])
        axes[0, i].imshow(overlay.clip(0, 1), interpolation="nearest")
        axes[0, i].set_title(f"d = ({true[i, 0]:.1f}, {true[i, 1]:.1f})", fontsize=8)
        axes[1, i].imshow(x[i, 3].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for ax in axes[:, i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("aerial + map edges")
    axes[1, 0].set_ylabel("map fill")
    fig.suptitle("Generated registration samples (held-out scenes): the map is moved by d")
    save_figure(fig, path)


def draw_all(
    metrics_path, samples_path, curve_paths, outputs: dict, *, figure_taus: Sequence[float]
) -> None:
    metrics = read_metrics(metrics_path)
    plot_accuracy_vs_noise(metrics, outputs["accuracy"], figure_taus)
    plot_accuracy_curves(metrics, outputs["tau_curves"])
    plot_samples(torch.load(samples_path, weights_only=True), outputs["samples"])
    plot_curves(
        read_curves(curve_paths),
        outputs["curves"],
        title="Registration (held-out: RMSE against the truth, px)",
        hue=("noise", "sigma"),
    )
