"""Training curves (docs/design.md: Training curves): every training rule writes the
curve of each model it trains as a tidy metric table (repgeom.metrics), one row per
(epoch, split, metric), so under-training is visible without rerunning.

A curve table is a metric table with two more columns: ``epoch`` (1-based; a rule that
evaluates every few steps writes the step count in ``epoch`` and says so in ``unit``)
and ``split`` (``train`` for the training loss or metric, ``heldout`` for data the model
never trained on). The per-stage figure (repgeom.figures.curves) draws every curve table
of a stage."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pandas as pd

from repgeom.metrics import METRIC_COLUMNS, read_metrics, write_metrics

CURVE_COLUMNS = (*METRIC_COLUMNS, "epoch", "split", "unit")
SPLITS = ("train", "heldout")
UNITS = ("epoch", "step")


def history_rows(
    history: Sequence[Mapping],
    base: Mapping,
    metrics: Mapping[str, tuple[str, str]],
    *,
    unit: str = "epoch",
    x: str = "epoch",
) -> list[dict]:
    """Curve rows from a history (one dict per epoch, as repgeom.training.fit returns,
    or per evaluation). ``metrics`` maps a history key to (metric name, split); keys a
    record lacks are skipped (an evaluation run only every few epochs). ``x`` names the
    record's epoch/step key; ``base`` gives stage, method, seed and parameters."""
    rows = []
    for record in history:
        for key, (metric, split) in metrics.items():
            if key in record and record[key] is not None:
                rows.append(
                    {
                        **base,
                        "epoch": int(record[x]),
                        "split": split,
                        "unit": unit,
                        "metric": metric,
                        "value": float(record[key]),
                    }
                )
    return rows


def check_curves(df: pd.DataFrame, where: str) -> pd.DataFrame:
    missing = [c for c in CURVE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{where}: missing curve column(s) {missing}")
    bad_split = sorted(set(df["split"]) - set(SPLITS))
    bad_unit = sorted(set(df["unit"]) - set(UNITS))
    if bad_split or bad_unit:
        raise ValueError(
            f"{where}: split must be one of {SPLITS}, unit one of {UNITS}; "
            f"got {bad_split or ''} {bad_unit or ''}".rstrip()
        )
    if df.empty:
        raise ValueError(f"{where}: no curve rows")
    return df


def write_curves(rows: list[dict] | pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """Check and write a curve table (atomically, as every metric table)."""
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    check_curves(df, f"curves for {path}")
    return write_metrics(df, path)


def read_curves(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> pd.DataFrame:
    df = read_metrics(paths)
    return check_curves(df, f"curve files {paths}")
