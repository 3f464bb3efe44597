"""Scorecard assembly, the timing table from benchmark files, the README block."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from conftest import TOY_CONFIG

from repgeom.claims import Gate, evaluate_claim, write_claims
from repgeom.registry import expected_rows
from repgeom.scorecard import (
    README_END,
    README_START,
    build_scorecard,
    missing_cases,
    provenance_summary,
    read_benchmarks,
    read_startup,
    replace_block,
    scorecard_markdown,
    stage_times,
    verdict_counts,
)


@pytest.fixture
def claim(toy_registry):
    def make(claim_id, values, gates=(), **extra):
        row = evaluate_claim(
            claim_id=claim_id,
            statement=f"statement {claim_id}",
            metric="m",
            values=values,
            threshold=0.0,
            direction=toy_registry.claims[claim_id].direction or ">",
            scale={"seeds": len(values)},
            gates=gates,
            registry=toy_registry,
        )
        return {**row, **extra}

    return make


TRAINED = Gate("training", 0.5, 0.0, ">")


@pytest.fixture
def claims_files(tmp_path, claim):
    a = tmp_path / "a.csv"
    write_claims(
        [
            claim("X1", [0.19, 0.2, 0.21], dataset="fashion", gates=[TRAINED]),
            claim("X1", [-0.21, -0.2, -0.19], dataset="mnist", gates=[TRAINED]),
            claim("X2", [-0.5, -0.6, -0.4], dataset="mnist", sigma=2.0),
            claim("X2", [-0.5, 0.6, 0.1], dataset="mnist", sigma=0.5),
            claim("X2", [-0.5, -0.6, -0.4], dataset="fashion", sigma=0.5),
            claim("X2", [-0.5, -0.6, -0.4], dataset="fashion", sigma=2),
        ],
        a,
    )
    b = tmp_path / "b.csv"
    write_claims([claim("Y1", [1.0, 1.1, 1.2]), claim("W1", [1.0, 1.1, 1.2])], b)
    return {"alpha": a, "beta": b}


@pytest.fixture
def expected(toy_registry):
    return expected_rows(TOY_CONFIG, ["alpha", "beta"], toy_registry)


def test_scorecard_has_every_expected_row_in_registry_order(claims_files, expected, toy_registry):
    card = build_scorecard(claims_files, expected, toy_registry)
    assert list(zip(card["stage"], card["claim_id"], card["case"], strict=True)) == expected
    assert list(card["case"])[:3] == [
        "dataset=mnist",
        "dataset=fashion",
        "dataset=mnist; sigma=0.5",
    ]
    assert verdict_counts(card) == {
        "reproduced": 6,
        "not reproduced": 1,
        "inconclusive": 1,
        "invalid": 0,
        "not tested": 0,
    }
    assert card.loc[0, "mean"] == pytest.approx(-0.2)
    assert card.loc[0, "paper_value"] == "0.9" and card.loc[0, "paper_source"] == "Fig. 1"
    assert card.loc[0, "claim"] == "x rises" and card.loc[0, "paper"] == "First 2020"
    assert missing_cases(card) == []


def test_a_case_the_run_dropped_is_not_tested(tmp_path, claims_files, expected, toy_registry):
    # A stage that drops a case: the row is still there, as `not tested`.
    table = pd.read_csv(claims_files["alpha"])
    table = table[~((table.claim_id == "X2") & (table.sigma == 2.0) & (table.dataset == "mnist"))]
    table.to_csv(claims_files["alpha"], index=False)
    card = build_scorecard(claims_files, expected, toy_registry)
    assert len(card) == len(expected)
    assert missing_cases(card) == ["X2 [dataset=mnist; sigma=2]"]
    row = card[card.verdict == "not tested"].iloc[0]
    assert row["reason"] == "the run produced no row for this case"


def test_a_stage_that_is_missing_entirely_is_not_tested(claims_files, expected, toy_registry):
    card = build_scorecard({"alpha": claims_files["alpha"]}, expected, toy_registry)
    assert missing_cases(card) == ["W1 []", "Y1 []"]


def test_a_row_the_registry_does_not_expect_is_an_error(claims_files, toy_registry):
    expected = expected_rows(TOY_CONFIG, ["alpha", "beta"], toy_registry)[1:]
    with pytest.raises(ValueError, match="does not expect"):
        build_scorecard(claims_files, expected, toy_registry)


def test_repeated_case_is_an_error(tmp_path, claim, expected, toy_registry):
    path = tmp_path / "c.csv"
    write_claims([claim("Y1", [1, 2]), claim("Y1", [2, 3])], path)
    with pytest.raises(ValueError, match="share \\(claim_id, case\\)"):
        build_scorecard({"beta": path}, expected, toy_registry)


def test_a_row_without_its_case_column_is_an_error(tmp_path, claim, expected, toy_registry):
    path = tmp_path / "c.csv"
    write_claims([claim("X1", [1, 2], gates=[TRAINED])], path)
    with pytest.raises(ValueError, match="lacks case column"):
        build_scorecard({"alpha": path}, expected, toy_registry)


def test_no_expected_rows_is_an_error(toy_registry):
    with pytest.raises(ValueError, match="no expected claims"):
        build_scorecard({}, [], toy_registry)


def test_markdown_groups_by_paper_with_a_summary_line(claims_files, expected, toy_registry):
    card = build_scorecard(claims_files, expected, toy_registry)
    card.loc[0, "statement"] = "a | b"
    card.loc[1, "verdict"] = "invalid"
    card.loc[1, "reason"] = "training = -0.1, needs > 0: FAIL"
    full = scorecard_markdown(card)
    rows = [line for line in full.splitlines() if line.startswith("| ")]
    assert len(rows) == 2 + len(card)  # a header per paper + one per claim
    assert "a \\| b" in full
    assert full.startswith(
        "8 claim rows: 5 reproduced, 1 not reproduced, 1 inconclusive, 1 invalid."
    )
    lines = full.splitlines()
    first = lines.index("#### First 2020")
    assert lines[first + 2] == (
        "3 reproduced, 1 not reproduced, 1 inconclusive, 1 invalid: "
        "training = -0.1, needs > 0: FAIL."
    )
    assert lines.index("#### Second 2021") > first
    assert "0.9 (Fig. 1)" in full
    compact = scorecard_markdown(card, compact=True)
    reread = scorecard_markdown(pd.read_csv(io.StringIO(card.to_csv(index=False))), compact=True)
    assert reread == compact  # empty cases and reasons read back from CSV (NaN) stay empty
    assert "statement" not in compact
    assert "**not reproduced**" in compact


def write_benchmark(path, seconds, rss):
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(
        {"s": seconds, "h:m:s": "0:00:01", "max_rss": rss, "max_vms": 1, "cpu_time": 1.0}
    )
    table.to_csv(path, sep="\t", index=False)


def test_stage_times_from_benchmark_files(tmp_path):
    files = [tmp_path / "isometry" / "train_a.tsv", tmp_path / "isometry" / "train_b.tsv"]
    write_benchmark(files[0], [10.0], [500.0])
    write_benchmark(files[1], [20.0, 30.0], [700.0, 650.0])
    files.append(tmp_path / "lsh" / "sub" / "eval.tsv")
    write_benchmark(files[2], [5.0], ["NA"])
    files.append(tmp_path / "report" / "scorecard.tsv")
    write_benchmark(files[3], [2.0], [100.0])
    # A leftover of another configuration: on disk, but not a job of this DAG.
    write_benchmark(tmp_path / "isometry" / "train_old.tsv", [99.0], [9000.0])
    jobs = read_benchmarks(files, tmp_path)
    assert sorted(jobs["job"]) == ["scorecard", "sub/eval", "train_a", "train_b"]
    times = stage_times(jobs, ["data", "lsh", "isometry"]).set_index("stage")
    # Listed stages first in their order, then any other: no job is dropped.
    assert list(times.index) == ["lsh", "isometry", "report", "total"]
    assert times.loc["isometry", "jobs"] == 2
    assert times.loc["isometry", "job_seconds"] == pytest.approx(35.0)  # 10 + mean(20, 30)
    assert times.loc["isometry", "peak_rss_mb"] == pytest.approx(700.0)
    assert times.loc["total", "jobs"] == 4
    assert times.loc["total", "job_seconds"] == pytest.approx(42.0)


def test_benchmark_file_of_another_format_is_an_error(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "bad.tsv").write_text("a\tb\n1\t2\n")
    with pytest.raises(ValueError, match="not a Snakemake benchmark"):
        read_benchmarks([tmp_path / "x" / "bad.tsv"], tmp_path)


def test_missing_benchmark_file_is_an_error(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"1 benchmark file\(s\) missing, e.g. \[.*x/gone.tsv.*forcerun"
    ):
        read_benchmarks([tmp_path / "x" / "gone.tsv"], tmp_path)


def test_provenance_summary(tmp_path):
    prov = {
        "git_commit": "0123456789abcdef",
        "git_dirty": False,
        "seed": 3,
        "device": {"type": "cpu", "name": "x86_64"},
        "versions": {"torch": "2.14.1"},
        "wall_time_s": 1.5,
    }
    path = tmp_path / "m.provenance.json"
    path.write_text(json.dumps(prov))
    row = provenance_summary([path]).iloc[0]
    assert (row["commit"], row["seed"], row["device"], row["torch"]) == (
        "0123456789ab",
        3,
        "cpu",
        "2.14.1",
    )


def test_replace_block_keeps_the_rest_and_needs_both_markers():
    text = f"head\n{README_START}\nold\n{README_END}\ntail\n"
    new = replace_block(text, "new table\n")
    assert new == f"head\n{README_START}\nnew table\n{README_END}\ntail\n"
    assert replace_block(new, "new table\n") == new  # idempotent
    with pytest.raises(ValueError, match="expected exactly one"):
        replace_block("no markers here", "x")
    with pytest.raises(ValueError, match="expected exactly one"):
        replace_block(f"{README_END}\n{README_START}", "x")


def test_startup_share_from_job_logs(tmp_path):
    """Each job's start-up is the last rule_run line of its log; a log without one (a job
    that never reached rule_run) is NaN, and the share is start-up over job time."""
    logs = tmp_path / "logs"
    (logs / "lsh").mkdir(parents=True)
    (logs / "lsh" / "a.log").write_text(
        "x start-up 9.00 s (interpreter, imports, Snakemake's script preamble)\n"
        "x start-up 4.00 s (interpreter, imports, Snakemake's script preamble)\nwork\n"
    )
    (logs / "lsh" / "b.log").write_text("crashed before rule_run\n")
    startup = read_startup([logs / "lsh" / "a.log", logs / "lsh" / "b.log"], logs)
    assert startup["stage"].tolist() == ["lsh", "lsh"]
    assert startup["startup_s"].iloc[0] == 4.0 and np.isnan(startup["startup_s"].iloc[1])
    jobs = pd.DataFrame(
        {"stage": ["lsh", "lsh"], "job": ["a", "b"], "wall_s": [10.0, 6.0], "max_rss_mb": 1.0}
    )
    times = stage_times(jobs, ["lsh"], startup).set_index("stage")
    assert times.loc["lsh", "startup_s"] == 4.0
    assert times.loc["lsh", "startup_share"] == pytest.approx(0.25)
    assert times.loc["total", "startup_share"] == pytest.approx(0.25)


def test_process_age_is_the_time_since_this_process_started():
    import subprocess
    import sys

    code = (
        "import time; time.sleep(0.6); "
        "from repgeom.smk import process_age_s; print(process_age_s())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    age = float(out.stdout)
    assert 0.6 <= age < 10
