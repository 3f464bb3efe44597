"""The training-curves figure of a stage: one panel per (metric, split) pair present,
x = epoch (or step), one line per model group (``hue``), mean over seeds with the range
of seeds shaded. Drawn only from curve tables (repgeom.curves)."""

from __future__ import annotations

import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from repgeom.figures import save_figure


def _label(df: pd.DataFrame, hue: Sequence[str]) -> pd.Series:
    parts = [df[c].astype(str) if c == "method" else f"{c}=" + df[c].astype(str) for c in hue]
    label = parts[0]
    for p in parts[1:]:
        label = label + ", " + p
    return label


def plot_curves(
    curves: pd.DataFrame, path: str | os.PathLike, *, title: str, hue: Sequence[str] = ("method",)
) -> None:
    """Panels by (metric, split); a log y axis for a positive loss spanning > 10x."""
    hue = [c for c in hue if c in curves.columns]
    df = curves.assign(model=_label(curves, hue) if hue else "model")
    panels = list(df[["metric", "split"]].drop_duplicates().itertuples(index=False))
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.4 * nrow), squeeze=False)
    palette = dict(
        zip(
            sorted(df["model"].unique()),
            sns.color_palette("tab10", df["model"].nunique()),
            strict=True,
        )
    )
    for ax, (metric, split) in zip(axes.flat, panels, strict=False):
        sub = df[(df.metric == metric) & (df.split == split)]
        for model, s in sub.groupby("model", sort=True):
            g = s.groupby("epoch")["value"]
            mean, lo, hi = g.mean(), g.min(), g.max()
            ax.plot(
                mean.index, mean.to_numpy(), color=palette[model], label=model, lw=1.2, marker="."
            )
            ax.fill_between(
                mean.index, lo.to_numpy(), hi.to_numpy(), color=palette[model], alpha=0.15
            )
        values = sub["value"]
        if (values > 0).all() and values.max() > 10 * values.min() and "loss" in metric:
            ax.set_yscale("log")
        ax.set(title=f"{metric} ({split})", xlabel=str(sub["unit"].iloc[0]), ylabel=metric)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    for ax in list(axes.flat)[: len(panels)]:  # panels may hold different models
        ax.legend(fontsize=6, loc="best")
    fig.suptitle(f"{title}: training curves (mean over seeds, range shaded)")
    fig.tight_layout()
    save_figure(fig, path)
