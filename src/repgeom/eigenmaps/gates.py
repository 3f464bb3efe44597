"""Validity gates of the eigenmaps stage (claims E1-E4 of the claims registry), measured
on the stage's tidy metric tables:

- ``training``: every model a claim row rests on lowered its loss. Every training loop of
  the stage (circle and graph networks, pretraining) logs each step's loss as a
  ``step_loss`` row (column ``step``); the gate compares the mean over the first and the
  last tenth of a model's steps (repgeom.gate_inputs.first_last_tenth). Steps, not epochs: the
  pretraining runs 8 epochs by default and 1 in the smoke preset, too few to take tenths.
- ``probe_above_random_init``: every pretrained backbone a row rests on has a higher
  linear-probe accuracy than the same seed's backbone of the same shape left at its
  random initial weights (method ``random_init`` of the eval tables: the weights every
  method of that seed starts pretraining from), in points.

Not a gate but reported beside E2/E3: whether each pretraining loss had levelled off at
the end of its budget, :func:`last_tenth_share` of its step losses against the config's
``eigenmaps.ssl.levelled_max_share``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from repgeom.claims import Gate, training_gate
from repgeom.gate_inputs import FIRST_TENTH, LAST_TENTH, first_last_tenth

RANDOM_INIT = "random_init"  # eval-table method of the untrained backbone (a floor, no method)
RAW_PIXELS = "raw_pixels"  # eval-table method of the probe on the pixels themselves (a floor)
FLOORS = (RANDOM_INIT, RAW_PIXELS)
LAST_TENTH_SHARE = "loss_last_tenth_share"  # metric of last_tenth_share per model
STEP_LOSS = "step_loss"  # metric of the per-step training loss rows


def step_loss_rows(losses: Sequence[float], **base) -> list[dict]:
    """One ``step_loss`` row per step (1-based ``step``) with the columns of ``base``."""
    return [
        {**base, "metric": STEP_LOSS, "step": step, "value": float(v)}
        for step, v in enumerate(losses, start=1)
    ]


def models_training_gate(
    metrics: pd.DataFrame, methods: Sequence[str], min_drop: float, by: Sequence[str] = ()
) -> Gate:
    """``training`` over every model of ``methods`` in ``metrics`` (one model per method,
    seed and value of the extra ``by`` columns, e.g. the graph). No loss rows for the
    models: NaN, so the gate fails as not measured."""
    rows = metrics[(metrics.metric == STEP_LOSS) & metrics.method.isin(list(methods))]
    keys = ["method", "seed", *by]
    curves = [c.sort_values("step")["value"] for _, c in rows.groupby(keys, sort=True)]
    what = f"relative loss drop, first vs last tenth of the steps, worst of {len(curves)} models"
    what += f" ({', '.join(methods)})"
    if not curves:
        return Gate("training", math.nan, min_drop, ">", what)
    tenths = [first_last_tenth(c) for c in curves]
    first, last = ([t[k] for t in tenths] for k in (FIRST_TENTH, LAST_TENTH))
    return training_gate(first, last, min_drop, what)


def probe_floor_gate(metrics: pd.DataFrame, methods: Sequence[str], min_over: float) -> Gate:
    """``probe_above_random_init``: min over ``methods`` and seeds of the probe accuracy
    minus the same seed's ``random_init`` probe accuracy (points). A seed without a
    floor, or a method without probe rows, gives NaN: the gate fails."""
    probe = metrics[metrics.metric == "probe_accuracy"]
    floor = probe[probe.method == RANDOM_INIT].groupby("seed")["value"].mean()
    gaps = []
    for method in methods:
        acc = probe[probe.method == method].groupby("seed")["value"].mean()
        gaps += (acc - floor.reindex(acc.index)).tolist() if len(acc) else [math.nan]
    what = (
        "probe accuracy minus the same seed's randomly initialised backbone (points), "
        f"worst of {', '.join(methods)} over seeds"
    )
    return Gate.worst("probe_above_random_init", gaps, min_over, ">", what)


def last_tenth_share(losses: Sequence[float]) -> float:
    """The share of a run's loss drop made in its last tenth of steps:
    (mean of the ninth tenth - mean of the last tenth) / (mean of the first tenth - mean
    of the last tenth). Free of the loss's scale and offset (NeuralEF's loss is negative,
    SimCLR's sits above log(2B - 1)); near 0 once the loss has levelled off, 1/9 for a
    loss still falling at a constant rate. NaN when the loss did not fall overall (or
    for fewer than 10 steps)."""
    x = np.asarray(losses, dtype=float).ravel()
    if x.size < 10:
        return math.nan
    k = x.size // 10
    first, previous, last = x[:k].mean(), x[-2 * k : -k].mean(), x[-k:].mean()
    drop = first - last
    return float((previous - last) / drop) if drop > 0 else math.nan


def levelled_rows(metrics: pd.DataFrame, methods: Sequence[str]) -> list[dict]:
    """One ``loss_last_tenth_share`` row per (method, seed) of ``methods``, from the
    models' ``step_loss`` rows."""
    rows = metrics[(metrics.metric == STEP_LOSS) & metrics.method.isin(list(methods))]
    out = []
    for (method, seed), curve in rows.groupby(["method", "seed"], sort=True):
        share = last_tenth_share(curve.sort_values("step")["value"])
        stage = curve["stage"].iloc[0]
        out.append(
            {"stage": stage, "method": method, "seed": seed, "metric": LAST_TENTH_SHARE}
            | {"value": share}
        )
    return out
