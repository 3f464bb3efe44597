"""Claims I3 and I4 from the tidy accuracy table (per seed, reference beta minus beta=0):

- I3: the FGSM robustness curve shifts to larger eps with beta. Statistic: normalised
  area under robust accuracy against log10(eps) over the paper's grid (the mean accuracy
  over the log grid, trapezoid rule), reference beta minus beta = 0.
- I3 (attack fgsm_isometry): the same under the authors' variant (attack loss with
  the isometry term).
- I4 (attack pgd): the same area statistic under PGD-40.
- I4 (attack autoattack): mean over the AutoAttack epsilons of the robust-accuracy difference.

Claims are evaluated per dataset with that dataset's reference beta. As in the isometry
stage, claim ids stay I3/I4; the extra columns ``dataset`` and ``attack`` tell the rows
apart (I3 under fgsm and under fgsm_isometry, I4 under pgd and autoattack)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from repgeom.adversarial.checks import gradient_masking_checks, summarize_checks
from repgeom.adversarial.evaluate import AA, MAIN
from repgeom.claims import evaluate_claim, write_claims
from repgeom.metrics import read_metrics, write_metrics


def robustness_area(eps: np.ndarray, accuracy: np.ndarray) -> float:
    """Normalised area under accuracy vs log10(eps): trapezoid / log10 range."""
    order = np.argsort(eps)
    t = np.log10(np.asarray(eps, dtype=float)[order])
    a = np.asarray(accuracy, dtype=float)[order]
    if len(t) < 2 or t[-1] == t[0]:
        raise ValueError("robustness_area needs at least two distinct eps")
    return float(np.sum((t[1:] - t[:-1]) * (a[1:] + a[:-1]) / 2) / (t[-1] - t[0]))


def _on_grid(eps: pd.Series, grid) -> pd.Series:
    return eps.apply(lambda e: any(math.isclose(e, g, rel_tol=1e-9) for g in grid))


def per_seed_statistic(acc: pd.DataFrame, method: str, grid, kind: str) -> pd.Series:
    """Per (beta, seed): the curve's area over ``grid`` (kind 'area', main subset) or its
    mean accuracy over ``grid`` (kind 'mean', AutoAttack subset)."""
    subset = MAIN if kind == "area" else AA
    sel = acc[(acc["method"] == method) & (acc["subset"] == subset) & _on_grid(acc["eps"], grid)]
    out = {}
    for (beta, seed), g in sel.groupby(["beta", "seed"]):
        if g["eps"].nunique() < len(grid):
            continue  # incomplete curve: no statistic
        if kind == "area":
            out[(beta, seed)] = robustness_area(g["eps"].to_numpy(), g["value"].to_numpy())
        else:
            out[(beta, seed)] = float(g["value"].mean())
    return pd.Series(out, dtype=float)


def paired_gain(stat: pd.Series, beta_ref: float) -> list[float]:
    """stat(beta_ref, seed) - stat(0, seed) over the seeds that have both."""
    if stat.empty:
        return []
    betas = stat.index.get_level_values(0)
    ref = stat[np.isclose(betas, beta_ref)].droplevel(0)
    zero = stat[np.isclose(betas, 0.0)].droplevel(0)
    common = sorted(set(ref.index) & set(zero.index))
    return [float(ref[s] - zero[s]) for s in common]


CLAIMS = (
    ("I3", "fgsm", "area", "the FGSM robustness curve shifts to larger eps with beta"),
    (
        "I3",
        "fgsm_isometry",
        "area",
        "the FGSM robustness curve shifts to larger eps with beta, under the authors' variant "
        "attack (attack loss = cross-entropy + beta*isometry term)",
    ),
    ("I4", "pgd", "area", "the robustness gain persists under real PGD-40 (random start)"),
    (
        "I4",
        "autoattack",
        "mean",
        "the robustness gain persists under AutoAttack (standard, L-inf) at eps = {aa_eps}",
    ),
)


def adversarial_claims(
    metrics: pd.DataFrame,
    *,
    reference_beta: dict[str, float],
    threshold: float,
    eps: list[float],
    aa_eps: list[float],
    scale: dict[str, dict],
    logger: logging.Logger | None = None,
) -> list[dict]:
    log = logger or logging.getLogger("repgeom.adversarial")
    acc = metrics[metrics["metric"] == "accuracy"]
    claims = []
    for dataset in acc["dataset"].unique():
        if dataset not in reference_beta:
            log.warning("no reference beta for %s: no claims for it", dataset)
            continue
        beta_ref = float(reference_beta[dataset])
        sub = acc[acc["dataset"] == dataset]
        for claim_id, method, kind, statement in CLAIMS:
            grid = eps if kind == "area" else aa_eps
            values = paired_gain(per_seed_statistic(sub, method, grid, kind), beta_ref)
            if not values:
                log.warning(
                    "claim %s (%s): no paired runs of beta=0 and beta=%g under %s; skipped",
                    claim_id,
                    dataset,
                    beta_ref,
                    method,
                )
                continue
            metric = (
                f"normalised area under {method} robust accuracy vs log10(eps), "
                f"eps in [{min(grid):.3g}, {max(grid):.3g}] ({len(grid)} points), "
                f"beta={beta_ref:g} minus beta=0"
                if kind == "area"
                else f"mean {method} robust accuracy over eps {list(grid)}, "
                f"beta={beta_ref:g} minus beta=0"
            )
            claims.append(
                {
                    **evaluate_claim(
                        claim_id=claim_id,
                        statement=statement.format(aa_eps="/".join(f"{e:g}" for e in aa_eps))
                        + f" ({dataset}, beta={beta_ref:g} vs 0)",
                        metric=metric,
                        values=values,
                        threshold=threshold,
                        direction=">",
                        scale={"dataset": dataset, **scale.get(dataset, {})},
                    ),
                    "dataset": dataset,
                    "attack": method,
                }
            )
    return claims


def summarize_stage(
    metric_files: list[str],
    *,
    metrics_out: str,
    checks_out: str,
    claims_out: str,
    reference_beta: dict[str, float],
    threshold: float,
    eps: list[float],
    aa_eps: list[float],
    tolerance: float,
    zero_accuracy: float,
    scale: dict[str, dict],
    logger: logging.Logger | None = None,
) -> dict:
    """Merge the per-model tables, run the gradient-masking checks and the claims, write
    the three tables and report both in the log; returns counts for the provenance."""
    log = logger or logging.getLogger("repgeom.adversarial")
    metrics = write_metrics(read_metrics(metric_files), metrics_out)
    checks = gradient_masking_checks(metrics, tolerance=tolerance, zero_accuracy=zero_accuracy)
    write_metrics(checks, checks_out)
    summary = summarize_checks(checks)
    log.info(
        "gradient-masking checks (passed/total per check and attack):\n%s",
        summary.to_string(index=False),
    )
    failed = checks[~checks["passed"].astype(bool)]
    for r in failed.itertuples():
        log.warning(
            "CHECK FAILED %s [%s] %s beta=%g seed=%d eps=%.4g: value %.4f (tolerance %.4g): %s",
            r.metric,
            r.method,
            r.dataset,
            r.beta,
            r.seed,
            r.eps,
            r.value,
            r.tolerance,
            r.statement,
        )
    claims = adversarial_claims(
        metrics,
        reference_beta=reference_beta,
        threshold=threshold,
        eps=eps,
        aa_eps=aa_eps,
        scale=scale,
        logger=log,
    )
    table = write_claims(claims, claims_out)
    log.info(
        "claims:\n%s",
        table[["claim_id", "mean", "ci_low", "ci_high", "n_seeds", "verdict"]].to_string(
            index=False
        ),
    )
    return {
        "n_runs": len(metric_files),
        "n_checks": len(checks),
        "n_failed_checks": len(failed),
        "claims": {c["claim_id"]: c["verdict"] for c in claims},
    }
