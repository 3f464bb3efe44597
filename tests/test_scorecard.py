"""Scorecard assembly, the timing table from benchmark files, the README block."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from repgeom.claims import evaluate_claim, write_claims
from repgeom.scorecard import (
    README_END,
    README_START,
    build_scorecard,
    provenance_summary,
    read_benchmarks,
    replace_block,
    scorecard_markdown,
    stage_times,
    verdict_counts,
)


def claim(claim_id, values, **extra):
    row = evaluate_claim(
        claim_id=claim_id,
        paper="P",
        statement=f"statement {claim_id}",
        metric="m",
        values=values,
        threshold=0.0,
        direction=">",
        scale={"seeds": len(values)},
    )
    return {**row, **extra}


@pytest.fixture
def claims_files(tmp_path):
    a = tmp_path / "a.csv"
    write_claims(
        [
            claim("I3", [0.19, 0.2, 0.21], dataset="mnist", attack="pgd"),
            claim("I3", [-0.21, -0.2, -0.19], dataset="mnist", attack="fgsm"),
            claim("I1", [-1.0, 1.0, 0.5], dataset="mnist"),
        ],
        a,
    )
    b = tmp_path / "b.csv"
    write_claims([claim("L1", [1.0, 1.1, 1.2])], b)
    return {"adversarial": a, "lsh": b}


def test_scorecard_keys_rows_by_case_and_keeps_stage_order(claims_files):
    card = build_scorecard(claims_files)
    assert list(card["stage"]) == ["adversarial"] * 3 + ["lsh"]
    assert list(card["claim_id"]) == ["I1", "I3", "I3", "L1"]
    # attack is NaN for I1: the case names only the columns that apply to the row.
    assert list(card["case"]) == [
        "dataset=mnist",
        "dataset=mnist; attack=fgsm",
        "dataset=mnist; attack=pgd",
        "",
    ]
    assert verdict_counts(card) == {"reproduced": 2, "not reproduced": 1, "inconclusive": 1}
    assert card.loc[1, "mean"] == pytest.approx(-0.2)


def test_repeated_claim_without_a_distinguishing_column_is_an_error(tmp_path):
    path = tmp_path / "c.csv"
    write_claims([claim("S1", [1, 2]), claim("S1", [2, 3])], path)
    with pytest.raises(ValueError, match="share \\(claim_id, case\\)"):
        build_scorecard({"similarity": path})


def test_no_stage_is_an_error():
    with pytest.raises(ValueError, match="no claims files"):
        build_scorecard({})


def test_markdown_table_has_one_row_per_claim_and_escapes_pipes(claims_files, tmp_path):
    card = build_scorecard(claims_files)
    card.loc[0, "statement"] = "a | b"
    full = scorecard_markdown(card)
    rows = [line for line in full.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(card)  # header + one per claim
    assert "a \\| b" in full
    assert full.startswith("4 claim rows: 2 reproduced, 1 not reproduced, 1 inconclusive.")
    compact = scorecard_markdown(card, compact=True)
    reread = scorecard_markdown(pd.read_csv(io.StringIO(card.to_csv(index=False))), compact=True)
    assert reread == compact  # the empty case of L1 read back from CSV (NaN) stays empty
    assert "statement" not in compact.splitlines()[2]
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
