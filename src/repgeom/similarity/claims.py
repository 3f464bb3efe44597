"""Claims S1-S4 of the similarity stage, from its tidy metric table (one value per seed,
verdicts from the 95% t-CI over seeds, repgeom.claims), each with the validity gates the
claims registry declares for it:

- S1: ``training`` of every toy MLP (each frequency and seed);
- S2, S3: ``training`` and ``registration_floor`` of the registration models analysed (and
  of the sigma = 0 models, from the registration stage's tables), and ``density_exact``:
  the O(n p) density against the brute-force check of the analysis job, worst seed;
- S4: ``training`` and ``heldout_accuracy`` (final validation accuracy minus chance) of the
  baseline and of the variant, every seed.

A claim whose values are missing from the table gets no row and a warning naming it: the
scorecard then reports the case as ``not tested``."""

from __future__ import annotations

import logging

import pandas as pd

from repgeom.claims import Gate, evaluate_claim
from repgeom.gate_inputs import heldout_accuracy_gate, training_gate_of
from repgeom.registration.evaluate import registration_gates
from repgeom.similarity.toy import log_frequency_slope

LOGGER = logging.getLogger("repgeom.similarity")


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


def density_gate(group: pd.DataFrame, max_error: float) -> Gate:
    """``density_exact`` over the seeds of one (noise, sigma): the worst seed's max
    relative error of the O(n p) density against the brute-force check."""
    errors = _rows(group, "density_check_max_rel_error")["value"]
    samples = _rows(group, "density_check_samples")["value"]
    what = (
        f"max relative error of the O(n p) density vs brute force on {samples.min():g} "
        f"samples, worst of {len(errors)} seeds"
        if len(samples)
        else "max relative error of the O(n p) density vs brute force: not measured"
    )
    return Gate.worst("density_exact", errors, max_error, "<=", what)


def s4_gates(metrics: pd.DataFrame, variant: str, gates: dict) -> list[Gate]:
    """``training`` and ``heldout_accuracy`` of the baseline and ``variant`` networks (every
    seed): final validation accuracy minus chance of the worst one."""
    models = metrics[
        (metrics["method"] == "small_cnn") & metrics["variant"].isin(["baseline", variant])
    ]
    keys = ["variant", "seed"]
    return [
        training_gate_of(models, keys, gates["min_loss_drop"], f"baseline and {variant} CNNs"),
        heldout_accuracy_gate(
            models,
            keys,
            "final_val_accuracy",
            gates["min_accuracy_over_chance"],
            f"final validation accuracy of the baseline and {variant} CNNs",
        ),
    ]


def _missing(logger: logging.Logger, claim_id: str, case: str, what: str) -> None:
    logger.warning(
        "claim %s (%s): %s in the metrics, no row (the scorecard shows it not tested)",
        claim_id,
        case,
        what,
    )


def _scale_of(scale: dict, prefix: str) -> dict:
    return {k: v for k, v in scale.items() if k.startswith(prefix)}


def s1_claims(metrics, max_slope: float, gates: dict, scale: dict, logger) -> list[dict]:
    """S1 over the toy MLPs: the density falls as the frequency rises (no row if unmeasured)."""
    values = s1_values(metrics)
    if not values:
        _missing(logger, "S1", "toy", "no toy density_mean rows")
        return []
    toy = metrics[metrics["method"] == "toy_mlp"]
    training = training_gate_of(toy, ["frequency", "seed"], gates["min_loss_drop"], "toy MLPs")
    return [
        evaluate_claim(
            claim_id="S1",
            statement="the density N_S of similar samples falls as the toy's frequency rises",
            metric="slope of log mean N_S vs log2 f",
            values=values,
            threshold=max_slope,
            direction="<",
            scale=_scale_of(scale, "toy"),
            gates=[training],
        )
    ]


def s2_s3_claims(
    metrics, registration, max_spearman: float, min_spearman: float, gates, scale, logger
) -> list[dict]:
    """S2 and S3 for each (noise, sigma) of the registration models analysed, each with the
    registration gates of that case and its ``density_exact`` gate."""
    claims = []
    reg = metrics[metrics["method"] == "registration_cnn"]
    reg_scale = _scale_of(scale, "registration")
    for (noise, sigma), g in reg.groupby(["noise", "sigma"], sort=True):
        extra = {"noise": noise, "sigma": float(sigma)}
        case_gates = [
            *registration_gates(
                registration,
                noise,
                float(sigma),
                min_loss_drop=gates["min_loss_drop"],
                max_floor_px=gates["registration_max_floor_px"],
            ),
            density_gate(g, gates["similarity_max_density_error"]),
        ]
        for cid, metric, label, thr, direction, statement in (
            (
                "S2",
                "spearman_density_error",
                "Spearman(N_S, |f_sigma - f_0|) over training samples",
                max_spearman,
                "<",
                "on registration, the noise-induced error |f_sigma - f_0| falls as the "
                "density rises",
            ),
            (
                "S3",
                "spearman_predicted_measured",
                "Spearman(kernel-predicted, |f_sigma - f_0| / noise rms) over samples",
                min_spearman,
                ">",
                "the denoising factor predicted from the kernel tracks the measured one",
            ),
        ):
            vals = g.loc[g["metric"] == metric].sort_values("seed")["value"].tolist()
            if not vals:
                _missing(logger, cid, f"noise={noise}, sigma={sigma:g}", f"no {metric} rows")
                continue
            row = evaluate_claim(
                claim_id=cid,
                statement=statement,
                metric=label,
                values=vals,
                threshold=thr,
                direction=direction,
                scale={**reg_scale, "noise": noise, "sigma": sigma},
                gates=case_gates,
            )
            claims.append({**row, **extra})
    return claims


def s4_claims(
    metrics, min_speedup: float, target_accuracy: float, gates, scale, logger
) -> list[dict]:
    """S4 for each variant with paired baseline steps: the similarity-enforcing term
    reaches the target accuracy in fewer steps."""
    claims = []
    steps = _rows(metrics, "steps_to_target", method="small_cnn")
    variants = [v for v in dict.fromkeys(steps.get("variant", [])) if v != "baseline"]
    for variant in variants:
        vals = s4_values(metrics, variant)
        if not vals:
            _missing(logger, "S4", f"variant={variant}", "no paired baseline steps_to_target rows")
            continue
        row = evaluate_claim(
            claim_id="S4",
            statement="the similarity-enforcing term speeds up early training on MNIST",
            metric=f"steps to {target_accuracy:g} val. accuracy, baseline minus {variant}",
            values=vals,
            threshold=min_speedup,
            direction=">",
            scale=_scale_of(scale, "enforce"),
            gates=s4_gates(metrics, variant, gates),
        )
        claims.append({**row, "variant": variant})
    return claims


def similarity_claims(
    metrics: pd.DataFrame,
    *,
    registration: pd.DataFrame,
    s1_max_slope: float,
    s2_max_spearman: float,
    s3_min_spearman: float,
    s4_min_speedup: float,
    target_accuracy: float,
    gates: dict,
    scale: dict,
    logger: logging.Logger | None = None,
) -> list[dict]:
    """One row for S1, one per (noise, sigma) for S2 and S3, one per variant for S4.
    ``registration``: the registration stage's tables of the models analysed and of the
    sigma = 0 models (their training and floor gates); ``gates``: the config's gates
    section (min_loss_drop, min_accuracy_over_chance, registration_max_floor_px,
    similarity_max_density_error)."""
    logger = logger or LOGGER
    return [
        *s1_claims(metrics, s1_max_slope, gates, scale, logger),
        *s2_s3_claims(
            metrics, registration, s2_max_spearman, s3_min_spearman, gates, scale, logger
        ),
        *s4_claims(metrics, s4_min_speedup, target_accuracy, gates, scale, logger),
    ]
