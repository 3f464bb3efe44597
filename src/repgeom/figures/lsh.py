"""Figures of the lsh stage, drawn from its tidy tables (and, for the sample images, the
generated data file, never a model):

- collision probability of sign hashes against ||dgamma||, beside SimHash on gamma;
- theta-invariance ratios (within/overall embedding distance) and the collision gap
  (same manifold minus independent manifolds) per method, baselines beside trained nets;
- one-shot N-way accuracy on unseen manifolds against C, one panel per N;
- sample images of image manifolds and a 2-D projection of their embeddings;
- the classifiers' training curves (loss, training and held-out-theta accuracy)."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from repgeom.figures import save_figure
from repgeom.figures.curves import plot_curves
from repgeom.metrics import summarize

BASELINES = {"raw": ("raw input", "0.45", "-"), "untrained": ("untrained net", "0.45", ":")}


def _c_palette(cs) -> dict:
    cs = sorted(cs)
    return dict(zip(cs, sns.color_palette("viridis_r", len(cs)), strict=True))


def _generators(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["generator"]))


def _err(mean, lo, hi):
    lo, hi = np.nan_to_num(mean - lo), np.nan_to_num(hi - mean)
    return np.vstack([lo, hi])


def plot_collision(metrics: pd.DataFrame, path: str | os.PathLike) -> None:
    df = metrics[metrics.metric == "collision"].copy()
    df["C"] = df["C"].fillna(-1)
    gens = _generators(df)
    fig, axes = plt.subplots(1, len(gens), figsize=(5.2 * len(gens), 4), squeeze=False)
    palette = _c_palette(df.loc[df.method == "trained", "C"].unique())
    for ax, gen in zip(axes[0], gens, strict=True):
        sub = df[df.generator == gen]
        x = sub.groupby("rho")["delta_gamma"].mean()
        summ = summarize(sub, ["method", "C", "rho"])
        for (method, c), s in summ.groupby(["method", "C"], sort=False):
            s = s.sort_values("rho", ascending=False)
            xs = x.loc[s["rho"]].to_numpy()
            if method == "simhash_gamma":
                style = {"color": "k", "ls": "--", "label": "SimHash on γ: 1 − angle/π"}
            elif method in BASELINES:
                label, color, ls = BASELINES[method]
                style = {"color": color, "ls": ls, "label": label}
            else:
                style = {"color": palette[c], "ls": "-", "label": f"trained, C={int(c)}"}
            ax.errorbar(
                xs,
                s["mean"],
                yerr=_err(s["mean"], s["ci_low"], s["ci_high"]),
                marker="o",
                ms=3,
                capsize=2,
                **style,
            )
        ax.axhline(0.5, color="0.8", lw=0.8, zorder=0)
        ax.set(
            title=f"{gen} manifolds",
            xlabel="‖Δγ‖ between the two manifolds",
            ylabel="sign-hash collision probability",
            ylim=(0, 1.02),
        )
    axes[0, -1].legend(fontsize=7, loc="lower left")
    fig.suptitle("Collision probability of random-hyperplane hashes of embeddings (mean, 95% CI)")
    save_figure(fig, path)


def _method_label(method: str, c: float) -> str:
    if method == "trained":
        return f"trained\nC={int(c)}"
    return BASELINES[method][0].replace(" ", "\n")


def _method_bars(ax, values: pd.DataFrame, palette: dict) -> None:
    """Bars of ``values`` (method, C, value per seed): baselines first, then trained by C."""
    summ = summarize(values, ["method", "C"])
    order = {"raw": 0, "untrained": 1, "trained": 2}
    summ = summ.sort_values(
        ["method", "C"], key=lambda s: s.map(order) if s.name == "method" else s
    )
    labels = [_method_label(m, c) for m, c in zip(summ.method, summ.C, strict=True)]
    colors = [
        palette[c] if m == "trained" else "0.6" for m, c in zip(summ.method, summ.C, strict=True)
    ]
    ax.bar(
        labels,
        summ["mean"],
        color=colors,
        yerr=_err(summ["mean"], summ["ci_low"], summ["ci_high"]),
        capsize=3,
    )
    ax.tick_params(axis="x", labelsize=7)


def plot_invariance(metrics: pd.DataFrame, detail: pd.DataFrame, path: str | os.PathLike) -> None:
    """Per generator: the theta-invariance ratio (L1) and the collision gap (L2) of every
    embedding, the baselines beside the trained nets."""
    df = metrics[metrics.metric == "invariance_ratio"].copy()
    df["C"] = df["C"].fillna(-1)
    gap = detail.assign(value=detail["collision_gap"], C=detail["C"].fillna(-1))
    gens = _generators(df)
    fig, axes = plt.subplots(2, len(gens), figsize=(5.2 * len(gens), 7.2), squeeze=False)
    palette = _c_palette(df.loc[df.method == "trained", "C"].unique())
    for col, gen in enumerate(gens):
        top, bottom = axes[0, col], axes[1, col]
        _method_bars(top, df[df.generator == gen], palette)
        top.set(
            title=f"{gen} manifolds (unseen): θ-invariance (L1)",
            ylabel="within / overall mean distance",
            ylim=(0, 1.05),
        )
        _method_bars(bottom, gap[gap.generator == gen], palette)
        bottom.axhline(0, color="0.5", lw=0.8)
        bottom.set(
            title=f"{gen}: collision gap (L2)",
            ylabel="P(collide | same γ) − P(collide | independent γ)",
        )
    fig.suptitle(
        "θ-invariance (lower: more invariant) and same-manifold minus independent "
        "sign-hash collision probability (higher: better hash); mean, 95% CI over seeds"
    )
    fig.tight_layout()
    save_figure(fig, path)


def plot_oneshot(metrics: pd.DataFrame, path: str | os.PathLike) -> None:
    df = metrics[metrics.metric == "oneshot_accuracy"]
    gens, ns = _generators(df), sorted(df["n_way"].dropna().unique())
    fig, axes = plt.subplots(
        len(gens), len(ns), figsize=(3.6 * len(ns), 3.2 * len(gens)), squeeze=False
    )
    for row, gen in zip(axes, gens, strict=True):
        for ax, n in zip(row, ns, strict=True):
            sub = df[(df.generator == gen) & (df.n_way == n)]
            tr = summarize(sub[sub.method == "trained"], ["C"]).sort_values("C")
            ax.errorbar(
                tr["C"],
                tr["mean"],
                yerr=_err(tr["mean"], tr["ci_low"], tr["ci_high"]),
                marker="o",
                capsize=3,
                color=sns.color_palette()[0],
                label="trained",
            )
            for method, (label, color, ls) in BASELINES.items():
                s = summarize(sub[sub.method == method], ["method"])
                if len(s):
                    ax.axhline(s["mean"].iloc[0], color=color, ls=ls, label=label)
                    ax.axhspan(s["ci_low"].iloc[0], s["ci_high"].iloc[0], color=color, alpha=0.15)
            ax.axhline(1 / n, color="r", lw=0.8, ls="--", label="chance")
            ax.set_xscale("log")
            ax.set_xticks(tr["C"], [str(int(c)) for c in tr["C"]])
            ax.minorticks_off()
            ax.set(
                title=f"{gen}: {int(n)}-way one-shot",
                xlabel="C (seen manifolds)",
                ylabel="accuracy on unseen manifolds",
                ylim=(0, 1.02),
            )
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("One-shot learning of unseen manifolds by nearest neighbour (mean, 95% CI)")
    fig.tight_layout()
    save_figure(fig, path)


def plot_samples(
    images: np.ndarray,
    canonical: np.ndarray,
    projection: pd.DataFrame,
    path: str | os.PathLike,
    n_samples: int = 8,
) -> None:
    """images [K, m, 3, s, s] uint8 (K unseen manifolds), canonical [K, 3, s, s]; projection
    rows (method, C, manifold, pc1, pc2) for those K manifolds."""
    k = min(images.shape[0], canonical.shape[0], int(projection["manifold"].max()) + 1)
    n_samples = min(n_samples, images.shape[1])
    methods = list(dict.fromkeys(projection["method"]))
    colors = sns.color_palette("tab10", k)
    fig = plt.figure(figsize=(1.1 * (n_samples + 1 + 4 * len(methods)), 1.1 * k + 0.6))
    grid = fig.add_gridspec(k, n_samples + 1 + 4 * len(methods), wspace=0.08, hspace=0.08)
    for i in range(k):
        for j in range(n_samples + 1):
            ax = fig.add_subplot(grid[i, j])
            img = canonical[i] if j == 0 else images[i, j - 1]
            ax.imshow(np.transpose(img, (1, 2, 0)))
            ax.set_xticks([]), ax.set_yticks([])
            for side in ax.spines.values():
                side.set_color(colors[i]), side.set_linewidth(2.5)
            if i == 0:
                ax.set_title("canonical γ" if j == 0 else f"θ{j}", fontsize=8)
    for q, method in enumerate(methods):
        ax = fig.add_subplot(grid[:, n_samples + 2 + 4 * q : n_samples + 1 + 4 * (q + 1)])
        sub = projection[(projection.method == method) & (projection.manifold < k)]
        for i in range(k):
            s = sub[sub.manifold == i]
            ax.scatter(s["pc1"], s["pc2"], color=colors[i], s=18)
        c = sub["C"].iloc[0]
        title = method if method != "trained" else f"trained, C={int(c)}"
        ax.set(title=f"{title}: PCA", xticks=[], yticks=[])
    fig.suptitle(
        "Unseen image manifolds: the same object under pose, lighting and background "
        "changes (rows), and their embeddings in 2-D"
    )
    save_figure(fig, path)


def draw_all(
    metrics: pd.DataFrame,
    detail: pd.DataFrame,
    curves: pd.DataFrame,
    projection_csv,
    data_path,
    outputs: dict,
) -> None:
    """Every lsh figure; ``outputs`` maps collision/invariance/oneshot/curves/samples to
    paths (samples only when the image generator ran: the first seed's data and
    projection)."""
    plot_collision(metrics, outputs["collision"])
    plot_invariance(metrics, detail, outputs["invariance"])
    plot_oneshot(metrics, outputs["oneshot"])
    plot_curves(
        curves,
        outputs["curves"],
        title="lsh classifiers (every C trained for the same epochs)",
        hue=("generator", "C"),
    )
    if "samples" in outputs:
        import torch

        data = torch.load(data_path, map_location="cpu", weights_only=True)
        projection = pd.read_csv(projection_csv)
        projection = projection[projection.seed == int(data["seed"])]
        plot_samples(
            data["x_unseen"].numpy(),
            data["canonical_unseen"].numpy(),
            projection,
            outputs["samples"],
        )
