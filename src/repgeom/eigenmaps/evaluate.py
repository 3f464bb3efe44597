"""Evaluation of a pretrained model and the claims E2 (linear probe) and E3 (truncated
codes keep retrieval quality).

The code a method retrieves with is its projector output in the form its loss sees it:
NeuralEF's psi (each output divided by its root mean square over the training set: the
loss is blind to that scale), Barlow Twins' per-output standardised z (blind to shift and
scale), and the raw z for SimCLR and the spectral contrastive loss (whose losses are not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from repgeom.claims import Gate, evaluate_claim
from repgeom.eigenmaps.augment import AugmentConfig, augment, to_float
from repgeom.eigenmaps.gates import RANDOM_INIT, models_training_gate, probe_floor_gate
from repgeom.eigenmaps.loss import neuralef_loss
from repgeom.eigenmaps.retrieval import (
    code_lengths,
    knn_accuracy,
    linear_probe_accuracy,
    mean_average_precision,
    random_subsets,
)

STAGE = "eigenmaps"


@torch.no_grad()
def extract(
    model: torch.nn.Module, images: Tensor, batch_size: int = 1000
) -> tuple[Tensor, Tensor]:
    """Backbone features and projector codes of uint8 ``images`` (model in eval mode)."""
    model.eval()
    feats, codes = [], []
    for start in range(0, len(images), batch_size):
        f = model.features(to_float(images[start : start + batch_size]))
        feats.append(f)
        codes.append(model.projector(f))
    return torch.cat(feats), torch.cat(codes)


def code_normaliser(method: str, train_codes: Tensor):
    """The per-output affine map that turns raw projector outputs into the method's code,
    fitted on the training (gallery) codes."""
    if method == "neuralef":
        rms = train_codes.pow(2).mean(0).sqrt().clamp(min=1e-8)
        return lambda z: z / rms
    if method == "barlow":
        mean, std = train_codes.mean(0), train_codes.std(0).clamp(min=1e-8)
        return lambda z: (z - mean) / std
    return lambda z: z


@torch.no_grad()
def estimate_spectrum(
    model: torch.nn.Module,
    images: Tensor,
    cfg: AugmentConfig,
    gen: torch.Generator,
    *,
    batches: int,
    batch_size: int,
) -> Tensor:
    """Mean per-output Rayleigh quotient (the NeuralEF eigenvalue estimate) over
    ``batches`` pairs of augmented training minibatches, model in eval mode."""
    model.eval()
    total = None
    for _ in range(batches):
        idx = torch.randperm(len(images), generator=gen)[:batch_size].to(images.device)
        batch = images[idx]
        z1 = model(augment(batch, cfg, gen))
        z2 = model(augment(batch, cfg, gen))
        ev = neuralef_loss(z1, z2, alpha=0.0)[1]["eigenvalues"]
        total = ev if total is None else total + ev
    return total / batches


def retrieval_rows(
    q: Tensor,
    g: Tensor,
    q_labels: Tensor,
    g_labels: Tensor,
    *,
    fraction: int,
    n_random: int,
    top_n: int,
    gen: torch.Generator,
) -> list[dict]:
    """mAP@top_n of the first k outputs for every k in ``code_lengths``, and the mean over
    ``n_random`` random k-subsets of the same code (k below full length)."""
    full = q.shape[1]
    rows = []
    for k in code_lengths(full, fraction):
        m = mean_average_precision(q[:, :k], g[:, :k], q_labels, g_labels, top_n=top_n)
        rows.append({"metric": "map", "k": k, "variant": "prefix", "value": m})
        if k < full and n_random > 0:
            subsets = random_subsets(full, k, n_random, gen)
            vals = [
                mean_average_precision(q[:, s], g[:, s], q_labels, g_labels, top_n=top_n)
                for s in (s.to(q.device) for s in subsets)
            ]
            rows.append({"metric": "map", "k": k, "variant": "random", "value": np.mean(vals)})
    full_row = next(r for r in rows if r["k"] == full)
    rows.append({**full_row, "variant": "random"})  # all dimensions: the same code
    return rows


def evaluate_model(
    model: torch.nn.Module,
    data: Mapping,
    method: str,
    seed: int,
    *,
    augment_cfg: AugmentConfig,
    gen: torch.Generator,
    fraction: int = 16,
    n_random: int = 5,
    top_n: int = 100,
    knn_k: int = 20,
    probe_weight_decay: float = 1e-4,
    probe_max_iter: int = 200,
    spectrum_batches: int = 10,
    batch_size: int = 256,
) -> list[dict]:
    """Tidy rows: probe and kNN accuracy (%), mAP per code length and variant, and the
    eigenvalue estimate of every output (``dim`` 1..k)."""
    xtr, ytr = data["train_images"], data["train_labels"]
    xte, yte = data["test_images"], data["test_labels"]
    ftr, ztr = extract(model, xtr)
    fte, zte = extract(model, xte)
    base = {"stage": STAGE, "method": method, "seed": seed}
    rows = [
        _probe_row(base, ftr, ytr, fte, yte, probe_weight_decay, probe_max_iter),
        {**base, "metric": "knn_accuracy", "value": knn_accuracy(ftr, ytr, fte, yte, k=knn_k)},
    ]
    norm = code_normaliser(method, ztr)
    for row in retrieval_rows(
        norm(zte), norm(ztr), yte, ytr, fraction=fraction, n_random=n_random, top_n=top_n, gen=gen
    ):
        rows.append({**base, **row})
    spectrum = estimate_spectrum(
        model, xtr, augment_cfg, gen, batches=spectrum_batches, batch_size=batch_size
    )
    for j, ev in enumerate(spectrum.cpu().tolist(), start=1):
        rows.append({**base, "metric": "eigenvalue", "dim": j, "value": ev})
    return rows


def _probe_row(base: dict, ftr, ytr, fte, yte, weight_decay: float, max_iter: int) -> dict:
    acc = linear_probe_accuracy(ftr, ytr, fte, yte, weight_decay=weight_decay, max_iter=max_iter)
    return {**base, "metric": "probe_accuracy", "value": acc}


def evaluate_random_init(
    model: torch.nn.Module,
    data: Mapping,
    seed: int,
    *,
    probe_weight_decay: float = 1e-4,
    probe_max_iter: int = 200,
) -> list[dict]:
    """The floor of the gate probe_above_random_init: the probe row of evaluate_model
    (same features, same probe) for an untrained ``model``, as method ``random_init``."""
    ftr, _ = extract(model, data["train_images"])
    fte, _ = extract(model, data["test_images"])
    base = {"stage": STAGE, "method": RANDOM_INIT, "seed": seed}
    ytr, yte = data["train_labels"], data["test_labels"]
    return [_probe_row(base, ftr, ytr, fte, yte, probe_weight_decay, probe_max_iter)]


# ----------------------------------------------------------------------------- claims


def _per_seed(df: pd.DataFrame, method: str, metric: str, **where) -> pd.Series:
    sel = (df.method == method) & (df.metric == metric)
    for col, val in where.items():
        sel &= df[col] == val
    return df[sel].groupby("seed")["value"].mean()


def retention(df: pd.DataFrame, method: str, k: int, full: int, variant: str) -> pd.Series:
    """Per seed: mAP with k outputs (``variant`` prefix or random) / mAP with all."""
    part = _per_seed(df, method, "map", k=k, variant=variant)
    whole = _per_seed(df, method, "map", k=full, variant="prefix")
    return (part / whole).dropna()


def _paired(a: pd.Series, b: pd.Series, what: str) -> list[float]:
    both = a.index.intersection(b.index)
    if len(both) == 0:
        raise ValueError(f"no common seeds for {what}")
    return (a.loc[both] - b.loc[both]).tolist()


def _baselines(metrics: pd.DataFrame, methods: list[str]) -> list[str]:
    """The baselines of ``methods`` (all but neuralef), checked to be in ``metrics``."""
    if "neuralef" not in methods or RANDOM_INIT in methods:
        raise ValueError(
            f"ssl_claims: methods must contain 'neuralef' and not {RANDOM_INIT!r}, got {methods}"
        )
    baselines = [m for m in methods if m != "neuralef"]
    if not baselines:
        raise ValueError("ssl_claims: no baseline method")
    missing = [m for m in methods if not (metrics.method == m).any()]
    if missing:
        raise ValueError(f"ssl_claims: no rows for method(s) {missing} in the metrics table")
    return baselines


def e2_claim(metrics, methods, baselines, threshold: float, scale: dict, gates) -> dict:
    """E2: NeuralEF's probe accuracy minus the best baseline's, per seed; ``gates(used)``
    gives the gates of the models ``used``."""
    probe = {m: _per_seed(metrics, m, "probe_accuracy") for m in methods}
    best = pd.concat([probe[m] for m in baselines], axis=1).max(axis=1)
    return evaluate_claim(
        claim_id="E2",
        statement="NeuralEF's linear probe accuracy is competitive with the baselines "
        f"({', '.join(baselines)})",
        metric="probe accuracy (%) of NeuralEF minus the best baseline, per seed",
        values=_paired(probe["neuralef"], best, "E2"),
        threshold=threshold,
        direction=">",
        scale=scale,
        gates=gates(methods),
    ) | {"variant": "vs_best_baseline"}


def e3_claims(
    metrics, baselines, k: int, full: int, min_retention, min_margin, scale: dict, gates
) -> list[dict]:
    """E3: the share of its full-length mAP NeuralEF keeps with its first ``k`` outputs,
    then its margin in that share over random k-subsets of its code and over each
    baseline's first k outputs."""
    own = retention(metrics, "neuralef", k, full, "prefix")
    claims = [
        evaluate_claim(
            claim_id="E3",
            statement=f"the first {k} of {full} NeuralEF outputs keep most of the full-length "
            "retrieval mAP@100",
            metric=f"mAP(first {k}) / mAP({full}), NeuralEF",
            values=own.tolist(),
            threshold=min_retention,
            direction=">",
            scale=scale,
            gates=gates(["neuralef"]),
        )
        | {"variant": "retention"}
    ]
    rivals = {"random_subsets": retention(metrics, "neuralef", k, full, "random")}
    rivals |= {m: retention(metrics, m, k, full, "prefix") for m in baselines}
    for name, other in rivals.items():
        what = "random k-subsets of NeuralEF's code" if name == "random_subsets" else name
        claims.append(
            evaluate_claim(
                claim_id="E3",
                statement=f"truncating to {k} of {full} outputs loses less mAP for NeuralEF "
                f"than for {what}",
                metric=f"mAP retention at k={k}: NeuralEF minus {what}, per seed",
                values=_paired(own, other, f"E3 vs {name}"),
                threshold=min_margin,
                direction=">",
                scale=scale,
                gates=gates(["neuralef"] if name == "random_subsets" else ["neuralef", name]),
            )
            | {"variant": f"vs_{name}"}
        )
    return claims


def ssl_claims(
    metrics: pd.DataFrame,
    *,
    methods: Sequence[str],
    full: int,
    fraction: int,
    e2_min_difference: float,
    e3_min_retention: float,
    e3_min_margin: float,
    min_loss_drop: float,
    min_probe_over_random_init: float,
    scale: dict,
) -> list[dict]:
    """E2: NeuralEF's probe accuracy minus the best baseline's, per seed (points, '>').
    E3: with the first full/fraction outputs NeuralEF keeps a share of its full-length
    mAP ('>' e3_min_retention), and keeps more of it than random subsets of its own code
    and than each baseline's first outputs ('>' e3_min_margin, per seed).

    ``methods``: the pretraining methods of the config (neuralef and the baselines); the
    table's ``random_init`` rows are the probe floor, never a baseline. Each row's gates
    cover the models it compares: ``training`` (their pretraining loss fell) and
    ``probe_above_random_init`` (their probe beats the same seed's untrained backbone)."""
    methods = list(methods)
    baselines = _baselines(metrics, methods)

    def gates(used: list[str]) -> list[Gate]:
        return [
            models_training_gate(metrics, used, min_loss_drop),
            probe_floor_gate(metrics, used, min_probe_over_random_init),
        ]

    k = full // fraction
    return [
        e2_claim(metrics, methods, baselines, e2_min_difference, scale, gates),
        *e3_claims(metrics, baselines, k, full, e3_min_retention, e3_min_margin, scale, gates),
    ]
