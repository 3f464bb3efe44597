"""Figures of the similarity stage, drawn from its tidy tables (and, for the retrieval
grid, the small file of retrieved inputs), never from a model:

- toy density map: N_S against alpha per frequency, and mean N_S / n against f (S1);
- density histograms: toy per frequency, registration training samples per seed;
- retrieval grid: test queries and their most similar training samples;
- denoising: RMS error against N_S with the sigma/sqrt(N) reference (S2), kernel-predicted
  against measured error/noise ratio per density bin and per sample (S3);
- training curves: validation accuracy against step per variant, steps to target (S4)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import NullFormatter

from repgeom.curves import read_curves
from repgeom.figures import save_figure
from repgeom.figures.curves import plot_curves
from repgeom.registry import load_registry

VARIANT_LABELS = {
    "baseline": "baseline (cross-entropy)",
    "plus_cos": "+cos (authors' code)",
    "minus_cos": "−cos (paper's text)",
}


def _concat_csv(paths) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)


def plot_toy_density(samples: pd.DataFrame, metrics: pd.DataFrame, path, n_bins: int = 64):
    df = samples.copy()
    df["alpha_bin"] = (np.minimum((df["alpha"] * n_bins).astype(int), n_bins - 1) + 0.5) / n_bins
    per_seed = df.groupby(["frequency", "seed", "alpha_bin"], as_index=False)["density"].mean()
    per_seed["f"] = per_seed["frequency"].map(lambda f: f"f = {f:g}")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    sns.lineplot(
        per_seed,
        x="alpha_bin",
        y="density",
        hue="f",
        errorbar=("ci", 95),
        ax=axes[0],
        palette="viridis",
    )
    axes[0].set(
        xlabel="α (input x = (cos 2πα, sin 2πα))",
        ylabel="N_S(x) = Σ_j k(x, x_j)",
        title="Density of similar samples along the circle",
    )
    frac = metrics[(metrics.metric == "density_fraction") & (metrics.method == "toy_mlp")]
    sns.pointplot(frac, x="frequency", y="value", errorbar=("ci", 95), ax=axes[1], color="k")
    axes[1].set(xlabel="frequency f", ylabel="mean N_S / n", title="S1: density against f")
    axes[1].set_ylim(bottom=0)
    fig.suptitle(
        "Toy y = sin(2πfα): density from the network's gradient kernel (mean, 95% CI over seeds)"
    )
    save_figure(fig, path)


def plot_density_histograms(toy: pd.DataFrame, reg: pd.DataFrame, path):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    toy = toy.assign(f=toy["frequency"].map(lambda f: f"f = {f:g}"))
    sns.histplot(
        toy,
        x="density",
        hue="f",
        stat="probability",
        common_norm=False,
        element="step",
        fill=False,
        bins=50,
        ax=axes[0],
        palette="viridis",
    )
    axes[0].set(xlabel="N_S", ylabel="share of samples", title="Toy: all samples and seeds")
    if len(reg):
        reg = reg.assign(
            model=[
                f"σ={s:g}, {n}, seed {d}"
                for s, n, d in zip(reg.sigma, reg.noise, reg.seed, strict=True)
            ]
        )
        sns.histplot(
            reg,
            x="density",
            hue="model",
            stat="probability",
            common_norm=False,
            element="step",
            fill=False,
            bins=50,
            ax=axes[1],
        )
    axes[1].set(
        xlabel="N_S (2-output normalised kernel)",
        ylabel="share of samples",
        title="Registration: training samples",
    )
    fig.suptitle("Density N_S(x_i) = Σ_j k(x_i, x_j), computed in O(n·p)")
    save_figure(fig, path)


def _rgb(inputs: np.ndarray) -> np.ndarray:
    """First three channels (aerial RGB) as an image in [0, 1]; the map edge in red."""
    img = np.clip(np.transpose(inputs[:3], (1, 2, 0)), 0, 1)
    if inputs.shape[0] >= 5:
        edge = np.clip(inputs[4], 0, 1)[..., None]
        img = img * (1 - 0.6 * edge) + 0.6 * edge * np.array([1.0, 0.1, 0.1])
    return img


def plot_retrieval(retrieval: pd.DataFrame, images: dict, path):
    q = images["query_inputs"].float().numpy()
    nb = images["neighbour_inputs"].float().numpy()
    sims = images["neighbour_similarity"].numpy()
    n_q, k = nb.shape[0], nb.shape[1]
    fig, axes = plt.subplots(n_q, k + 1, figsize=(1.35 * (k + 1), 1.5 * n_q + 0.5), squeeze=False)
    for i in range(n_q):
        axes[i, 0].imshow(_rgb(q[i]))
        axes[i, 0].set_title("query" if i == 0 else "", fontsize=8)
        axes[i, 0].set_ylabel(f"test #{int(retrieval['query'].unique()[i])}", fontsize=7)
        for j in range(k):
            axes[i, j + 1].imshow(_rgb(nb[i, j]))
            axes[i, j + 1].set_title(f"k = {sims[i, j]:.2f}", fontsize=7)
        for ax in axes[i]:
            ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(
        "Training samples most similar to test queries for the registration network "
        "(aerial image, map outline in red)",
        fontsize=9,
    )
    save_figure(fig, path)


def denoising_bins(bins: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per (noise, sigma, seed, density bin): its metrics as columns, its mean
    density, the sigma/sqrt(N_S) reference (noise RMS / sqrt density) and a model label."""
    wide = bins.pivot_table(
        index=["noise", "sigma", "seed", "bin"], columns="metric", values="value"
    ).reset_index()
    dens = bins.groupby(["noise", "sigma", "seed", "bin"])["density"].first().reset_index()
    wide = wide.merge(dens, on=["noise", "sigma", "seed", "bin"])
    noise_rms = metrics[metrics.metric == "noise_rms"].set_index(["noise", "sigma", "seed"])[
        "value"
    ]
    wide["sigma_over_sqrt_n"] = wide["inv_sqrt_density"] * [
        noise_rms.get((n, s, d), np.nan)
        for n, s, d in zip(wide.noise, wide.sigma, wide.seed, strict=True)
    ]
    wide["model"] = [f"σ={s:g} {n}" for s, n in zip(wide.sigma, wide.noise, strict=True)]
    return wide


def _plot_error_vs_density(ax, wide: pd.DataFrame) -> None:
    """S2: RMS noise-induced error |f_sigma - f_0| against density per bin, with the
    sigma/sqrt(N_S) reference dashed."""
    sns.lineplot(wide, x="density", y="error_rms", hue="model", style="seed", marker="o", ax=ax)
    sns.lineplot(
        wide,
        x="density",
        y="sigma_over_sqrt_n",
        hue="model",
        units="seed",
        estimator=None,
        ls="--",
        ax=ax,
        legend=False,
        alpha=0.6,
    )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="N_S (density bin mean)",
        ylabel="RMS |f_σ − f_0| (px)",
        title="S2: noise-induced error against density (dashed: σ/√N_S)",
    )


def _plot_ratio_bins(ax, wide: pd.DataFrame) -> None:
    """S3 per density bin: predicted against measured error/noise ratio, with y = x."""
    sns.scatterplot(wide, x="predicted_ratio", y="measured_ratio", hue="model", style="seed", ax=ax)
    lim = [
        np.nanmin(wide[["predicted_ratio", "measured_ratio"]].to_numpy()) * 0.8,
        np.nanmax(wide[["predicted_ratio", "measured_ratio"]].to_numpy()) * 1.2,
    ]
    ax.plot(lim, lim, color="0.5", ls=":", label="y = x")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="predicted √(tr S_i / d) (RMS per bin)",
        ylabel="measured |f_σ − f_0| / noise RMS (RMS per bin)",
        title="S3: per density bin",
    )
    # Log axes over more than a decade: major tick labels only, so they stay readable.
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())


def _plot_ratio_samples(ax, samples: pd.DataFrame) -> None:
    """S3 per training sample: hexbin of log predicted against log measured ratio (at most
    4000 samples, a fixed draw)."""
    sub = samples.sample(n=min(len(samples), 4000), random_state=0) if len(samples) else samples
    if len(sub):
        ax.hexbin(
            np.log10(sub["predicted_ratio"].clip(lower=1e-6)),
            np.log10(sub["measured_ratio"].clip(lower=1e-6)),
            gridsize=35,
            cmap="Blues",
            mincnt=1,
        )
    ax.set(
        xlabel="log10 predicted ratio",
        ylabel="log10 measured ratio",
        title="S3: per training sample",
    )


def plot_denoising(bins: pd.DataFrame, samples: pd.DataFrame, metrics: pd.DataFrame, path):
    wide = denoising_bins(bins, metrics)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    _plot_error_vs_density(axes[0], wide)
    _plot_ratio_bins(axes[1], wide)
    _plot_ratio_samples(axes[2], samples)
    fig.suptitle(
        "Denoising predicted from the gradient kernel against the measured error/noise ratio"
    )
    save_figure(fig, path)


def enforce_wide(curves: pd.DataFrame) -> pd.DataFrame:
    """The S4 curve table (repgeom.curves) one row per (variant, seed, step), with columns
    val_accuracy and cosine."""
    wide = curves.pivot_table(
        index=["variant", "seed", "epoch"], columns="metric", values="value"
    ).reset_index()
    names = {"epoch": "step", "accuracy": "val_accuracy", "gradient_cosine": "cosine"}
    return wide.rename(columns=names)


def plot_training(curves: pd.DataFrame, metrics: pd.DataFrame, target: float, path):
    curves = enforce_wide(curves)
    curves = curves.assign(variant=curves["variant"].map(VARIANT_LABELS))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), gridspec_kw={"width_ratios": [2, 1.2, 1]})
    sns.lineplot(curves, x="step", y="val_accuracy", hue="variant", errorbar=("ci", 95), ax=axes[0])
    axes[0].axhline(target, color="0.5", ls=":", lw=1)
    axes[0].set(
        xlabel="minibatch step (one same-class pair)",
        ylabel="validation accuracy",
        title="MNIST, small CNN (mean, 95% CI over seeds)",
    )
    cos = curves[curves["step"] > 0]
    sns.lineplot(
        cos, x="step", y="cosine", hue="variant", errorbar=("ci", 95), ax=axes[1], legend=False
    )
    axes[1].set(
        xlabel="minibatch step",
        ylabel="cos(∇θ s(A), ∇θ s(B))",
        title="Similarity of the pair's gradients",
    )
    steps = metrics[(metrics.metric == "steps_to_target") & (metrics.method == "small_cnn")]
    steps = steps.assign(variant=steps["variant"].map(VARIANT_LABELS))
    sns.pointplot(
        steps, x="variant", y="value", errorbar=("ci", 95), ax=axes[2], color="k", linestyle="none"
    )
    axes[2].set(xlabel="", ylabel=f"steps to {target:.0%} val. accuracy", title="S4")
    axes[2].tick_params(axis="x", labelsize=7, rotation=15)
    _paper_steps(axes[0], axes[2], target)
    fig.suptitle("Similarity-enforcing term on same-class pairs: both signs against the baseline")
    fig.text(0.5, -0.1, load_registry().claim("S4").paper_note(), ha="center", fontsize=8)
    save_figure(fig, path)


def _paper_steps(curve_ax, steps_ax, target: float) -> None:
    """The paper's steps to its target accuracy (registry paper_data), where the target
    is the same as ours: points on the curves, dashed levels on the steps panel."""
    data = load_registry().claim("S4").paper_data
    if not data or not math.isclose(float(data["target_accuracy"]), target):
        return
    for (name, step), marker in zip(data["steps_to_target"].items(), "ov", strict=False):
        label = f"paper: {name.replace('_', ' ')}"
        curve_ax.plot([step], [target], marker=marker, color="k", ls="none", label=label)
        steps_ax.axhline(step, color="0.4", ls="--", lw=0.8)
        steps_ax.annotate(label, (0.02, step), xycoords=("axes fraction", "data"), fontsize=7)
    curve_ax.legend(fontsize=7)


def draw_all(inputs: dict, outputs: dict, *, target_accuracy: float) -> None:
    """Every similarity figure; ``inputs``/``outputs`` map names to paths (lists for the
    per-seed tables)."""
    import torch

    metrics = pd.read_csv(inputs["metrics"])
    toy = _concat_csv(inputs["toy_samples"])
    reg_samples = _concat_csv(inputs["reg_samples"])
    plot_toy_density(toy, metrics, outputs["toy_density"])
    plot_density_histograms(toy, reg_samples, outputs["density_hist"])
    images = torch.load(inputs["retrieval_images"], map_location="cpu", weights_only=True)
    plot_retrieval(pd.read_csv(inputs["retrieval"]), images, outputs["retrieval"])
    plot_denoising(_concat_csv(inputs["reg_bins"]), reg_samples, metrics, outputs["denoising"])
    enforce = read_curves(inputs["curves"])
    plot_training(enforce, metrics, target_accuracy, outputs["training"])
    plot_curves(
        pd.concat([read_curves(inputs["toy_curves"]), enforce], ignore_index=True),
        outputs["curves"],
        title="Similarity (S1 toy MLPs, S4 MNIST CNNs)",
        hue=("method", "frequency", "variant"),
    )
