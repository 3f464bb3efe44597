"""Similarity analysis of a registration network trained on noisy labels (claims S2, S3):
the density N_S of every training sample under the 2-output normalised kernel, its
noise-induced error |f_sigma(x) - f_0(x)| (f_0: the sigma = 0 model of the same seed, same
initial weights and batch order), the denoising factor predicted from the unnormalised
kernel against the measured noise-induced error / noise ratio, the label-free neighbour
consistency, and retrieval of the training samples most similar to test queries.

One pass over query chunks computes the unnormalised kernel blocks K(x_i, x_j) once and
derives from them the brute-force normalised similarities (row sums, hard counts) and the
denoising weights; the O(n p) density comes from the normalised features separately and
is checked against those row sums. The ``density_exact`` gate checks it once more,
independently, on a subset: gradients from a per-sample backward loop, the normalised
kernel from its definition in float64, against every analysed sample."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from repgeom import streams
from repgeom.similarity.denoising import (
    bin_by_density,
    denoising_from_gram,
    log_slope,
    measured_ratio,
)
from repgeom.similarity.kernel import (
    density_exact,
    density_from_features,
    gram_rows,
    normalize_features,
    per_sample_grads,
    per_sample_grads_loop,
    relative_error,
    self_inv_sqrt,
    similarity_from_gram,
    top_k_similar,
)
from repgeom.stats import pearson, spearman, subset_indices


@torch.no_grad()
def _predict(model, x, batch: int = 512) -> torch.Tensor:
    return torch.cat([model(x[i : i + batch]) for i in range(0, x.shape[0], batch)])


def subsample(n: int, max_samples: int, seed: int) -> torch.Tensor:
    """All indices when max_samples is 0 or >= n, else a fixed random subset (sorted)."""
    subset_seed = streams.stream(seed, "similarity/registration/subsample")
    return torch.from_numpy(subset_indices(n, max_samples, subset_seed))


def density_check(
    model: torch.nn.Module,
    x: torch.Tensor,
    grads: torch.Tensor,
    density: torch.Tensor,
    n_check: int,
    seed: int,
) -> float:
    """Max relative error of the O(n p) ``density`` on ``n_check`` of the samples ``x``
    against density_exact, with the gradients of those samples recomputed by a backward
    loop (``grads``: every sample's, [n, d, p], from the vmap route)."""
    subset_seed = streams.stream(seed, "similarity/registration/density_check")
    check = torch.from_numpy(subset_indices(x.shape[0], n_check, subset_seed))
    exact = density_exact(per_sample_grads_loop(model, x[check.to(x.device)]), grads)
    return relative_error(density[check.to(density.device)], exact)


def kernel_pass(grads, predictions, thresholds, chunk_size: int):
    """Row chunks of queries (all samples) against all samples: brute-force normalised
    row sums, hard counts, tr(S_i) and the kernel-averaged predictions."""
    inv_sqrt = self_inv_sqrt(grads)
    sums, traces, averages = [], [], []
    counts = {float(t): [] for t in thresholds}
    n = grads.shape[0]
    for start in range(0, n, chunk_size):
        sl = slice(start, min(start + chunk_size, n))
        k_rows = gram_rows(grads[sl], grads)
        sim = similarity_from_gram(k_rows, inv_sqrt[sl], inv_sqrt)
        sums.append(sim.sum(dim=1))
        for t in counts:
            counts[t].append((sim > t).sum(dim=1))
        den = denoising_from_gram(k_rows, predictions)
        traces.append(den["trace_s"])
        averages.append(den["neighbour_average"])
    return (
        torch.cat(sums),
        {t: torch.cat(c) for t, c in counts.items()},
        torch.cat(traces),
        torch.cat(averages),
    )


def analyze(
    model: torch.nn.Module,
    floor_model: torch.nn.Module,
    data: dict,
    train_labels: torch.Tensor,
    *,
    max_samples: int,
    thresholds,
    n_bins: int,
    n_queries: int,
    top_k: int,
    chunk_size: int,
    density_check_samples: int,
    seed: int,
    device: torch.device,
    logger: logging.Logger | None = None,
) -> dict:
    """Everything S2/S3 and the retrieval figure need, for one trained model (its
    noise-induced error measured against ``floor_model``, the sigma = 0 model of the same
    seed), and the
    ``density_exact`` check of the density on ``density_check_samples`` samples.

    Returns ``samples`` (one row per analysed training sample), ``bins`` (density bins),
    ``summary`` (name -> number), ``retrieval`` (query, rank, train index, similarity) and
    ``images`` (query and retrieved inputs, small)."""
    logger = logger or logging.getLogger("repgeom.similarity")
    model = model.to(device).eval()
    floor_model = floor_model.to(device).eval()
    train, test = data["train"], data["test"]
    n_train = train["inputs"].shape[0]
    if train_labels.shape != train["true"].shape:
        raise ValueError(
            f"train_labels {tuple(train_labels.shape)} do not match the data's training "
            f"targets {tuple(train['true'].shape)}: model and data of different seeds?"
        )
    idx = subsample(n_train, max_samples, seed)
    samples, feats, numbers = measure_samples(
        model,
        floor_model,
        train,
        train_labels,
        idx,
        thresholds=thresholds,
        chunk_size=chunk_size,
        density_check_samples=density_check_samples,
        seed=seed,
        device=device,
    )
    n_checked = min(density_check_samples, len(idx))
    logger.info(
        "%d of %d samples, p=%d, d=%d: mean N_S %.1f, O(np) vs brute gap %.2e, "
        "vs the exact check on %d samples %.2e",
        len(idx),
        n_train,
        numbers["p"],
        numbers["d"],
        float(samples["density"].mean()),
        numbers["gap"],
        n_checked,
        numbers["check_error"],
    )
    bins = bin_by_density(samples, n_bins)
    summary = summarize_samples(samples, bins, gap=numbers["gap"], noise_rms=numbers["noise_rms"])
    summary["n_analysed"] = float(len(idx))
    summary["density_check_max_rel_error"] = numbers["check_error"]
    summary["density_check_samples"] = float(n_checked)
    summary["parameters"] = float(numbers["p"])
    retrieval, images = retrieve(
        model, feats, idx, train, test, n_queries, top_k, chunk_size, seed, device
    )
    return {
        "samples": samples,
        "bins": bins,
        "summary": summary,
        "retrieval": retrieval,
        "images": images,
    }


def measure_samples(
    model: torch.nn.Module,
    floor_model: torch.nn.Module,
    train: dict,
    train_labels: torch.Tensor,
    idx: torch.Tensor,
    *,
    thresholds,
    chunk_size: int,
    density_check_samples: int,
    seed: int,
    device: torch.device,
) -> tuple[pd.DataFrame, torch.Tensor, dict]:
    """The per-sample table of the training samples ``idx`` (density, noise-induced error
    against ``floor_model`` and total error against the truth, measured and predicted
    denoising ratio, neighbour consistency, hard counts), their normalised
    features (for retrieval) and ``numbers``: the density's gap to the brute-force row sums and
    to the exact check, the label noise rms, d and p. When only a subset of the n training
    samples is analysed, tr(S_i) (about 1/N) is scaled by subset/n to stand for the whole
    set the network averaged over."""
    x = train["inputs"][idx].to(device)
    true, labels = train["true"][idx].to(device), train_labels[idx].to(device)
    pred = _predict(model, x)
    grads = per_sample_grads(model, x, chunk_size=chunk_size)  # [n, d, p]
    d = grads.shape[1]
    feats = normalize_features(grads)
    density = density_from_features(feats)
    brute, hard, trace_s, averages = kernel_pass(grads, pred, thresholds, chunk_size)
    gap = relative_error(density, brute)
    check_error = density_check(model, x, grads, density, density_check_samples, seed)
    scale = len(idx) / train["inputs"].shape[0]
    predicted = (trace_s * scale / d).clamp_min(0).sqrt()
    meas = measured_ratio(pred, _predict(floor_model, x), true, labels)
    consistency = (pred - averages).norm(dim=1) / meas["noise_rms"]
    samples = pd.DataFrame(
        {
            "sample": idx.numpy(),
            "density": density.cpu().numpy(),
            "error": meas["error"].cpu().numpy(),
            "error_vs_truth": (pred - true).norm(dim=1).cpu().numpy(),
            "measured_ratio": meas["ratio"].cpu().numpy(),
            "predicted_ratio": predicted.cpu().numpy(),
            "consistency": consistency.cpu().numpy(),
            **{f"hard_{t:g}": c.cpu().numpy() for t, c in hard.items()},
        }
    )
    numbers = {"gap": gap, "check_error": check_error, "noise_rms": meas["noise_rms"]}
    return samples, feats, {**numbers, "d": d, "p": grads.shape[2]}


def summarize_samples(
    samples: pd.DataFrame, bins: pd.DataFrame, *, gap: float, noise_rms: float
) -> dict:
    """The per-model numbers behind S2 and S3 (and their context)."""
    return {
        # S2: the noise-induced error falls as density rises.
        "spearman_density_error": spearman(samples["density"], samples["error"]),
        "binned_log_slope_error": log_slope(bins["density"], bins["error_rms"]),
        # S3: the kernel-predicted denoising tracks the measured noise-induced ratio.
        "spearman_predicted_measured": spearman(
            samples["predicted_ratio"], samples["measured_ratio"]
        ),
        "binned_pearson_log_predicted_measured": pearson(
            np.log(bins["predicted_ratio"]), np.log(bins["measured_ratio"])
        ),
        "predicted_over_measured": float(
            np.sqrt(np.mean(samples["predicted_ratio"] ** 2))
            / np.sqrt(np.mean(samples["measured_ratio"] ** 2))
        ),
        "measured_ratio_rms": float(np.sqrt(np.mean(samples["measured_ratio"] ** 2))),
        "predicted_ratio_rms": float(np.sqrt(np.mean(samples["predicted_ratio"] ** 2))),
        # Label-free: the neighbour consistency of the network's own predictions.
        "spearman_consistency_measured": spearman(
            samples["consistency"], samples["measured_ratio"]
        ),
        "spearman_density_predicted": spearman(samples["density"], samples["predicted_ratio"]),
        "density_mean": float(samples["density"].mean()),
        "density_max_rel_gap": gap,
        "noise_rms": noise_rms,
    }


def retrieve(model, feats, idx, train, test, n_queries, top_k, chunk_size, seed, device):
    """The ``top_k`` analysed training samples most similar to ``n_queries`` test inputs."""
    if n_queries <= 0:
        return pd.DataFrame(columns=["query", "rank", "train_index", "similarity"]), {}
    subset_seed = streams.stream(seed, "similarity/registration/queries")
    q_idx = torch.from_numpy(subset_indices(test["inputs"].shape[0], n_queries, subset_seed))
    xq = test["inputs"][q_idx].to(device)
    fq = normalize_features(per_sample_grads(model, xq, chunk_size=chunk_size))
    k = min(top_k, feats.shape[0])
    sims, nearest = top_k_similar(fq, feats, k)
    train_index = idx[nearest.cpu()]
    rows = [
        {
            "query": int(q_idx[i]),
            "rank": r + 1,
            "train_index": int(train_index[i, r]),
            "similarity": float(sims[i, r]),
        }
        for i in range(len(q_idx))
        for r in range(k)
    ]
    images = {
        "query_inputs": test["inputs"][q_idx].cpu().half(),
        "query_index": q_idx,
        "neighbour_inputs": train["inputs"][train_index.reshape(-1)]
        .cpu()
        .half()
        .reshape(len(q_idx), k, *train["inputs"].shape[1:]),
        "neighbour_similarity": sims.cpu(),
    }
    return pd.DataFrame(rows), images


def _row_keys(*, seed: int, noise: str, sigma: float) -> dict:
    """The keys every row of this analysis carries."""
    return {
        "stage": "similarity",
        "method": "registration_cnn",
        "seed": seed,
        "noise": noise,
        "sigma": sigma,
    }


def tidy_summary(summary: dict, *, seed: int, noise: str, sigma: float) -> pd.DataFrame:
    base = _row_keys(seed=seed, noise=noise, sigma=sigma)
    return pd.DataFrame([{**base, "metric": k, "value": float(v)} for k, v in summary.items()])


def tidy_bins(bins: pd.DataFrame, *, seed: int, noise: str, sigma: float) -> pd.DataFrame:
    """Long table of the density bins (one row per bin and quantity), for the figures."""
    base = _row_keys(seed=seed, noise=noise, sigma=sigma)
    rows = []
    for _, b in bins.iterrows():
        for q in ("error_rms", "measured_ratio", "predicted_ratio", "inv_sqrt_density"):
            rows.append(
                {
                    **base,
                    "bin": int(b["bin"]),
                    "density": float(b["density"]),
                    "metric": q,
                    "value": float(b[q]),
                }
            )
    return pd.DataFrame(rows)
