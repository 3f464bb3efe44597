"""Evaluation of a pretrained model and the claims E2 (linear probe) and E3 (NeuralEF's
ordered code reaches the baselines' retrieval quality with shorter prefixes).

The code a method retrieves with is its projector output in the form its loss sees it:
NeuralEF's psi (each output divided by its root mean square over the training set: the
loss is blind to that scale), Barlow Twins' per-output standardised z (blind to shift and
scale), and the raw z for SimCLR and the spectral contrastive loss (whose losses are not).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from repgeom.claims import Gate, evaluate_claim
from repgeom.eigenmaps.augment import AugmentConfig, augment, to_float
from repgeom.eigenmaps.gates import (
    FLOORS,
    RANDOM_INIT,
    RAW_PIXELS,
    levelled_rows,
    models_training_gate,
    probe_floor_gate,
)
from repgeom.eigenmaps.loss import neuralef_loss
from repgeom.eigenmaps.retrieval import (
    knn_accuracy,
    linear_probe_accuracy,
    mean_average_precision,
    prefix_grid,
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
    n_random: int,
    top_n: int,
    gen: torch.Generator,
) -> list[dict]:
    """mAP@top_n of the first k outputs for every k of ``prefix_grid`` (from the number
    of classes of the gallery to the full length), and the mean over ``n_random`` random
    k-subsets of the same code (k below full length)."""
    full = q.shape[1]
    n_classes = int(torch.unique(g_labels).numel())
    rows = []
    for k in prefix_grid(full, min(n_classes, full)):
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
        _probe_row(
            base, ftr, ytr, fte, yte, weight_decay=probe_weight_decay, max_iter=probe_max_iter
        ),
        {**base, "metric": "knn_accuracy", "value": knn_accuracy(ftr, ytr, fte, yte, k=knn_k)},
    ]
    norm = code_normaliser(method, ztr)
    for row in retrieval_rows(
        norm(zte), norm(ztr), yte, ytr, n_random=n_random, top_n=top_n, gen=gen
    ):
        rows.append({**base, **row})
    spectrum = estimate_spectrum(
        model, xtr, augment_cfg, gen, batches=spectrum_batches, batch_size=batch_size
    )
    for j, ev in enumerate(spectrum.cpu().tolist(), start=1):
        rows.append({**base, "metric": "eigenvalue", "dim": j, "value": ev})
    return rows


def _probe_row(base: dict, ftr, ytr, fte, yte, *, weight_decay: float, max_iter: int) -> dict:
    acc = linear_probe_accuracy(ftr, ytr, fte, yte, weight_decay=weight_decay, max_iter=max_iter)
    return {**base, "metric": "probe_accuracy", "value": acc}


def evaluate_floors(
    models: Mapping[int, torch.nn.Module],
    data: Mapping,
    *,
    probe_weight_decay: float = 1e-4,
    probe_max_iter: int = 200,
) -> list[dict]:
    """The probe floors the methods are reported beside: the probe row of evaluate_model
    (same probe) on the features of each seed's untrained model (method ``random_init``,
    the floor of the gate probe_above_random_init), and on the raw pixels (method
    ``raw_pixels``; seed-free, the probe is deterministic: one row, under the first
    seed)."""
    if not models:
        raise ValueError("evaluate_floors: no models")
    xtr, ytr = data["train_images"], data["train_labels"]
    xte, yte = data["test_images"], data["test_labels"]
    probe = {"weight_decay": probe_weight_decay, "max_iter": probe_max_iter}
    rows = []
    for seed, model in sorted(models.items()):
        ftr, _ = extract(model, xtr)
        fte, _ = extract(model, xte)
        base = {"stage": STAGE, "method": RANDOM_INIT, "seed": seed}
        rows.append(_probe_row(base, ftr, ytr, fte, yte, **probe))
    base = {"stage": STAGE, "method": RAW_PIXELS, "seed": min(models)}
    pixels = [to_float(x).flatten(1) for x in (xtr, xte)]
    rows.append(_probe_row(base, pixels[0], ytr, pixels[1], yte, **probe))
    return rows


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


def shortest_prefix(maps: pd.Series, target: float, ratio: float) -> float:
    """The shortest code length k (the index of ``maps``: mAP of the first k outputs)
    whose mAP reaches ``ratio`` x ``target``; inf when none does."""
    reached = maps[maps >= ratio * target]
    return float(reached.index.min()) if len(reached) else math.inf


def _prefix_maps(df: pd.DataFrame, method: str, seed) -> pd.Series:
    sel = (df.method == method) & (df.metric == "map") & (df.variant == "prefix")
    return df[sel & (df.seed == seed)].groupby("k")["value"].mean().sort_index()


def shortest_prefixes(df: pd.DataFrame, baseline: str, ratio: float) -> pd.DataFrame:
    """Per seed (both methods evaluated): the baseline's full-code mAP (``target``), the
    shortest prefix of NeuralEF's code and of the baseline's own that reaches ``ratio``
    x target (``k_neuralef``, ``k_baseline``; inf: never), and ``factor`` = k_baseline /
    k_neuralef (0 when NeuralEF's never reaches it): how many times shorter NeuralEF's
    code is at the baseline's full-code mAP."""
    rows = []
    seeds = sorted(set(df[df.method == "neuralef"].seed) & set(df[df.method == baseline].seed))
    for seed in seeds:
        own, other = _prefix_maps(df, "neuralef", seed), _prefix_maps(df, baseline, seed)
        if own.empty or other.empty:
            continue
        target = float(other.iloc[-1])
        k_own, k_other = (shortest_prefix(m, target, ratio) for m in (own, other))
        factor = 0.0 if math.isinf(k_own) else k_other / k_own
        rows.append(
            {"seed": seed, "target": target, "k_neuralef": k_own}
            | {"k_baseline": k_other, "factor": factor}
        )
    if not rows:
        raise ValueError(f"no seed with prefix mAP rows for both neuralef and {baseline}")
    return pd.DataFrame(rows).set_index("seed")


def _paired(a: pd.Series, b: pd.Series, what: str) -> list[float]:
    both = a.index.intersection(b.index)
    if len(both) == 0:
        raise ValueError(f"no common seeds for {what}")
    return (a.loc[both] - b.loc[both]).tolist()


def _baselines(metrics: pd.DataFrame, methods: list[str]) -> list[str]:
    """The baselines of ``methods`` (all but neuralef), checked to be in ``metrics``."""
    if "neuralef" not in methods or set(FLOORS) & set(methods):
        raise ValueError(
            f"ssl_claims: methods must contain 'neuralef' and none of {FLOORS}, got {methods}"
        )
    baselines = [m for m in methods if m != "neuralef"]
    if not baselines:
        raise ValueError("ssl_claims: no baseline method")
    missing = [m for m in methods if not (metrics.method == m).any()]
    if missing:
        raise ValueError(f"ssl_claims: no rows for method(s) {missing} in the metrics table")
    return baselines


def context_note(metrics: pd.DataFrame, methods: Sequence[str], levelled_max_share: float) -> str:
    """What E2/E3 rows are read beside: the probe floors (random-init backbone, raw
    pixels; mean over seeds) and, per method, in how many seeds the pretraining loss had
    levelled off (:func:`repgeom.eigenmaps.gates.last_tenth_share` below the bound)."""
    probe = metrics[metrics.metric == "probe_accuracy"]
    floors = []
    for name, label in ((RANDOM_INIT, "random-init backbone"), (RAW_PIXELS, "raw pixels")):
        acc = probe[probe.method == name]["value"]
        floors.append(f"{label} {acc.mean():.1f} %" if len(acc) else f"{label} not measured")
    shares = pd.DataFrame(levelled_rows(metrics, methods))
    levelled = []
    for method in methods:
        v = shares[shares.method == method]["value"] if len(shares) else pd.Series([], dtype=float)
        done = int((v < levelled_max_share).sum())
        worst = f"{v.max():.3f}" if len(v) and v.notna().all() else "n/a"
        levelled.append(f"{method} {done}/{len(v)} (max {worst})")
    return (
        f"probe floors: {', '.join(floors)}; loss levelled off (share of the loss drop in "
        f"the last tenth of steps < {levelled_max_share:g}): {', '.join(levelled)}"
    )


def e2_claim(metrics, methods, baselines, threshold: float, scale: dict, gates) -> dict:
    """E2: NeuralEF's probe accuracy minus the best baseline's, per seed; ``gates(used)``
    gives the gates of the models ``used``."""
    probe = {m: _per_seed(metrics, m, "probe_accuracy") for m in methods}
    best = pd.concat([probe[m] for m in baselines], axis=1).max(axis=1)
    return evaluate_claim(
        claim_id="E2",
        statement="NeuralEF's linear probe accuracy is competitive with the baselines "
        f"({', '.join(baselines)}); NeuralEF trained with the stop-gradient (ordered) loss, "
        "where the paper's probe numbers come from its variant without it",
        metric="probe accuracy (%) of NeuralEF minus the best baseline, per seed",
        values=_paired(probe["neuralef"], best, "E2"),
        threshold=threshold,
        direction=">",
        scale=scale,
        gates=gates(methods),
    ) | {"variant": "vs_best_baseline"}


def e3_claims(
    metrics, baselines, *, match_ratio, min_factor, min_margin, scale: dict, gates
) -> list[dict]:
    """E3 in the paper's relative form, per baseline: how many times shorter NeuralEF's
    prefix is than the baseline's own when both first reach ``match_ratio`` x the
    baseline's full-code mAP ('>' min_factor); and the ordering check: with the shortest
    length of the grid (the number of classes) NeuralEF's first outputs keep more of its
    full-code mAP than random subsets of its code of that length ('>' min_margin)."""
    ks = sorted(metrics[(metrics.method == "neuralef") & (metrics.metric == "map")].k.unique())
    k, full = int(ks[0]), int(ks[-1])
    own = retention(metrics, "neuralef", k, full, "prefix")
    rand = retention(metrics, "neuralef", k, full, "random")
    claims = [
        evaluate_claim(
            claim_id="E3",
            statement=f"NeuralEF's first {k} of {full} outputs keep more of its full-length "
            f"retrieval mAP@100 than random {k} of its outputs",
            metric=f"mAP retention at k={k}: NeuralEF's first k minus random k-subsets, per seed",
            values=_paired(own, rand, "E3 vs random subsets"),
            threshold=min_margin,
            direction=">",
            scale=scale,
            gates=gates(["neuralef"]),
        )
        | {"variant": "vs_random_subsets"}
    ]
    for name in baselines:
        table = shortest_prefixes(metrics, name, match_ratio)
        ks_text = ", ".join(
            f"seed {s}: {_k(r.k_neuralef)} vs {_k(r.k_baseline)}" for s, r in table.iterrows()
        )
        claims.append(
            evaluate_claim(
                claim_id="E3",
                statement=f"NeuralEF's code reaches {name}'s full-length ({full}) mAP@100 "
                f"(within {match_ratio:g}x) with a prefix more than {min_factor:g}x shorter "
                f"than {name}'s own shortest such prefix (k: NeuralEF vs {name}, {ks_text})",
                metric=f"k({name}) / k(NeuralEF), the shortest prefixes (k >= {k}) reaching "
                f"{match_ratio:g} x {name}'s full-code mAP, per seed (0: NeuralEF never does)",
                values=table["factor"].tolist(),
                threshold=min_factor,
                direction=">",
                scale=scale,
                gates=gates(["neuralef", name]),
            )
            | {"variant": f"vs_{name}"}
        )
    return claims


def _k(value: float) -> str:
    return "never" if math.isinf(value) else str(int(value))


def ssl_claims(
    metrics: pd.DataFrame,
    *,
    methods: Sequence[str],
    e2_min_difference: float,
    e3_match_ratio: float,
    e3_min_factor: float,
    e3_min_margin: float,
    levelled_max_share: float,
    min_loss_drop: float,
    min_probe_over_random_init: float,
    scale: dict,
) -> list[dict]:
    """E2: NeuralEF's probe accuracy minus the best baseline's, per seed (points, '>').
    E3: per baseline, the shortest NeuralEF prefix reaching the baseline's full-code mAP
    (within ``e3_match_ratio``) is more than ``e3_min_factor`` times shorter than the
    baseline's own; and NeuralEF's first outputs beat random subsets of its code at the
    shortest length ('>' e3_min_margin, per seed). Every row carries ``detail`` (the
    probe floors and whether each loss had levelled off, :func:`context_note`), also
    appended to its reason.

    ``methods``: the pretraining methods of the config (neuralef and the baselines); the
    table's ``random_init`` and ``raw_pixels`` rows are probe floors, never a baseline.
    Each row's gates cover the models it compares: ``training`` (their pretraining loss
    fell) and ``probe_above_random_init`` (their probe beats the same seed's untrained
    backbone)."""
    methods = list(methods)
    baselines = _baselines(metrics, methods)

    def gates(used: list[str]) -> list[Gate]:
        return [
            models_training_gate(metrics, used, min_loss_drop),
            probe_floor_gate(metrics, used, min_probe_over_random_init),
        ]

    rows = [
        e2_claim(metrics, methods, baselines, e2_min_difference, scale, gates),
        *e3_claims(
            metrics,
            baselines,
            match_ratio=e3_match_ratio,
            min_factor=e3_min_factor,
            min_margin=e3_min_margin,
            scale=scale,
            gates=gates,
        ),
    ]
    note = context_note(metrics, methods, levelled_max_share)
    # the note follows the verdict's reason (empty for a decided row) in the scorecard
    return [
        r | {"detail": note, "reason": "; ".join(filter(None, [r["reason"], note]))} for r in rows
    ]
