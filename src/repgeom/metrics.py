"""Tidy metrics tables (docs/design.md: Tidy metric tables). The required columns
identify a measurement; every other column is a parameter (beta, sigma, ...)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from repgeom.io import atomic_path
from repgeom.stats import mean_ci

METRIC_COLUMNS = ("stage", "method", "seed", "metric", "value")

PathLike = str | os.PathLike


def _validate(df: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in METRIC_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing required metric column(s) {missing}")
    try:
        value = pd.to_numeric(df["value"], errors="raise")
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: column 'value' must be numeric ({err})") from None
    return df.assign(value=value.astype(float))


def _ordered(df: pd.DataFrame) -> pd.DataFrame:
    params = sorted(c for c in df.columns if c not in METRIC_COLUMNS)
    return df[[*METRIC_COLUMNS, *params]]


def write_metrics(rows: list[dict] | pd.DataFrame, path: PathLike) -> pd.DataFrame:
    """Validate and write a tidy table as CSV (atomically); returns what was written."""
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    df = _ordered(_validate(df, f"metrics for {path}"))
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return df


def read_metrics(paths: PathLike | Sequence[PathLike]) -> pd.DataFrame:
    """Read one or many metric CSVs into one table; parameters absent from a
    file become NaN there."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    frames = [_validate(pd.read_csv(p), f"metrics file {p}") for p in map(Path, paths)]
    if not frames:
        raise ValueError("read_metrics: no paths given")
    return _ordered(pd.concat(frames, ignore_index=True))


def summarize(df: pd.DataFrame, by: list[str], confidence: float = 0.95) -> pd.DataFrame:
    """Per group of ``by``: mean, std, n, ci_low, ci_high of ``value`` (over seeds)."""
    missing = [c for c in [*by, "value"] if c not in df.columns]
    if missing:
        raise ValueError(f"summarize: column(s) {missing} not in table")
    rows = []
    # dropna=False: a parameter that does not apply to a method is NaN, not a reason to drop it.
    for key, group in df.groupby(list(by), dropna=False, sort=True):
        values = group["value"].to_numpy(dtype=float)
        mean, lo, hi = mean_ci(values, confidence)
        std = float(values.std(ddof=1)) if values.size > 1 else math.nan
        rows.append(
            {
                **dict(zip(by, key, strict=True)),
                "mean": mean,
                "std": std,
                "n": int(values.size),
                "ci_low": lo,
                "ci_high": hi,
            }
        )
    return pd.DataFrame(rows, columns=[*by, "mean", "std", "n", "ci_low", "ci_high"])
