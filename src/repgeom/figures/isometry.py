"""Figures of the isometry stage, drawn only from its tidy tables:

- geometry metrics against beta (one panel per metric, one line per dataset, 95% t-CI
  over seeds);
- input against representation distances within class (one panel per dataset x beta);
- the hierarchy: per-level accuracy and within-class correlation, and the torus test
  points and each level's representation (first two principal components) coloured by
  that level's classes."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from repgeom.figures import save_figure
from repgeom.figures.curves import plot_curves
from repgeom.metrics import summarize

GEOMETRY_METRICS = (
    "accuracy",
    "within_class_correlation",
    "within_class_stress",
    "between_class_correlation",
    "between_class_stress",
)


def _errorbars(ax, x, summary: pd.DataFrame, label: str) -> None:
    lo = (summary["mean"] - summary["ci_low"]).fillna(0).to_numpy()
    hi = (summary["ci_high"] - summary["mean"]).fillna(0).to_numpy()
    ax.errorbar(x, summary["mean"], yerr=[lo, hi], marker="o", capsize=3, label=label)


def plot_geometry(metrics: pd.DataFrame, path: str | os.PathLike) -> None:
    """Geometry metrics and clean accuracy against beta (beta on a categorical axis)."""
    df = metrics[metrics["metric"].isin(GEOMETRY_METRICS)]
    betas = sorted(df["beta"].unique())
    fig, axes = plt.subplots(1, len(GEOMETRY_METRICS), figsize=(4 * len(GEOMETRY_METRICS), 3.6))
    for ax, metric in zip(axes, GEOMETRY_METRICS, strict=True):
        sub = df[df["metric"] == metric]
        for dataset, group in sub.groupby("dataset"):
            s = summarize(group, ["beta"])
            _errorbars(ax, [betas.index(b) for b in s["beta"]], s, str(dataset))
        ax.set_xticks(range(len(betas)), [f"{b:g}" for b in betas])
        ax.set_xlabel("β")
        ax.set_title(metric.replace("_", " "))
    axes[0].legend(title="dataset")
    fig.suptitle("Isometry regulariser: accuracy and representation geometry (mean, 95% CI)")
    fig.tight_layout()
    save_figure(fig, path)


def plot_distances(pairs: pd.DataFrame, path: str | os.PathLike) -> None:
    """Scatter of within-class input distance against representation distance, for the
    smallest seed, one panel per (dataset, beta)."""
    df = pairs[pairs["seed"] == pairs["seed"].min()]
    wide = df.pivot_table(
        index=["dataset", "beta", "pair", "label"], columns="metric", values="value"
    ).reset_index()
    order = [f"{b:g}" for b in sorted(wide["beta"].unique())]
    wide["beta"] = wide["beta"].map(lambda b: f"{b:g}")
    grid = sns.relplot(
        data=wide,
        x="input_distance",
        y="representation_distance",
        hue="label",
        palette="tab10",
        row="dataset",
        col="beta",
        col_order=order,
        s=8,
        alpha=0.6,
        height=3.2,
        facet_kws={"sharey": False},
    )
    grid.set_titles("{row_name}, β = {col_name}")
    grid.set_axis_labels("input distance ‖x_i − x_j‖", "representation distance ‖h_i − h_j‖")
    grid.figure.suptitle("Within-class pairs: input vs representation distance", y=1.04)
    save_figure(grid.figure, path)


def plot_hierarchy(hier: pd.DataFrame, emb: pd.DataFrame, path: str | os.PathLike) -> None:
    """Per-level accuracy and within-class correlation per task; torus points and
    per-level representation PCs coloured by class."""
    tasks = sorted(emb["task"].unique())
    levels = int(emb["level"].max()) + 1 if len(emb) else 1
    fig = plt.figure(figsize=(4 * max(levels + 1, 3), 3.6 * (1 + len(tasks))))
    gs = fig.add_gridspec(1 + len(tasks), max(levels + 1, 3))
    for col, metric in enumerate(("accuracy", "within_class_correlation", "within_class_stress")):
        ax = fig.add_subplot(gs[0, col])
        sub = hier[hier["metric"] == metric]
        for task, group in sub.groupby("task"):
            s = summarize(group, ["level"])
            _errorbars(ax, s["level"].to_numpy(), s, str(task))
        ax.set_xlabel("level (coarse → fine)")
        ax.set_title(f"per-level {metric.replace('_', ' ')}")
        ax.legend(title="task")
    seed = emb["seed"].min() if len(emb) else None
    for row, task in enumerate(tasks, start=1):
        e = emb[(emb["task"] == task) & (emb["seed"] == seed)]
        wide = e.pivot_table(index=["level", "point", "label"], columns="metric", values="value")
        wide = wide.reset_index()
        col = 0
        if {"x0", "x1", "x2"} <= set(wide.columns):
            ax = fig.add_subplot(gs[row, 0], projection="3d")
            finest = wide[wide["level"] == wide["level"].max()]
            ax.scatter(
                finest["x0"], finest["x1"], finest["x2"], c=finest["label"], cmap="tab10", s=4
            )
            ax.set_title(f"{task}: input, finest classes")
            col = 1
        for level in sorted(wide["level"].unique()):
            if col >= gs.ncols:
                break
            ax = fig.add_subplot(gs[row, col])
            lv = wide[wide["level"] == level]
            sns.scatterplot(
                data=lv, x="pc1", y="pc2", hue="label", palette="tab10", s=8, ax=ax, legend=False
            )
            n = int(np.unique(lv["label"]).size)
            ax.set_title(f"{task}: level {level} representation ({n} classes)")
            col += 1
    fig.tight_layout()
    save_figure(fig, path)


def plot_isometry_curves(curves: pd.DataFrame, path: str | os.PathLike) -> None:
    """The training curves of every isometry model (per dataset and beta) and of the
    hierarchy (per task): training loss and held-out accuracy per epoch."""
    runs = curves["dataset"] if "dataset" in curves.columns else pd.Series(pd.NA, curves.index)
    if "task" in curves.columns:
        runs = runs.fillna("hierarchy " + curves["task"].astype(str))
    plot_curves(curves.assign(run=runs), path, title="isometry", hue=("run", "beta"))
