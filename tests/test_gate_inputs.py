"""What the validity gates read per model: loss tenths of the steps, per-model tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from repgeom.gate_inputs import (
    FIRST_TENTH,
    LAST_TENTH,
    StepLosses,
    first_last_tenth,
    per_model,
    training_gate_of,
)
from repgeom.training import fit


def test_first_last_tenth():
    got = first_last_tenth(list(range(20, 0, -1)))  # 20 steps: tenths of 2
    assert got == {FIRST_TENTH: 19.5, LAST_TENTH: 1.5}
    assert first_last_tenth([3.0, 1.0]) == {FIRST_TENTH: 3.0, LAST_TENTH: 1.0}
    assert first_last_tenth(range(11)) == {FIRST_TENTH: 0.5, LAST_TENTH: 9.5}  # ceil: 2
    with pytest.raises(ValueError, match="no losses"):
        first_last_tenth([])


def test_step_losses_record_every_step_of_fit():
    torch.manual_seed(0)
    x = torch.randn(40, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    model = torch.nn.Linear(3, 1)
    steps = StepLosses(lambda m, xb, yb: ((m(xb).squeeze(1) - yb) ** 2).mean())
    history = fit(
        model,
        (x, y),
        steps,
        torch.optim.SGD(model.parameters(), lr=0.05),
        epochs=1,  # one epoch: the epoch history alone has no first and last tenth
        batch_size=4,
        generator=torch.Generator().manual_seed(0),
    )
    assert len(steps.losses) == 10 and len(history) == 1
    recorded = torch.stack(steps.losses)
    assert float(recorded.mean()) == pytest.approx(history[0]["loss"], rel=1e-5)
    tenths = steps.tenths()
    assert tenths[FIRST_TENTH] == pytest.approx(float(recorded[0]))
    assert tenths[FIRST_TENTH] > tenths[LAST_TENTH]
    with pytest.raises(ValueError, match="no step"):
        StepLosses(lambda m: m).tenths()


def _rows(models):
    return pd.DataFrame(
        [
            {"seed": s, "C": c, "metric": m, "value": v}
            for (s, c), values in models.items()
            for m, v in values.items()
        ]
    )


def test_per_model_and_training_gate_count_missing_models():
    table = _rows(
        {
            (0, 5): {FIRST_TENTH: 2.0, LAST_TENTH: 0.5, "acc": 1.0},
            (1, 5): {FIRST_TENTH: 2.0, LAST_TENTH: 1.0, "acc": 0.9},
            (2, 5): {"acc": 0.8},  # evaluated, but its training was not recorded
        }
    )
    wide = per_model(table, ["seed", "C"], ["acc", LAST_TENTH])
    assert list(wide["acc"]) == [1.0, 0.9, 0.8]
    assert math.isnan(wide.loc[(2, 5), LAST_TENTH])
    gate = training_gate_of(table, ["seed", "C"], 0.0)
    assert not gate.passed and math.isnan(gate.value) and "worst of 3 models" in gate.what
    gate = training_gate_of(table[table.seed < 2], ["seed", "C"], 0.0)
    assert gate.passed and gate.value == pytest.approx(0.5)  # (2 - 1) / 2, the worst
    assert not training_gate_of(table[table.seed < 0], ["seed"], 0.0).passed  # no model
    assert list(per_model(table, ["seed"], ["other"])["other"].isna()) == [True] * 3
