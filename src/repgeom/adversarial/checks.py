"""Sanity checks against gradient masking (Carlini et al. 2019, "On evaluating
adversarial robustness"), computed from the tidy accuracy table, one row per check:

- monotone: robust accuracy does not rise with eps (beyond ``tolerance``), per attack;
- reaches_zero: at the largest eps of the grid robust accuracy is at most ``zero_accuracy``;
- pgd_vs_fgsm: multi-step PGD is at least as strong as FGSM at each eps (same loss);
- autoattack_vs_pgd: AutoAttack is at least as strong as PGD-40 on the same points;
- square_vs_whitebox: the black-box Square attack is not stronger than the best
  white-box attack (PGD, AutoAttack) on the same points; when AutoAttack's ensemble ends
  with Square, also: its Square part breaks no more than ``tolerance`` of the points its
  white-box parts left robust (AutoAttack's own sign of gradient masking).

The table has the tidy metric columns (stage, method, seed, metric, value) with
metric = the check's name, method = the attack checked, plus dataset, beta, eps,
tolerance, passed and a statement; a failing check is a result, not an error.

A claim under one attack rests on the checks that concern that attack
(``checks_concerning``): those whose ``method`` is the attack, and square_vs_whitebox for
the white-box attacks it compares Square with (PGD, AutoAttack): a black-box attack
beating them means their gradients are masked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repgeom.adversarial.evaluate import AA, MAIN, STAGE, WHITEBOX

CURVE_ATTACKS = ("fgsm", "pgd", "fgsm_isometry", "pgd_isometry")
PAIRS = (("pgd", "fgsm"), ("pgd_isometry", "fgsm_isometry"))
GROUP = ["dataset", "beta", "seed"]


def _accuracy(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["metric"] == "accuracy"]


def _curve(acc: pd.DataFrame, method: str, subset: str) -> pd.Series:
    sel = acc[(acc["method"] == method) & (acc["subset"] == subset)]
    return sel.groupby("eps")["value"].mean().sort_index()


def _match(a: pd.Series, b: pd.Series) -> list[tuple[float, float, float]]:
    """(eps, a, b) at the eps values both curves share (within float noise)."""
    out = []
    for eps, va in a.items():
        hit = [vb for eb, vb in b.items() if np.isclose(eps, eb, rtol=1e-9, atol=1e-12)]
        if hit:
            out.append((float(eps), float(va), float(hit[0])))
    return out


def _check(check, method, eps, value, passed, statement, tol) -> dict:
    """One check's row, without the (stage, dataset, beta, seed) it belongs to."""
    return {
        "method": method,
        "metric": check,
        "eps": eps,
        "value": float(value),
        "tolerance": float(tol),
        "passed": bool(passed),
        "statement": statement,
    }


def curve_checks(group: pd.DataFrame, tolerance: float, zero_accuracy: float) -> list[dict]:
    """monotone and reaches_zero of each attack's robust-accuracy curve over eps."""
    rows = []
    for method in CURVE_ATTACKS:
        curve = _curve(group, method, MAIN)
        if len(curve) < 2:
            continue
        rises = np.diff(curve.to_numpy())
        worst = int(np.argmax(rises))
        rows.append(
            _check(
                "monotone",
                method,
                float(curve.index[worst + 1]),
                rises[worst],
                rises[worst] <= tolerance,
                "largest rise of robust accuracy between consecutive eps (<= tolerance)",
                tolerance,
            )
        )
        rows.append(
            _check(
                "reaches_zero",
                method,
                float(curve.index[-1]),
                curve.iloc[-1],
                curve.iloc[-1] <= zero_accuracy,
                "robust accuracy at the largest eps (<= zero_accuracy)",
                zero_accuracy,
            )
        )
    return rows


def strength_checks(group: pd.DataFrame, tolerance: float) -> list[dict]:
    """pgd_vs_fgsm, autoattack_vs_pgd and square_vs_whitebox: a stronger attack leaves no
    more accuracy than a weaker one at each eps both were run at."""
    rows = []
    for strong, weak in PAIRS:
        for eps, a, b in _match(_curve(group, strong, MAIN), _curve(group, weak, MAIN)):
            rows.append(
                _check(
                    f"{strong}_vs_{weak}",
                    strong,
                    eps,
                    a - b,
                    a - b <= tolerance,
                    f"accuracy under {strong} minus under {weak} (<= tolerance)",
                    tolerance,
                )
            )
    pgd_aa = _curve(group, "pgd", AA)
    aa = _curve(group, "autoattack", AA)
    for eps, a, b in _match(aa, pgd_aa):
        rows.append(
            _check(
                "autoattack_vs_pgd",
                "autoattack",
                eps,
                a - b,
                a - b <= tolerance,
                "accuracy under AutoAttack minus under PGD on the same points (<= tolerance)",
                tolerance,
            )
        )
    for eps, sq, wb in _match(_curve(group, "square", AA), pgd_aa):
        hit = [v for e, v in aa.items() if np.isclose(e, eps)]
        best = min([wb, *hit])
        rows.append(
            _check(
                "square_vs_whitebox",
                "square",
                eps,
                sq - best,
                sq - best >= -tolerance,
                "accuracy under Square minus under the best white-box attack (>= -tolerance)",
                tolerance,
            )
        )
    for eps, ens, wb in _match(aa, _curve(group, WHITEBOX, AA)):
        rows.append(
            _check(
                "square_vs_whitebox",
                "square",
                eps,
                ens - wb,
                ens - wb >= -tolerance,
                "accuracy after AutoAttack's Square part minus after its white-box parts "
                "(>= -tolerance)",
                tolerance,
            )
        )
    return rows


def gradient_masking_checks(
    metrics: pd.DataFrame, *, tolerance: float, zero_accuracy: float
) -> pd.DataFrame:
    """The checks of the module docstring for each (dataset, beta, seed) of ``metrics``."""
    rows: list[dict] = []
    acc = _accuracy(metrics)
    for key, group in acc.groupby(GROUP, sort=True):
        base = {"stage": STAGE, **dict(zip(GROUP, key, strict=True))}
        checks = [
            *curve_checks(group, tolerance, zero_accuracy),
            *strength_checks(group, tolerance),
        ]
        rows.extend({**base, **check} for check in checks)
    columns = [*base_columns(), "eps", "tolerance", "passed", "statement"]
    return pd.DataFrame(rows, columns=columns)


# Checks that vouch for other attacks than their ``method``.
CHECK_CONCERNS = {"square_vs_whitebox": ("pgd", "autoattack")}


def checks_concerning(checks: pd.DataFrame, attack: str) -> pd.DataFrame:
    """The rows of ``checks`` whose result concerns ``attack``'s robust accuracies."""
    concerns = [
        method == attack or attack in CHECK_CONCERNS.get(check, ())
        for check, method in zip(checks["metric"], checks["method"], strict=True)
    ]
    return checks[np.asarray(concerns, dtype=bool)]


def base_columns() -> list[str]:
    return ["stage", "method", "seed", "metric", "value", *[c for c in GROUP if c != "seed"]]


def summarize_checks(checks: pd.DataFrame) -> pd.DataFrame:
    """Per check and attack: how many passed out of how many, and the worst value."""
    if checks.empty:
        return pd.DataFrame(columns=["metric", "method", "n", "n_failed", "worst"])
    out = []
    for (check, method), g in checks.groupby(["metric", "method"], sort=True):
        worst = g["value"].min() if check == "square_vs_whitebox" else g["value"].max()
        out.append(
            {
                "metric": check,
                "method": method,
                "n": len(g),
                "n_failed": int((~g["passed"].astype(bool)).sum()),
                "worst": float(worst),
            }
        )
    return pd.DataFrame(out)
