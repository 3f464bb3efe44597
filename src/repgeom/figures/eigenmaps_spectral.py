"""Figures of the eigenmaps stage's spectral part, drawn from its tidy tables:

- learned against exact eigenfunctions on the circle, with and without stop-gradient;
- the eigenvalue spectrum: estimated (per output, mean and 95% CI over seeds) against exact,
  for the circle and each graph;
- graph node embeddings (learned and exact eigenfunctions 2 and 3) coloured by the true
  block / faction, with the ARIs in the titles."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from repgeom.figures import save_figure
from repgeom.metrics import summarize

METHOD_STYLE = {
    "neuralef": ("NeuralEF (stop-gradient)", "C0", "o"),
    "neuralef_no_stop_grad": ("no stop-gradient", "C3", "s"),
}


def _err(s: pd.DataFrame) -> np.ndarray:
    return np.vstack(
        [np.nan_to_num(s["mean"] - s["ci_low"]), np.nan_to_num(s["ci_high"] - s["mean"])]
    )


def plot_toy_functions(functions: pd.DataFrame, metrics: pd.DataFrame, path) -> None:
    """One row per output, one column per variant: the learned output (solid) and its best
    match in the exact span of the Fourier mode it should converge to (dashed)."""
    seed = int(functions["seed"].min())
    df = functions[functions.seed == seed]
    methods = [m for m in METHOD_STYLE if m in set(df.method)]
    outputs = sorted(df.output.unique())
    fig, axes = plt.subplots(
        len(outputs),
        len(methods),
        figsize=(4.2 * len(methods), 1.45 * len(outputs) + 0.8),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    align = metrics[(metrics.metric == "group_alignment") & (metrics.seed == seed)]
    for col, method in enumerate(methods):
        label, color, _ = METHOD_STYLE[method]
        for row, out in enumerate(outputs):
            ax = axes[row, col]
            s = df[(df.method == method) & (df.output == out)].sort_values("theta")
            mode = int(s["mode"].iloc[0])
            ax.plot(s.theta, s.value, color=color, lw=1.6, label="learned")
            ax.plot(s.theta, s.exact, color="k", ls="--", lw=1.0, label="exact (best match)")
            a = align[(align.method == method) & (align["mode"] == mode)]["value"]
            score = f", alignment {a.iloc[0]:.2f}" if len(a) else ""
            ax.set_title(f"{label}: output {out} vs mode m={mode}{score}", fontsize=8)
            ax.set_ylim(-3, 3)  # unit RMS: cos/sin peak at sqrt(2), the constant at 1
    for ax in axes[-1]:
        ax.set_xlabel("angle θ")
        ax.set_xticks(np.pi * np.arange(0, 2.5, 0.5), ["0", "π/2", "π", "3π/2", "2π"])
    axes[0, 0].legend(fontsize=7, loc="lower right", ncol=2)
    fig.suptitle(f"Circle: learned eigenfunctions against the Fourier modes (seed {seed})")
    save_figure(fig, path)


def _spectrum_panel(ax, table: pd.DataFrame, methods: list[str], title: str) -> None:
    exact = table[table.metric == "exact_eigenvalue"].groupby("output")["value"].mean()
    ax.plot(exact.index, exact.values, "k_", ms=18, mew=2, label="exact", zorder=3)
    shift = np.linspace(-0.12, 0.12, max(1, len(methods)))
    for dx, method in zip(shift, methods, strict=True):
        est = table[(table.metric == "eigenvalue") & (table.method == method)]
        label, color, marker = METHOD_STYLE.get(method, (method, "C0", "o"))
        if method == "neuralef":  # ordered: mean and 95% CI over seeds per output
            s = summarize(est, ["output"])
            ax.errorbar(
                s.output + dx,
                s["mean"],
                yerr=_err(s),
                fmt=marker,
                color=color,
                ms=4,
                capsize=2,
                label=f"{label}, mean and 95% CI",
            )
        else:  # unordered: a different permutation per seed, so each seed's points
            ax.scatter(
                est.output + dx,
                est.value,
                marker=marker,
                color=color,
                s=12,
                alpha=0.7,
                label=f"{label}, each seed",
            )
    ax.set(title=title, xlabel="output j", ylabel="eigenvalue")
    ax.set_xticks(sorted(exact.index.astype(int)))


def plot_spectrum(toy: pd.DataFrame, graph: pd.DataFrame, path) -> None:
    """Estimated eigenvalue per output (mean, 95% CI over seeds) against the exact one."""
    graphs = list(dict.fromkeys(graph["graph"])) if len(graph) else []
    fig, axes = plt.subplots(
        1, 1 + len(graphs), figsize=(4.3 * (1 + len(graphs)), 3.6), squeeze=False
    )
    methods = [m for m in METHOD_STYLE if m in set(toy.method)]
    _spectrum_panel(axes[0, 0], toy, methods, "circle: exp(−m²s²)")
    for ax, name in zip(axes[0, 1:], graphs, strict=True):
        _spectrum_panel(
            ax, graph[graph["graph"] == name], ["neuralef"], f"{name}: normalised adjacency"
        )
    axes[0, 0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    fig.suptitle("Eigenvalues estimated from the views' agreement against the exact spectrum")
    save_figure(fig, path)


def _ari_title(metrics: pd.DataFrame, name: str, seed: int) -> str:
    m = metrics[(metrics["graph"] == name) & (metrics.seed == seed)]
    v = dict(zip(m.metric, m.value, strict=False))
    return (
        f"{name}: ARI vs truth {v.get('ari_learned_truth', np.nan):.2f} "
        f"(SpectralClustering {v.get('ari_spectral_truth', np.nan):.2f}),\n"
        f"ARI vs SpectralClustering {v.get('ari_learned_spectral', np.nan):.2f}, "
        f"subspace {v.get('subspace_alignment', np.nan):.3f}"
    )


def _label_name(graph: str, label: int) -> str:
    if graph == "karate":
        return ("Mr. Hi", "Officer")[int(label)] if int(label) in (0, 1) else f"faction {label}"
    return f"block {label}"


def plot_graph_embeddings(emb: pd.DataFrame, metrics: pd.DataFrame, path) -> None:
    """Per graph: learned eigenfunctions 2 and 3 (top) and the exact ones (bottom), each
    node coloured by its true block / faction."""
    seed = int(emb["seed"].min())
    emb = emb[emb.seed == seed]
    graphs = list(dict.fromkeys(emb["graph"]))
    fig, axes = plt.subplots(2, len(graphs), figsize=(4.6 * len(graphs), 8.8), squeeze=False)
    for col, name in enumerate(graphs):
        sub = emb[emb["graph"] == name]
        labels = sub.groupby("node")["label"].first()
        palette = dict(zip(sorted(labels.unique()), sns.color_palette("tab10"), strict=False))
        for row, (column, kind) in enumerate([("value", "learned"), ("exact", "exact")]):
            wide = sub.pivot(index="node", columns="output", values=column)
            x = wide[2]
            y = wide[3] if 3 in wide.columns else pd.Series(np.arange(len(wide)), wide.index)
            ax = axes[row, col]
            for lab in sorted(labels.unique()):
                nodes = labels.index[labels == lab]
                ax.scatter(
                    x[nodes],
                    y[nodes],
                    s=14,
                    color=palette[lab],
                    label=_label_name(name, lab),
                    edgecolor="none",
                    alpha=0.85,
                )
            ax.set(xlabel=f"{kind} ψ2", ylabel=f"{kind} ψ3" if 3 in wide.columns else "node")
            if row == 0:
                ax.set_title(_ari_title(metrics, name, seed), fontsize=8)
            else:
                ax.set_title(f"{name}: exact eigenfunctions of D⁻¹A", fontsize=8)
        axes[0, col].legend(fontsize=7, loc="best")
    fig.suptitle(f"Graph nodes embedded by NeuralEF, coloured by true block (seed {seed})")
    save_figure(fig, path)
