"""Tidy metrics tables (docs/design.md: Tidy metric tables). The required columns
identify a measurement; every other column is a parameter (beta, sigma, ...)."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from repgeom.io import atomic_path

METRIC_COLUMNS = ("stage", "method", "seed", "metric", "value")

PathLike = str | os.PathLike


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval over independent runs
    (seeds). With one value the spread is unknown, so the CI is NaN."""
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("mean_ci needs at least one value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    sem = float(x.std(ddof=1)) / math.sqrt(x.size)
    from scipy import stats  # here, not at import: most jobs only write tables (~1 s)

    half = float(stats.t.ppf(0.5 + confidence / 2, df=x.size - 1)) * sem
    return mean, mean - half, mean + half


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
