import math

import numpy as np
import pytest

from repgeom.claims import (
    CLAIM_COLUMNS,
    Gate,
    Verdict,
    evaluate_claim,
    read_claims,
    training_gate,
    write_claims,
)


@pytest.fixture
def claim(toy_registry):
    def make(values, threshold=0.5, direction=">", scale="smoke", claim_id="Y1", **kw):
        return evaluate_claim(
            claim_id=claim_id,
            statement="representation depends on gamma only",
            metric="gamma_score",
            values=values,
            threshold=threshold,
            direction=direction,
            scale=scale,
            registry=toy_registry,
            **kw,
        )

    return make


def passing_training():
    return Gate("training", 0.5, 0.0, ">", "relative loss drop")


def test_verdict_values():
    assert {v.value for v in Verdict} == {
        "reproduced",
        "not reproduced",
        "inconclusive",
        "invalid",
        "not tested",
    }


@pytest.mark.parametrize(
    ("values", "direction", "expected"),
    [
        ([0.90, 0.91, 0.92], ">", "reproduced"),
        ([0.10, 0.11, 0.12], ">", "not reproduced"),
        ([0.30, 0.50, 0.70], ">", "inconclusive"),
        ([0.90, 0.91, 0.92], "<", "not reproduced"),
        ([0.10, 0.11, 0.12], "<", "reproduced"),
        ([0.30, 0.50, 0.70], "<", "inconclusive"),
    ],
)
def test_three_verdicts_and_direction(toy_registry, values, direction, expected):
    # W1 has no direction of its own in the registry: it takes the row's.
    row = evaluate_claim(
        claim_id="W1",
        statement="s",
        metric="m",
        values=values,
        threshold=0.5,
        direction=direction,
        scale="",
        registry=toy_registry,
    )
    assert row["verdict"] == expected and row["gate_status"] == "pass"
    assert row["n_seeds"] == 3 and row["direction"] == direction
    assert row["ci_low"] < row["mean"] < row["ci_high"]
    assert row["paper"] == "Second 2021"


def test_direction_must_match_the_registry(claim):
    with pytest.raises(ValueError, match="registry says '>'"):
        claim([0.9, 0.91], direction="<")


def test_unknown_claim_id_names_the_registry(claim):
    with pytest.raises(KeyError, match="not in the claims registry"):
        claim([0.9, 0.91], claim_id="Z9")


def test_one_seed_is_inconclusive(claim):
    row = claim([0.99])
    assert row["verdict"] == "inconclusive" and math.isnan(row["ci_low"])
    assert row["reason"] == "one seed: no confidence interval"


def test_inconclusive_row_says_how_many_seeds_would_decide(claim):
    row = claim([0.45, 0.62, 0.75])
    assert row["verdict"] == "inconclusive"
    assert row["seeds_needed"] > 3 and f"{row['seeds_needed']:g} seeds" in row["reason"]
    assert math.isnan(claim([0.9, 0.91, 0.92])["seeds_needed"])


def test_undefined_statistic_makes_the_row_invalid(claim):
    # One policy for degenerate input: a NaN statistic never decides a verdict.
    row = claim([0.9, float("nan"), 0.95])
    assert row["verdict"] == "invalid" and row["gate_status"] == "fail"
    assert "undefined" in row["reason"] and "[1]" in row["reason"]
    assert row["mean"] == pytest.approx(0.925)


def test_a_failed_gate_makes_the_row_invalid_with_its_measured_value(claim):
    untrained = training_gate([2.30, 2.31], [2.30, 2.35], 0.0)
    assert not untrained.passed
    row = claim([0.9, 0.91, 0.92], claim_id="X1", gates=[untrained])
    assert row["verdict"] == "invalid"
    assert "training" in row["reason"] and "-0.01732" in row["reason"]
    assert "FAIL" in row["gates"]


def test_a_passing_gate_leaves_the_verdict(claim):
    row = claim([0.9, 0.91, 0.92], claim_id="X1", gates=[passing_training()])
    assert row["verdict"] == "reproduced" and row["gate_status"] == "pass"
    assert row["gates"].startswith("training (relative loss drop) = 0.5") and row["reason"] == ""


def test_a_declared_gate_that_was_not_measured_is_invalid(claim):
    row = claim([0.9, 0.91, 0.92], claim_id="X1")
    assert row["verdict"] == "invalid" and row["reason"] == "gate training not measured"


def test_undeclared_gate_is_an_error(claim):
    with pytest.raises(ValueError, match="not declared"):
        claim([0.9, 0.91], gates=[passing_training()])


def test_bounded_statistic_ci_stays_inside_its_bounds(claim):
    row = claim([-0.99, -1.0, -0.9], claim_id="X2", direction="<", threshold=0.0)
    assert row["ci_low"] == -1.0 and row["ci_high"] < 0
    assert row["verdict"] == "reproduced"


@pytest.mark.parametrize(
    ("value", "direction", "passed"),
    [(0.2, "<=", True), (0.25, "<=", True), (0.26, "<=", False), (0.25, "<", False)],
)
def test_gate_directions(value, direction, passed):
    assert Gate("registration_floor", value, 0.25, direction).passed is passed


def test_gate_over_models_takes_the_worst_and_nan_fails():
    assert Gate.worst("g", [0.1, 0.3, 0.2], 0.25, "<=").value == 0.3
    assert Gate.worst("g", [0.5, 0.9], 0.6, ">").value == 0.5
    assert not Gate.worst("g", [0.1, np.nan], 0.25, "<=").passed
    assert not Gate("g", float("nan"), 0.0, ">").passed
    with pytest.raises(ValueError, match="direction"):
        Gate("g", 1.0, 0.0, "=")


def test_training_gate_works_for_negative_losses():
    # NeuralEF-type losses fall below zero: the drop is relative to |first|.
    assert training_gate([-1.0], [-3.0], 0.0).value == pytest.approx(2.0)
    assert training_gate([1.0, 2.0], [0.5, 1.9], 0.0).value == pytest.approx(0.05)


def test_scale_dict_is_compact_string(claim):
    row = claim([0.9, 0.91], scale={"n_train": 1000, "epochs": 5})
    assert row["scale"] == "n_train=1000; epochs=5"


def test_write_read_round_trip(tmp_path, claim):
    rows = [claim([0.9, 0.91, 0.92]), claim([0.1, 0.11, 0.12], scale={"a": 1})]
    path = tmp_path / "c" / "claims.csv"
    write_claims(rows, path)
    df = read_claims([path, path])
    assert list(df.columns) == list(CLAIM_COLUMNS) and len(df) == 4
    assert df["verdict"].tolist()[:2] == ["reproduced", "not reproduced"]
    assert df["scale"].tolist()[1] == "a=1"


def test_write_claims_validates(tmp_path, claim):
    row = claim([0.9, 0.91])
    del row["verdict"]
    with pytest.raises(ValueError, match="verdict"):
        write_claims([row], tmp_path / "x.csv")
    with pytest.raises(ValueError, match="unknown verdict"):
        write_claims([{**claim([0.9, 0.91]), "verdict": "sort of"}], tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_write_empty_claims(tmp_path):
    write_claims([], tmp_path / "e.csv")
    assert read_claims(tmp_path / "e.csv").empty
