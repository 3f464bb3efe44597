import math

import pytest

from repgeom.claims import (
    CLAIM_COLUMNS,
    Verdict,
    evaluate_claim,
    read_claims,
    write_claims,
)


def claim(values, threshold=0.5, direction=">", scale="smoke", **kw):
    return evaluate_claim(
        claim_id="lsh-1",
        paper="Dikkala et al. 2021",
        statement="representation depends on gamma only",
        metric="gamma_score",
        values=values,
        threshold=threshold,
        direction=direction,
        scale=scale,
        **kw,
    )


def test_verdict_values():
    assert {v.value for v in Verdict} == {"reproduced", "not reproduced", "inconclusive"}


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
def test_three_verdicts_and_direction(values, direction, expected):
    row = claim(values, direction=direction)
    assert row["verdict"] == expected
    assert row["n_seeds"] == 3 and row["direction"] == direction
    assert row["ci_low"] < row["mean"] < row["ci_high"]


def test_one_seed_is_inconclusive():
    row = claim([0.99])
    assert row["verdict"] == "inconclusive" and math.isnan(row["ci_low"])


def test_nan_and_bad_direction_raise():
    with pytest.raises(ValueError, match="non-finite"):
        claim([0.9, float("nan")])
    with pytest.raises(ValueError, match="direction"):
        claim([0.9, 0.91], direction=">=")


def test_scale_dict_is_compact_string():
    row = claim([0.9, 0.91], scale={"n_train": 1000, "epochs": 5})
    assert row["scale"] == "n_train=1000; epochs=5"


def test_write_read_round_trip(tmp_path):
    rows = [claim([0.9, 0.91, 0.92]), claim([0.1, 0.11, 0.12], scale={"a": 1})]
    path = tmp_path / "c" / "claims.csv"
    write_claims(rows, path)
    df = read_claims([path, path])
    assert list(df.columns) == list(CLAIM_COLUMNS) and len(df) == 4
    assert df["verdict"].tolist()[:2] == ["reproduced", "not reproduced"]
    assert df["scale"].tolist()[1] == "a=1"


def test_write_claims_validates(tmp_path):
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
