"""Claims record: each stage writes the paper claims it tests with the measured
mean, confidence interval over seeds, the validity gates its verdict rests on and
the verdict; the report assembles them into a scorecard. Which claims exist, their
paper, direction, bounds, cases and gates are declared once in the claims registry
(repgeom.registry).

A verdict comes from the CI over seeds against the threshold, and only when every
gate the registry declares for the claim was measured in the run and passed; else
the row is ``invalid`` with the gate and its measured value, so a "not reproduced"
is a finding about the paper, never about a model that failed its own task. A
per-seed statistic that is undefined (NaN, repgeom.stats' policy for degenerate
input) makes the row ``invalid`` too. A claim that does not reproduce is reported
as such."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from repgeom.io import atomic_path
from repgeom.registry import Registry, load_registry
from repgeom.stats import mean_ci, seeds_needed

CLAIM_COLUMNS = (
    "claim_id",
    "paper",
    "statement",
    "metric",
    "direction",
    "threshold",
    "mean",
    "ci_low",
    "ci_high",
    "n_seeds",
    "verdict",
    "gate_status",
    "gates",
    "reason",
    "seeds_needed",
    "scale",
)

DIRECTIONS = (">", "<")

PathLike = str | os.PathLike


class Verdict(StrEnum):
    REPRODUCED = "reproduced"
    NOT_REPRODUCED = "not reproduced"
    INCONCLUSIVE = "inconclusive"
    INVALID = "invalid"  # a validity gate failed or was not measured: no verdict
    NOT_TESTED = "not tested"  # the registry expects the case, the run did not produce it


GATE_DIRECTIONS = (">", "<", ">=", "<=")


@dataclass(frozen=True)
class Gate:
    """A precondition of a verdict, measured in the same run: passes when
    ``value <direction> threshold`` (a NaN value fails). ``name`` is the registry's
    gate name; ``what`` says what was measured, with units."""

    name: str
    value: float
    threshold: float
    direction: str
    what: str = ""

    def __post_init__(self):
        if self.direction not in GATE_DIRECTIONS:
            raise ValueError(f"gate {self.name}: direction must be one of {GATE_DIRECTIONS}")

    @property
    def passed(self) -> bool:
        v, t = float(self.value), float(self.threshold)
        if math.isnan(v):
            return False
        return {">": v > t, "<": v < t, ">=": v >= t, "<=": v <= t}[self.direction]

    def describe(self) -> str:
        what = f" ({self.what})" if self.what else ""
        state = "pass" if self.passed else "FAIL"
        need = f"needs {self.direction} {self.threshold:g}"
        return f"{self.name}{what} = {self.value:.4g}, {need}: {state}"

    @classmethod
    def worst(cls, name: str, values, threshold: float, direction: str, what: str = "") -> Gate:
        """The gate over several models: their worst value must pass (NaN if any is NaN)."""
        x = np.asarray(values, dtype=float).ravel()
        if x.size == 0 or np.isnan(x).any():
            value = math.nan
        else:
            value = float(x.max() if direction.startswith("<") else x.min())
        return cls(name, value, threshold, direction, what)


def training_gate(first_losses, last_losses, min_drop: float, what: str = "") -> Gate:
    """``training``: every model's loss fell, (first - last) / |first| > ``min_drop``
    for the worst model (first and last: the means over the first and last tenth of
    its training). Finite losses are the divergence guard's job (repgeom.training)."""
    first, last = np.asarray(first_losses, float), np.asarray(last_losses, float)
    if first.shape != last.shape:
        raise ValueError("training_gate: first and last losses must pair up")
    drops = (first - last) / np.maximum(np.abs(first), 1e-12)
    return Gate.worst("training", drops, min_drop, ">", what or "relative loss drop, worst model")


def format_scale(scale: str | dict) -> str:
    """Compact, stable text for the scale a claim was tested at ("k=v; k=v")."""
    if isinstance(scale, dict):
        return "; ".join(f"{k}={v}" for k, v in scale.items())
    return str(scale)


def verdict(lo: float, hi: float, threshold: float, direction: str) -> Verdict:
    """Reproduced when the whole CI is on the claimed side of the threshold,
    not reproduced when it is wholly on the other side, else inconclusive."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if math.isnan(lo) or math.isnan(hi):
        return Verdict.INCONCLUSIVE  # one seed: no interval, no verdict
    above, below = lo > threshold, hi < threshold
    claimed, opposite = (above, below) if direction == ">" else (below, above)
    if claimed:
        return Verdict.REPRODUCED
    if opposite:
        return Verdict.NOT_REPRODUCED
    return Verdict.INCONCLUSIVE


def gate_problems(claim_id: str, declared, by_name: dict[str, Gate], x: np.ndarray) -> list[str]:
    """Why a row gets no verdict, in this order: seeds whose statistic is undefined, then
    ``declared`` gates not measured, then those that failed (empty: a verdict is due)."""
    unknown = sorted(set(by_name) - set(declared))
    if unknown:
        raise ValueError(f"claim {claim_id}: gates {unknown} are not declared in the registry")
    problems = []
    if not np.isfinite(x).all():
        bad = [i for i, v in enumerate(x) if not np.isfinite(v)]
        problems.append(f"statistic undefined (NaN: degenerate input) for seed index {bad}")
    problems += [f"gate {name} not measured" for name in declared if name not in by_name]
    problems += [by_name[n].describe() for n in declared if n in by_name and not by_name[n].passed]
    return problems


def verdict_with_reason(
    x: np.ndarray, lo: float, hi: float, threshold: float, direction: str, confidence: float
) -> tuple[Verdict, str, float]:
    """The verdict of a row whose gates all passed, its reason and, when inconclusive,
    about how many seeds would decide it (NaN otherwise)."""
    result = verdict(lo, hi, threshold, direction)
    needed = seeds_needed(x, threshold, confidence)
    reason = ""
    if result is Verdict.INCONCLUSIVE and x.size < 2:
        reason = "one seed: no confidence interval"
    elif result is Verdict.INCONCLUSIVE:
        reason = f"the CI straddles the threshold: about {needed:g} seeds would decide it"
    else:
        needed = math.nan
    return result, reason, needed


def evaluate_claim(
    *,
    claim_id: str,
    statement: str,
    metric: str,
    values: Sequence[float],
    threshold: float,
    direction: str,
    scale: str | dict,
    gates: Sequence[Gate] = (),
    confidence: float = 0.95,
    registry: Registry | None = None,
) -> dict:
    """One scorecard row from per-seed measurements of ``metric``. The paper, the
    bounds of the statistic and the gates to check come from the registry entry of
    ``claim_id``; ``gates`` are the measured ones (every declared gate must be there)."""
    spec = (registry or load_registry()).claim(claim_id)
    if spec.direction is not None and direction != spec.direction:
        raise ValueError(
            f"claim {claim_id}: direction {direction!r} but the registry says {spec.direction!r}"
        )
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError(f"claim {claim_id}: no values")
    finite = x[np.isfinite(x)]
    mean, lo, hi = mean_ci(finite, confidence, spec.bounds) if finite.size else (math.nan,) * 3
    by_name = {g.name: g for g in gates}
    problems = gate_problems(claim_id, spec.gates, by_name, x)
    if problems:
        result, reason, needed = Verdict.INVALID, "; ".join(problems), math.nan
    else:
        result, reason, needed = verdict_with_reason(
            x, lo, hi, float(threshold), direction, confidence
        )
    return {
        "claim_id": claim_id,
        "paper": (registry or load_registry()).paper_of(claim_id).short,
        "statement": statement,
        "metric": metric,
        "direction": direction,
        "threshold": float(threshold),
        "mean": mean,
        "ci_low": lo,
        "ci_high": hi,
        "n_seeds": int(x.size),
        "verdict": result.value,
        "gate_status": "fail" if problems else "pass",
        "gates": "; ".join(by_name[n].describe() for n in spec.gates if n in by_name),
        "reason": reason,
        "seeds_needed": needed,
        "scale": format_scale(scale),
    }


def _validate(df: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in CLAIM_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing claim column(s) {missing}")
    bad = sorted(set(df["verdict"]) - {v.value for v in Verdict})
    if bad:
        raise ValueError(f"{where}: unknown verdict(s) {bad}")
    return df


def write_claims(claims: list[dict], path: PathLike) -> pd.DataFrame:
    claims = list(claims)
    # An empty list still yields a table with the header, so readers need no special case.
    df = pd.DataFrame(claims) if claims else pd.DataFrame(columns=list(CLAIM_COLUMNS))
    df = _validate(df, f"claims for {path}")
    extra = [c for c in df.columns if c not in CLAIM_COLUMNS]
    df = df[[*CLAIM_COLUMNS, *extra]]
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return df


def read_claims(paths: PathLike | Sequence[PathLike]) -> pd.DataFrame:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    frames = [_validate(pd.read_csv(p), f"claims file {p}") for p in map(Path, paths)]
    if not frames:
        raise ValueError("read_claims: no paths given")
    return pd.concat(frames, ignore_index=True)
