"""What the validity gates (repgeom.claims.Gate) read about each trained model.

A training run records the mean loss over the first and the last tenth of its optimiser
steps (``StepLosses``) as two metric rows; the claims rule checks, for every model a
claim rests on, that it fell (``training_gate_of``, repgeom.claims.training_gate).
Steps, not epochs: a run of one epoch (the smoke preset) or a few still has a first and
a last tenth of its training.

``per_model`` lays the tidy metric rows out one row per model, with NaN where a model
lacks a metric, so a gate over "every model" cannot pass on the models that have it."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from repgeom.claims import Gate, training_gate

FIRST_TENTH = "train_loss_first_tenth"
LAST_TENTH = "train_loss_last_tenth"
CHANCE = "chance_accuracy"  # 1 / classes of a classifier, written beside its accuracy


def first_last_tenth(losses: Sequence[float]) -> dict[str, float]:
    """Mean loss over the first and over the last tenth (at least one step) of ``losses``."""
    x = np.asarray(losses, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("first_last_tenth: no losses")
    k = max(1, math.ceil(x.size / 10))
    return {FIRST_TENTH: float(x[:k].mean()), LAST_TENTH: float(x[-k:].mean())}


def loss_rows(losses: Sequence[float], base: dict) -> list[dict]:
    """The two metric rows of a loss history (one entry per step, epoch or evaluation
    interval): its first and last tenth's mean loss, with the columns of ``base``."""
    return [{**base, "metric": k, "value": v} for k, v in first_last_tenth(losses).items()]


class StepLosses:
    """Wraps ``loss_fn(model, *batch)`` for repgeom.training.fit and keeps each step's
    loss (detached, on the device: no extra host sync per step)."""

    def __init__(self, loss_fn: Callable):
        self.loss_fn = loss_fn
        self.losses: list = []  # scalar tensors

    def __call__(self, model, *batch):
        loss = self.loss_fn(model, *batch)
        self.losses.append(loss.detach())
        return loss

    def tenths(self) -> dict[str, float]:
        if not self.losses:
            raise ValueError("StepLosses: no step was recorded")
        import torch  # here, not at import: the claims rules that read the rows need no torch

        return first_last_tenth(torch.stack(self.losses).double().cpu().numpy())


def per_model(metrics: pd.DataFrame, model_keys: Sequence[str], names: Sequence[str]):
    """One row per model of ``metrics`` (a distinct value of the ``model_keys`` columns in
    any of its rows), one column per metric of ``names`` (mean of its values; NaN when
    the model has none)."""
    keys = list(model_keys)
    models = pd.MultiIndex.from_frame(metrics[keys].drop_duplicates())
    rows = metrics[metrics["metric"].isin(list(names))]
    if rows.empty:
        return pd.DataFrame(np.nan, index=models, columns=list(names))
    wide = rows.pivot_table(index=keys, columns="metric", values="value", aggfunc="mean")
    if len(keys) == 1:
        models = models.get_level_values(0)
    return wide.reindex(index=models, columns=list(names))


def heldout_accuracy_gate(
    metrics: pd.DataFrame, model_keys: Sequence[str], accuracy: str, min_over: float, what: str
) -> Gate:
    """``heldout_accuracy`` over every model in ``metrics``: the worst model's held-out
    accuracy (metric ``accuracy``) minus its ``chance_accuracy`` row (1 / classes); NaN,
    failing, for a model that lacks either. ``what`` names the accuracy and the models."""
    wide = per_model(metrics, model_keys, [accuracy, CHANCE])
    what = f"{what} - chance (1/classes), worst of {len(wide)} models"
    return Gate.worst("heldout_accuracy", wide[accuracy] - wide[CHANCE], min_over, ">", what)


def training_gate_of(
    metrics: pd.DataFrame, model_keys: Sequence[str], min_drop: float, models: str = ""
) -> Gate:
    """The ``training`` gate over every model in ``metrics``: the worst relative drop of
    the mean loss from the first to the last tenth of its training (NaN, failing, for a
    model without both loss rows, or when there is no model). ``models`` names them."""
    loss = per_model(metrics, model_keys, [FIRST_TENTH, LAST_TENTH])
    if loss.empty:
        return Gate("training", math.nan, min_drop, ">", f"no model {models}".strip())
    what = (
        "relative drop of the mean loss, first vs last tenth of training, "
        f"worst of {len(loss)} model{'s' if len(loss) != 1 else ''}"
        + (f": {models}" if models else "")
    )
    return training_gate(loss[FIRST_TENTH], loss[LAST_TENTH], min_drop, what)
