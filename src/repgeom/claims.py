"""Claims record: each stage writes the paper claims it tests with the measured
mean, confidence interval over seeds and a verdict; the report assembles them
into a scorecard. Verdicts come from the CI alone, so a claim that does not
reproduce is reported as such."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

from repgeom.io import atomic_path
from repgeom.metrics import mean_ci

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
    "scale",
)

DIRECTIONS = (">", "<")

PathLike = str | os.PathLike


class Verdict(StrEnum):
    REPRODUCED = "reproduced"
    NOT_REPRODUCED = "not reproduced"
    INCONCLUSIVE = "inconclusive"


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


def evaluate_claim(
    *,
    claim_id: str,
    paper: str,
    statement: str,
    metric: str,
    values: Sequence[float],
    threshold: float,
    direction: str,
    scale: str | dict,
    confidence: float = 0.95,
) -> dict:
    """One scorecard row from per-seed measurements of ``metric``."""
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError(f"claim {claim_id}: no values")
    if not np.isfinite(x).all():
        # A NaN here means a broken run, which must not turn into a verdict.
        raise ValueError(f"claim {claim_id}: non-finite values for {metric}: {x.tolist()}")
    mean, lo, hi = mean_ci(x, confidence)
    return {
        "claim_id": claim_id,
        "paper": paper,
        "statement": statement,
        "metric": metric,
        "direction": direction,
        "threshold": float(threshold),
        "mean": mean,
        "ci_low": lo,
        "ci_high": hi,
        "n_seeds": int(x.size),
        "verdict": verdict(lo, hi, float(threshold), direction).value,
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
