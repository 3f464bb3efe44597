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
apart (I3 under fgsm and under fgsm_isometry, I4 under pgd and autoattack), the cases of
the claims registry. A case without paired runs is skipped with a warning (the scorecard
shows it as ``not tested``).

Each row rests on four gates, measured in the run, for the two compared models (beta 0
and the reference beta, every seed): ``training`` and ``heldout_accuracy`` (from the
isometry stage's metric tables), ``gradient_masking`` (no failed check that concerns the
row's attack, repgeom.adversarial.checks) and ``eps_grid`` (the grid of the statistic has
enough eps where both models' mean robust accuracy lies inside a band: a grid on which
both are ~1 or both ~0 everywhere cannot tell them apart)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from repgeom.adversarial.checks import (
    checks_concerning,
    gradient_masking_checks,
    summarize_checks,
)
from repgeom.adversarial.evaluate import AA, MAIN
from repgeom.claims import Gate, evaluate_claim, write_claims
from repgeom.isometry.summary import model_gates, near_any
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


def _grid_rows(acc: pd.DataFrame, method: str, grid, kind: str) -> pd.DataFrame:
    """Accuracy rows of ``method`` on ``grid``: main subset for kind 'area', AutoAttack's
    subset for kind 'mean'."""
    subset = MAIN if kind == "area" else AA
    return acc[(acc["method"] == method) & (acc["subset"] == subset) & _on_grid(acc["eps"], grid)]


def per_seed_statistic(acc: pd.DataFrame, method: str, grid, kind: str) -> pd.Series:
    """Per (beta, seed): the curve's area over ``grid`` (kind 'area', main subset) or its
    mean accuracy over ``grid`` (kind 'mean', AutoAttack subset)."""
    sel = _grid_rows(acc, method, grid, kind)
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


def eps_grid_gate(
    acc: pd.DataFrame, method: str, grid, kind: str, betas, band, min_eps: int
) -> Gate:
    """``eps_grid``: the eps of ``grid`` where the mean robust accuracy over seeds of every
    model in ``betas`` lies inside ``band`` (inclusive); a beta without results there
    counts as outside."""
    sel = _grid_rows(acc, method, grid, kind)
    lo, hi = band
    inside = 0
    for eps in grid:
        at = sel[np.isclose(sel["eps"], eps, rtol=1e-9)]
        means = [at.loc[np.isclose(at["beta"], b), "value"].mean() for b in betas]
        inside += all(lo <= m <= hi for m in means)  # NaN compares False: outside
    what = (
        f"eps of the {len(grid)}-point grid where the mean robust accuracy of beta "
        f"{' and '.join(f'{b:g}' for b in betas)} both lie in [{lo:g}, {hi:g}]"
    )
    return Gate("eps_grid", inside, min_eps, ">=", what)


def masking_gate(checks: pd.DataFrame, dataset: str, betas, attack: str) -> Gate:
    """``gradient_masking``: failed checks that concern ``attack`` on ``dataset``'s models
    at ``betas`` (NaN when no check concerns it: nothing vouches for the attack)."""
    rel = checks_concerning(checks, attack)
    rel = rel[(rel["dataset"] == dataset) & near_any(rel["beta"], betas)]
    failed = rel[~rel["passed"].astype(bool)]
    names = ", ".join(sorted(set(failed["metric"])))
    what = f"failed gradient-masking checks concerning {attack}, of {len(rel)}" + (
        f": {names}" if names else ""
    )
    return Gate("gradient_masking", len(failed) if len(rel) else math.nan, 0, "<=", what)


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


def statistic_label(method: str, grid, kind: str, beta_ref: float) -> str:
    """The claim's ``metric``: what its per-seed statistic measures."""
    if kind == "area":
        return (
            f"normalised area under {method} robust accuracy vs log10(eps), "
            f"eps in [{min(grid):.3g}, {max(grid):.3g}] ({len(grid)} points), "
            f"beta={beta_ref:g} minus beta=0"
        )
    return f"mean {method} robust accuracy over eps {list(grid)}, beta={beta_ref:g} minus beta=0"


def dataset_claims(
    sub: pd.DataFrame,
    dataset: str,
    beta_ref: float,
    *,
    checks: pd.DataFrame,
    models: list[Gate],
    threshold: float,
    eps: list[float],
    aa_eps: list[float],
    scale: dict,
    gates: dict,
    log: logging.Logger,
) -> list[dict]:
    """Rows I3/I4 of one dataset (its accuracy rows ``sub``): reference beta against beta
    0, each gated on ``models`` (the two models' isometry-stage gates), the checks that
    concern its attack and its eps grid."""
    betas = (0.0, beta_ref)
    claims = []
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
        measured = [
            *models,
            masking_gate(checks, dataset, betas, method),
            eps_grid_gate(
                sub,
                method,
                grid,
                kind,
                betas,
                gates["adversarial_band"],
                gates["adversarial_min_discriminating_eps"],
            ),
        ]
        claims.append(
            {
                **evaluate_claim(
                    claim_id=claim_id,
                    statement=statement.format(aa_eps="/".join(f"{e:g}" for e in aa_eps))
                    + f" ({dataset}, beta={beta_ref:g} vs 0)",
                    metric=statistic_label(method, grid, kind, beta_ref),
                    values=values,
                    threshold=threshold,
                    direction=">",
                    scale={"dataset": dataset, **scale.get(dataset, {})},
                    gates=measured,
                ),
                "dataset": dataset,
                "attack": method,
            }
        )
    return claims


def adversarial_claims(
    metrics: pd.DataFrame,
    *,
    checks: pd.DataFrame,
    isometry: pd.DataFrame,
    reference_beta: dict[str, float],
    threshold: float,
    eps: list[float],
    aa_eps: list[float],
    scale: dict[str, dict],
    gates: dict,
    logger: logging.Logger | None = None,
) -> list[dict]:
    """Claims I3/I4 from the attack table ``metrics``, its gradient-masking ``checks`` and
    the isometry stage's per-model metrics ``isometry`` (losses, clean test accuracy);
    ``gates`` is the config's gates section."""
    log = logger or logging.getLogger("repgeom.adversarial")
    acc = metrics[metrics["metric"] == "accuracy"]
    claims = []
    for dataset in acc["dataset"].unique():
        if dataset not in reference_beta:
            log.warning("no reference beta for %s: no claims for it", dataset)
            continue
        beta_ref = float(reference_beta[dataset])
        claims += dataset_claims(
            acc[acc["dataset"] == dataset],
            dataset,
            beta_ref,
            checks=checks,
            models=model_gates(isometry, dataset, gates, betas=[0.0, beta_ref]),
            threshold=threshold,
            eps=eps,
            aa_eps=aa_eps,
            scale=scale,
            gates=gates,
            log=log,
        )
    return claims


def log_checks(checks: pd.DataFrame, log: logging.Logger) -> pd.DataFrame:
    """Log the checks' summary and a warning per failed check; return the failed rows."""
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
    return failed


def summarize_stage(
    metric_files: list[str],
    *,
    isometry_files: list[str],
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
    gates: dict,
    logger: logging.Logger | None = None,
) -> dict:
    """Merge the per-model tables, run the gradient-masking checks and the claims (gated
    with the checks and the isometry stage's per-model tables ``isometry_files``), write
    the three tables and report both in the log; returns counts for the provenance."""
    log = logger or logging.getLogger("repgeom.adversarial")
    metrics = write_metrics(read_metrics(metric_files), metrics_out)
    checks = gradient_masking_checks(metrics, tolerance=tolerance, zero_accuracy=zero_accuracy)
    write_metrics(checks, checks_out)
    failed = log_checks(checks, log)
    claims = adversarial_claims(
        metrics,
        checks=checks,
        isometry=read_metrics(isometry_files),
        reference_beta=reference_beta,
        threshold=threshold,
        eps=eps,
        aa_eps=aa_eps,
        scale=scale,
        gates=gates,
        logger=log,
    )
    table = write_claims(claims, claims_out)
    columns = ["claim_id", "mean", "ci_low", "ci_high", "n_seeds", "verdict"]
    log.info("claims:\n%s", table[columns].to_string(index=False))
    for c in claims:
        log.info(
            "%s %s %s: %s", c["claim_id"], c["dataset"], c["attack"], c["reason"] or c["gates"]
        )
    return {
        "n_runs": len(metric_files),
        "n_checks": len(checks),
        "n_failed_checks": len(failed),
        "claims": {c["claim_id"]: c["verdict"] for c in claims},
    }
