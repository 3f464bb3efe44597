"""The whole-DAG smoke run against the claims registry: every expected case of every
claim has a row, and a stage that drops a case is caught."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import SMOKE, merged_config

from repgeom.registry import expected_rows
from repgeom.scorecard import build_scorecard, missing_cases


def smoke_expected() -> list[tuple[str, str, str]]:
    config = merged_config(SMOKE)
    return expected_rows(config, config["stages"])


def claims_files(workdir) -> dict:
    return {
        stage: workdir / "results" / stage / "claims.csv"
        for stage in dict.fromkeys(s for s, _, _ in smoke_expected())
    }


@pytest.mark.slow
def test_smoke_scorecard_has_every_expected_case_and_no_other(smoke_dag):
    card = pd.read_csv(smoke_dag / "results" / "scorecard.csv", keep_default_na=False)
    rows = list(zip(card["stage"], card["claim_id"], card["case"], strict=True))
    assert rows == smoke_expected()
    assert missing_cases(card) == [], "a stage did not produce an expected claim case"
    assert set(card["verdict"]) <= {
        "reproduced",
        "not reproduced",
        "inconclusive",
        "invalid",
    }
    # A verdict is never given with a failed gate; an invalid row says why.
    decided = card[card["verdict"] != "invalid"]
    assert (decided["gate_status"] == "pass").all()
    invalid = card[card["verdict"] == "invalid"]
    assert (invalid["reason"].str.len() > 0).all()


@pytest.mark.slow
def test_a_stage_that_drops_a_case_is_caught(smoke_dag, tmp_path):
    files = claims_files(smoke_dag)
    table = pd.read_csv(files["adversarial"])
    dropped = table.iloc[0]
    copy = tmp_path / "claims.csv"
    table.iloc[1:].to_csv(copy, index=False)
    card = build_scorecard({**files, "adversarial": copy}, smoke_expected())
    assert len(missing_cases(card)) == 1
    assert missing_cases(card)[0].startswith(f"{dropped['claim_id']} [")
    assert len(card) == len(smoke_expected())
