"""Robustness curves: clean-normalised robust accuracy (robust / clean accuracy on the
same points) against eps, one line per beta, one panel per attack, 95% Student-t bands
over seeds, each beta's mean eps50 (the claims' statistic: where the curve crosses 50 %)
marked on the 50 % line; drawn only from the tidy metrics table."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from repgeom.adversarial.summary import LEVEL, normalised_accuracy, per_seed_eps50
from repgeom.figures import save_figure
from repgeom.metrics import summarize

TITLES = {
    "fgsm": "FGSM (cross-entropy)",
    "pgd": "PGD (cross-entropy)",
    "autoattack": "AutoAttack, L-inf",
    "square": "Square (black-box)",
    "fgsm_isometry": "FGSM, CE + beta*isometry\n(authors' variant)",
    "pgd_isometry": "PGD, CE + beta*isometry\n(authors' variant)",
}
SUBSET = {"autoattack": "aa", "square": "aa"}


def attack_panel(ax, sel: pd.DataFrame, method: str, palette: dict, legend: bool) -> None:
    """One attack's panel: mean clean-normalised robust accuracy against eps per beta over
    the attack's rows ``sel``, its 95% CI band (where there is more than one seed) and
    each beta's mean eps50 on the 50 % line."""
    stats = summarize(sel, ["beta", "eps"])
    stats["beta_label"] = stats["beta"].map(lambda b: f"{b:g}")
    sns.lineplot(
        data=stats,
        x="eps",
        y="mean",
        hue="beta",
        palette=palette,
        marker="o",
        ax=ax,
        legend=legend,
    )
    for beta, g in stats.groupby("beta"):
        if g["ci_low"].notna().any():
            ax.fill_between(
                g["eps"],
                g["ci_low"].clip(0, 1),
                g["ci_high"].clip(0, 1),
                color=palette[beta],
                alpha=0.2,
                linewidth=0,
            )
    ax.axhline(LEVEL, color="0.5", linewidth=0.8, linestyle="--")
    e50 = per_seed_eps50(sel, method, sorted(sel["eps"].unique()))
    for beta, values in e50.groupby(level=0):
        if values.notna().any():
            ax.plot(values.mean(), LEVEL, marker="v", markersize=9, color=palette[beta], zorder=5)
    n = int(sel["n_points"].max())
    detail = sel["attack_detail"].dropna().iloc[0] if "attack_detail" in sel else ""
    ax.set(
        xscale="log",
        ylim=(-0.02, 1.02),
        xlabel="eps (L-inf)",
        ylabel="robust / clean accuracy",
        title=f"{TITLES[method]} [{n} pts]\n{detail}",
    )


def robustness_curves(metrics: pd.DataFrame, dataset: str, path: str | os.PathLike) -> None:
    acc = metrics[(metrics["metric"] == "accuracy") & (metrics["dataset"] == dataset)]
    acc = normalised_accuracy(acc) if len(acc) else acc
    methods = [m for m in TITLES if m in set(acc["method"])]
    if not methods:
        raise ValueError(f"no attack results for {dataset}")
    betas = sorted(acc["beta"].unique())
    palette = dict(zip(betas, sns.color_palette("viridis", len(betas)), strict=True))
    ncols = min(3, len(methods))
    nrows = int(np.ceil(len(methods) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False, sharey=True
    )
    for ax, method in zip(axes.flat, methods, strict=False):
        sel = acc[(acc["method"] == method) & (acc["subset"] == SUBSET.get(method, "main"))]
        attack_panel(ax, sel, method, palette, legend=ax is axes.flat[0])
    for ax in list(axes.flat)[len(methods) :]:
        ax.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if axes.flat[0].get_legend() is not None:
        axes.flat[0].get_legend().remove()
    fig.legend(
        handles,
        [f"beta={float(v):g}" for v in labels],
        loc="lower center",
        ncol=len(betas),
        frameon=False,
    )
    n_seeds = acc["seed"].nunique()
    fig.suptitle(
        f"{dataset}: robust / clean accuracy vs eps (mean, 95% CI over {n_seeds} seed(s)); "
        "triangles: mean eps50"
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    save_figure(fig, path, tight=False)  # tight_layout above keeps the legend row
