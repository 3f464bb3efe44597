"""Claims S1-S4 of the similarity stage, from its tidy metric table (one value per seed,
verdicts from the 95% t-CI over seeds, repgeom.claims)."""

from __future__ import annotations

import pandas as pd

from repgeom.claims import evaluate_claim
from repgeom.similarity.toy import log_frequency_slope


def _rows(metrics: pd.DataFrame, metric: str, **where) -> pd.DataFrame:
    df = metrics[metrics["metric"] == metric]
    for key, value in where.items():
        df = df[df[key] == value]
    return df


def s1_values(metrics: pd.DataFrame) -> list[float]:
    """Per seed: slope of log(mean N_S) against log2 f (negative: density falls with f)."""
    df = _rows(metrics, "density_mean", method="toy_mlp")
    return [
        log_frequency_slope(g["frequency"], g["value"]) for _, g in df.groupby("seed", sort=True)
    ]


def s4_values(metrics: pd.DataFrame, variant: str) -> list[float]:
    """Per seed: steps to the target accuracy of the baseline minus those of ``variant``
    (positive: the variant gets there sooner)."""
    df = _rows(metrics, "steps_to_target", method="small_cnn")
    wide = df.pivot_table(index="seed", columns="variant", values="value")
    if "baseline" not in wide or variant not in wide:
        return []
    return (wide["baseline"] - wide[variant]).dropna().tolist()


def similarity_claims(
    metrics: pd.DataFrame,
    *,
    s1_max_slope: float,
    s2_max_spearman: float,
    s3_min_spearman: float,
    s4_min_speedup: float,
    target_accuracy: float,
    scale: dict,
) -> list[dict]:
    """One row for S1, one per (noise, sigma) for S2 and S3, one per variant for S4."""
    claims = []
    toy_scale = {k: v for k, v in scale.items() if k.startswith("toy")}
    values = s1_values(metrics)
    if values:
        claims.append(
            evaluate_claim(
                claim_id="S1",
                statement="the density N_S of similar samples falls as the toy's frequency rises",
                metric="slope of log mean N_S vs log2 f",
                values=values,
                threshold=s1_max_slope,
                direction="<",
                scale=toy_scale,
            )
        )
    reg = metrics[metrics["method"] == "registration_cnn"]
    reg_scale = {k: v for k, v in scale.items() if k.startswith("registration")}
    for (noise, sigma), g in reg.groupby(["noise", "sigma"], sort=True):
        extra = {"noise": noise, "sigma": float(sigma)}
        for cid, metric, label, thr, direction, statement in (
            (
                "S2",
                "spearman_density_error",
                "Spearman(N_S, |error vs truth|) over training samples",
                s2_max_spearman,
                "<",
                "on registration, the error against the truth falls as the density rises",
            ),
            (
                "S3",
                "spearman_predicted_measured",
                "Spearman(kernel-predicted, measured error/noise ratio) over samples",
                s3_min_spearman,
                ">",
                "the denoising factor predicted from the kernel tracks the measured one",
            ),
        ):
            vals = g.loc[g["metric"] == metric].sort_values("seed")["value"].tolist()
            if not vals:
                continue
            row = evaluate_claim(
                claim_id=cid,
                statement=statement,
                metric=label,
                values=vals,
                threshold=thr,
                direction=direction,
                scale={**reg_scale, "noise": noise, "sigma": sigma},
            )
            claims.append({**row, **extra})
    enf_scale = {k: v for k, v in scale.items() if k.startswith("enforce")}
    for variant in ("plus_cos", "minus_cos"):
        vals = s4_values(metrics, variant)
        if not vals:
            continue
        row = evaluate_claim(
            claim_id="S4",
            statement="the similarity-enforcing term speeds up early training on MNIST",
            metric=f"steps to {target_accuracy:g} val. accuracy, baseline minus {variant}",
            values=vals,
            threshold=s4_min_speedup,
            direction=">",
            scale=enf_scale,
        )
        claims.append({**row, "variant": variant})
    return claims
