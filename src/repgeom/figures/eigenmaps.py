"""Figures of the eigenmaps pretraining (drawn from results/eigenmaps/ssl/metrics.csv):

- retrieval mAP@N against the code prefix length (from the number of classes), one line
  per method, with NeuralEF's random-subset line, 95% CI bands over seeds;
- linear probe and kNN accuracy per method, beside the probe floors (untrained backbone,
  raw pixels);
- the eigenvalue estimate of every output of each pretrained model (NeuralEF's ordered)."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from repgeom.figures import save_figure
from repgeom.metrics import summarize
from repgeom.registry import load_registry

LABELS = {
    "neuralef": "NeuralEF",
    "barlow": "Barlow Twins",
    "simclr": "SimCLR",
    "spectral": "spectral contrastive",
    "random_init": "untrained\n(floor)",  # the probe gate's random-init backbone
    "raw_pixels": "raw pixels\n(floor)",
}
FLOOR_METHODS = ("random_init", "raw_pixels")


def _methods(df: pd.DataFrame) -> list[str]:
    found = list(dict.fromkeys(df["method"]))
    # NeuralEF first, the floors last, the baselines between.
    return sorted(found, key=lambda m: (m != "neuralef", m in FLOOR_METHODS, m))


def _palette(methods: list[str]) -> dict:
    return dict(zip(methods, sns.color_palette("tab10", len(methods)), strict=True))


def _band(ax, x, s: pd.DataFrame, color, label, ls="-") -> None:
    ax.plot(x, s["mean"], marker="o", ms=3, color=color, ls=ls, label=label)
    if s["ci_low"].notna().any():
        ax.fill_between(x, s["ci_low"], s["ci_high"], color=color, alpha=0.18, lw=0)


def _retention(df: pd.DataFrame) -> pd.DataFrame:
    """Per method, seed, k and variant: mAP divided by the same seed's full-length mAP."""
    prefix = df[df.variant == "prefix"]
    full = prefix.groupby(["method", "seed"])["k"].transform("max")
    whole = prefix[prefix.k == full][["method", "seed", "value"]].rename(columns={"value": "w"})
    out = df.merge(whole, on=["method", "seed"], how="left", validate="many_to_one")
    return out.assign(value=out["value"] / out["w"]).drop(columns="w")


def plot_retrieval(metrics: pd.DataFrame, path: str | os.PathLike):
    df = metrics[metrics.metric == "map"]
    methods = _methods(df)
    colors = _palette(methods)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ks = sorted(df["k"].dropna().unique())
    panels = ((df, "mAP@100 (same class relevant)"), (_retention(df), "mAP / full-length mAP"))
    for ax, (table, ylabel) in zip(axes, panels, strict=True):
        for method in methods:
            sel = (table.method == method) & (table.variant == "prefix")
            summ = summarize(table[sel], ["k"]).sort_values("k")
            _band(ax, summ["k"], summ, colors[method], f"{LABELS.get(method, method)}: first k")
        sel = (table.method == "neuralef") & (table.variant == "random")
        rand = summarize(table[sel], ["k"]).sort_values("k")
        _band(ax, rand["k"], rand, colors["neuralef"], "NeuralEF: random k outputs", ls="--")
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [str(int(k)) for k in ks])
        ax.minorticks_off()
        ax.set(xlabel="code length k", ylabel=ylabel)
    axes[1].legend(fontsize=7)
    fig.suptitle("Retrieval with code prefixes (mean, 95% CI over seeds)")
    fig.tight_layout()
    save_figure(fig, path)


def plot_probe(metrics: pd.DataFrame, path: str | os.PathLike) -> None:
    df = metrics[metrics.metric.isin(["probe_accuracy", "knn_accuracy"])]
    methods = _methods(df)
    summ = summarize(df, ["metric", "method"])
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    titles = {"probe_accuracy": "linear probe", "knn_accuracy": "kNN (k = 20 by default)"}
    colors = _palette(methods)
    for ax, metric in zip(axes, titles, strict=True):
        s = summ[summ.metric == metric].set_index("method").reindex(methods)
        err = np.vstack(
            [np.nan_to_num(s["mean"] - s["ci_low"]), np.nan_to_num(s["ci_high"] - s["mean"])]
        )
        ax.bar(
            [LABELS.get(m, m) for m in methods],
            s["mean"],
            yerr=err,
            capsize=3,
            color=[colors[m] for m in methods],
        )
        seeds = df[df.metric == metric]
        for i, m in enumerate(methods):
            vals = seeds[seeds.method == m]["value"]
            ax.scatter(np.full(len(vals), i), vals, color="k", s=8, zorder=3)
        low = float(np.nanmin(seeds["value"])) if len(seeds) else 0.0
        ax.set(title=titles[metric], ylabel="test accuracy (%)", ylim=(max(0.0, low - 5), 100))
        ax.tick_params(axis="x", labelsize=8)
    fig.suptitle("Frozen backbone features (bars: mean, 95% CI; dots: seeds)")
    # The paper's numbers are ImageNet / ResNet-50: the ordering compares, not the level.
    note = load_registry().claim("E2").paper_note()
    fig.text(0.5, -0.02, f"{note} (not comparable in level)", ha="center", fontsize=7, wrap=True)
    fig.tight_layout()
    save_figure(fig, path)


def plot_spectrum(metrics: pd.DataFrame, path: str | os.PathLike) -> None:
    df = metrics[metrics.metric == "eigenvalue"]
    methods = _methods(df)
    colors = _palette(methods)
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in methods:
        summ = summarize(df[df.method == method], ["dim"]).sort_values("dim")
        _band(ax, summ["dim"], summ, colors[method], LABELS.get(method, method))
    ax.set(
        xlabel="output j",
        ylabel="eigenvalue estimate (Rayleigh quotient)",
        title="Estimated spectrum of the augmentation kernel per output",
    )
    ax.legend(fontsize=8)
    save_figure(fig, path)


def draw_all(metrics_csv, outputs: dict) -> None:
    """Every figure; ``outputs`` maps retrieval/probe/pretrain_spectrum to paths."""
    metrics = pd.read_csv(metrics_csv)
    plot_retrieval(metrics, outputs["retrieval"])
    plot_probe(metrics, outputs["probe"])
    plot_spectrum(metrics, outputs["pretrain_spectrum"])
