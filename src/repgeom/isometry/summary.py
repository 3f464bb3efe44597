"""Stage-level tables and claims I1, I2 from the per-model metric tables. Both rest on
every model of the dataset's beta sweep: its loss fell (``training``) and its test
accuracy is well above chance (``heldout_accuracy``); the adversarial stage checks the
same two gates on the models it compares (``model_gates``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from repgeom.claims import Gate, evaluate_claim
from repgeom.gate_inputs import heldout_accuracy_gate, training_gate_of
from repgeom.stats import spearman

STAGE = "isometry"


def _values(df: pd.DataFrame, dataset: str, metric: str) -> pd.DataFrame:
    sel = df[(df["dataset"] == dataset) & (df["metric"] == metric)]
    return sel.pivot_table(index="seed", columns="beta", values="value", aggfunc="mean")


def accuracy_drop_points(df: pd.DataFrame, dataset: str, reference_beta: float) -> np.ndarray:
    """Per seed: accuracy(reference beta) - accuracy(beta 0), in percentage points."""
    acc = _values(df, dataset, "accuracy")
    for beta in (0.0, float(reference_beta)):
        if beta not in acc.columns:
            raise ValueError(
                f"{dataset}: no accuracy for beta {beta:g} (betas {list(acc.columns)})"
            )
    paired = acc[[float(reference_beta), 0.0]].dropna()
    return (100.0 * (paired[float(reference_beta)] - paired[0.0])).to_numpy()


def beta_rank_correlation(df: pd.DataFrame, dataset: str, metric: str = "within_class_correlation"):
    """Per seed: Spearman correlation between beta and ``metric`` over the sweep (NaN
    when the metric does not vary: repgeom.stats' policy, the claim is then invalid)."""
    table = _values(df, dataset, metric).dropna(axis=0)
    return np.asarray(
        [spearman(row.index.to_numpy(dtype=float), row.to_numpy()) for _, row in table.iterrows()]
    )


def model_gates(
    df: pd.DataFrame, dataset: str, gates: dict, betas: list[float] | None = None
) -> list[Gate]:
    """``training`` and ``heldout_accuracy`` over every model (beta, seed) of ``dataset``
    in ``df``, or only those at ``betas``: the worst model decides each."""
    sel = df[df["dataset"] == dataset]
    if betas is not None:
        sel = sel[near_any(sel["beta"], betas)]
    keys = ["beta", "seed"]
    return [
        training_gate_of(sel, keys, gates["min_loss_drop"]),
        heldout_accuracy_gate(
            sel, keys, "accuracy", gates["min_accuracy_over_chance"], "test accuracy"
        ),
    ]


def near_any(values: pd.Series, targets) -> np.ndarray:
    """Which of ``values`` (betas) are close to one of ``targets``: float-safe ``isin``."""
    return np.isclose(values.to_numpy(float)[:, None], list(targets)).any(axis=1)


TRAIN_IMAGES = "train_images"  # the metric row of the images a model trained on


def measured_scale(scale: dict, df: pd.DataFrame, dataset: str) -> dict:
    """``scale`` with ``train_images`` the count the dataset's models trained on (their
    ``train_images`` rows), not the configured cap (``all`` hides that the MNIST mirror
    has 8,000); several counts (never expected) are joined with '/'."""
    rows = df[(df["dataset"] == dataset) & (df["metric"] == TRAIN_IMAGES)]
    if rows.empty:
        return scale
    counts = sorted({int(v) for v in rows["value"]})
    return {**scale, "train_images": "/".join(str(c) for c in counts)}


def isometry_claims(
    df: pd.DataFrame,
    *,
    reference_betas: dict[str, float],
    scales: dict[str, dict],
    i1_threshold: float,
    i2_threshold: float,
    gates: dict,
) -> list[dict]:
    """Claims I1 and I2 for every dataset in ``reference_betas`` (ids I1/I2 with a
    ``dataset`` column, the registry's case), gated on every model of its sweep; ``gates``
    is the config's gates section (min_loss_drop, min_accuracy_over_chance)."""
    claims = []
    for dataset, ref in reference_betas.items():
        scale = {"dataset": dataset, **measured_scale(scales[dataset], df, dataset)}
        measured = model_gates(df, dataset, gates)
        i1 = evaluate_claim(
            claim_id="I1",
            statement=(
                f"clean accuracy with the isometry term (beta={ref:g}) stays within about 1 "
                "point of plain cross-entropy (beta=0)"
            ),
            metric=f"accuracy(beta={ref:g}) - accuracy(beta=0), percentage points, paired by seed",
            values=accuracy_drop_points(df, dataset, ref),
            threshold=i1_threshold,
            direction=">",
            scale=scale,
            gates=measured,
        )
        i2 = evaluate_claim(
            claim_id="I2",
            statement="within-class distance preservation rises with beta",
            metric="Spearman(beta, within-class corr(input, representation distances)), per seed",
            values=beta_rank_correlation(df, dataset),
            threshold=i2_threshold,
            direction=">",
            scale=scale,
            gates=measured,
        )
        claims += [{**i1, "dataset": dataset}, {**i2, "dataset": dataset}]
    return claims
