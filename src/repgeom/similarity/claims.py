"""Claims S1-S4 of the similarity stage, from its tidy metric table (one value per seed,
verdicts from the 95% t-CI over seeds, repgeom.claims), each with the validity gates the
claims registry declares for it:

- S1: ``training`` of every toy MLP (each frequency and seed);
- S2, S3: ``training`` and ``registration_floor`` of the registration models analysed (and
  of the sigma = 0 models, from the registration stage's tables), and ``density_exact``:
  the O(n p) density against the brute-force check of the analysis job, worst seed;
- S4 (the paper's -cos term) and S4c (the authors' code's +cos term): ``training`` and
  ``heldout_accuracy`` (final validation accuracy minus chance) of the baseline and of
  the variant, every seed, and ``similarity_term_effect``: the term moved same-class
  gradient similarity the way its sign means to, every seed. The row's reason states
  what the run found (cosines and steps), in the paper's terms.

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
                min_r2=gates["registration_min_r2"],
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


# variant -> (claim, statement, the direction its term moves same-class similarity)
S4_CASES = {
    "minus_cos": (
        "S4",
        "the paper's term (-cos, enforcing same-class gradient similarity) speeds up early "
        "training on MNIST",
        +1.0,
    ),
    "plus_cos": (
        "S4c",
        "the authors' code's term (+cos, which lowers same-class gradient similarity) speeds "
        "up early training on MNIST",
        -1.0,
    ),
}


def cosine_shifts(metrics: pd.DataFrame, variant: str) -> pd.DataFrame:
    """Per seed: the run-mean same-class pair-gradient cosine of the baseline and of
    ``variant`` (columns baseline, variant)."""
    df = _rows(metrics, "mean_gradient_cosine", method="small_cnn")
    wide = df.pivot_table(index="seed", columns="variant", values="value")
    if "baseline" not in wide or variant not in wide:
        return pd.DataFrame(columns=["baseline", "variant"])
    return wide[["baseline", variant]].dropna().set_axis(["baseline", "variant"], axis=1)


def term_effect_gate(cosines: pd.DataFrame, direction: float, min_shift: float) -> Gate:
    """``similarity_term_effect``: the term moved the same-class gradient cosine the way
    it is meant to (up for -cos, down for +cos) in every seed; worst seed's shift
    (variant - baseline) x direction (NaN, failing, without the cosines)."""
    shifts = (cosines["variant"] - cosines["baseline"]) * direction
    way = "raised" if direction > 0 else "lowered"
    what = f"run-mean same-class gradient cosine {way} by the term, worst seed"
    return Gate.worst("similarity_term_effect", shifts.to_numpy(), min_shift, ">", what)


def s4_finding(row: dict, cosines: pd.DataFrame, direction: float) -> str:
    """What the run found, in the paper's terms: what the term did to same-class gradient
    similarity and to the steps to the target."""
    b, v = cosines["baseline"].mean(), cosines["variant"].mean()
    way = "raised" if v > b else "lowered"
    agree = int(((cosines["variant"] - cosines["baseline"]) * direction > 0).sum())
    speed = "fewer" if row["mean"] > 0 else "more"
    text = (
        f"the term {way} the same-class gradient cosine to {v:.2f} (baseline {b:.2f}; the "
        f"intended way in {agree} of {len(cosines)} seeds) and training took "
        f"{abs(row['mean']):.1f} {speed} steps"
    )
    if row["ci_high"] < 0 and direction > 0:
        text += "; raising similarity slowed training, which contradicts the paper's mechanism"
    if row["ci_low"] > 0 and direction < 0:
        text += "; the speed-up comes with lower similarity, the opposite of the paper's mechanism"
    return text


def s4_claims(
    metrics, min_speedup: float, target_accuracy: float, gates, scale, logger
) -> list[dict]:
    """S4 (the paper's -cos term) and S4c (the authors' code's +cos term): the variant
    reaches the target accuracy in fewer steps than the baseline (paired by seed). Each
    row's reason says what the term did to same-class gradient similarity, measured."""
    claims = []
    steps = _rows(metrics, "steps_to_target", method="small_cnn")
    variants = [v for v in dict.fromkeys(steps.get("variant", [])) if v in S4_CASES]
    for variant in variants:
        claim_id, statement, direction = S4_CASES[variant]
        vals = s4_values(metrics, variant)
        if not vals:
            what = "no paired baseline steps_to_target rows"
            _missing(logger, claim_id, f"variant={variant}", what)
            continue
        cosines = cosine_shifts(metrics, variant)
        row = evaluate_claim(
            claim_id=claim_id,
            statement=statement,
            metric=f"steps to {target_accuracy:g} val. accuracy, baseline minus {variant}",
            values=vals,
            threshold=min_speedup,
            direction=">",
            scale=_scale_of(scale, "enforce"),
            gates=[
                *s4_gates(metrics, variant, gates),
                term_effect_gate(cosines, direction, gates["similarity_min_cosine_shift"]),
            ],
        )
        if row["verdict"] != "invalid":
            row["reason"] = "; ".join(
                filter(None, [row["reason"], s4_finding(row, cosines, direction)])
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
    """One row for S1, one per (noise, sigma) for S2 and S3, S4 (-cos) and S4c (+cos).
    ``registration``: the registration stage's tables of the models analysed and of the
    sigma = 0 models (their training and floor gates); ``gates``: the config's gates
    section (min_loss_drop, min_accuracy_over_chance, registration_min_r2,
    registration_max_floor_px,
    similarity_max_density_error)."""
    logger = logger or LOGGER
    return [
        *s1_claims(metrics, s1_max_slope, gates, scale, logger),
        *s2_s3_claims(
            metrics, registration, s2_max_spearman, s3_min_spearman, gates, scale, logger
        ),
        *s4_claims(metrics, s4_min_speedup, target_accuracy, gates, scale, logger),
    ]
