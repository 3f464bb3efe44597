"""The eigenmaps stage's validity gates on small tables: the loss curve's tenths, the
training gate over a claim row's models, and the probe floor of an untrained backbone."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from repgeom.eigenmaps.gates import (
    RANDOM_INIT,
    models_training_gate,
    probe_floor_gate,
    step_loss_rows,
)


def test_step_loss_rows_number_the_steps():
    rows = step_loss_rows([3.0, 2.0], method="m", seed=1)
    assert rows == [
        {"method": "m", "seed": 1, "metric": "step_loss", "step": 1, "value": 3.0},
        {"method": "m", "seed": 1, "metric": "step_loss", "step": 2, "value": 2.0},
    ]


def _losses(curves: dict) -> pd.DataFrame:
    rows = []
    for (method, seed, graph), curve in curves.items():
        rows += step_loss_rows(curve, method=method, seed=seed, graph=graph)
    return pd.DataFrame(rows).sample(frac=1.0, random_state=0)  # order must not matter


def test_training_gate_is_decided_by_the_worst_model_of_the_methods_given():
    table = _losses(
        {
            ("a", 0, "g1"): [2.0] * 10 + [1.0] * 10,  # drop 0.5
            ("a", 1, "g1"): [2.0] * 10 + [1.5] * 10,  # drop 0.25
            ("b", 0, "g1"): [-1.0] * 10 + [-0.5] * 10,  # negative loss that rose: -0.5
            ("a", 0, "g2"): [1.0] * 20,  # flat: 0
        }
    )
    gate = models_training_gate(table[table.graph == "g1"], ["a"], 0.0)
    assert gate.passed and gate.value == pytest.approx(0.25)
    assert "worst of 2 models (a)" in gate.what
    gate = models_training_gate(table[table.graph == "g1"], ["a", "b"], 0.0)
    assert not gate.passed and gate.value == pytest.approx(-0.5)
    # one model per graph too: the flat g2 curve decides
    gate = models_training_gate(table[table.method == "a"], ["a"], 0.0, by=["graph"])
    assert gate.value == 0.0 and not gate.passed
    # no curves of the methods asked for: not measured
    assert math.isnan(models_training_gate(table, ["c"], 0.0).value)


def _probe(values: dict) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"method": m, "seed": seed, "metric": "probe_accuracy", "value": v}
            for (m, seed), v in values.items()
        ]
    )


def test_probe_floor_gate_pairs_each_seed_with_its_own_random_init():
    table = _probe(
        {
            ("neuralef", 0): 95.0,
            ("neuralef", 1): 93.0,
            ("barlow", 0): 90.0,
            ("barlow", 1): 94.0,
            (RANDOM_INIT, 0): 85.0,
            (RANDOM_INIT, 1): 92.0,
        }
    )
    gate = probe_floor_gate(table, ["neuralef", "barlow"], 0.0)
    assert gate.name == "probe_above_random_init"
    assert gate.value == pytest.approx(1.0) and gate.passed  # neuralef, seed 1: 93 - 92
    below = probe_floor_gate(table.replace({94.0: 91.0}), ["barlow"], 0.0)
    assert below.value == pytest.approx(-1.0) and not below.passed
    # a seed without its floor, or a method without probe rows: NaN, fails
    no_floor = table[~((table.method == RANDOM_INIT) & (table.seed == 1))]
    assert math.isnan(probe_floor_gate(no_floor, ["neuralef"], 0.0).value)
    assert math.isnan(probe_floor_gate(table, ["simclr"], 0.0).value)
