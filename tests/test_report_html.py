"""The report's sections and HTML tables (repgeom.report_html), the jobs of a DAG
(repgeom.dag) and the rule files' report conventions."""

from __future__ import annotations

import base64
import re
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
from conftest import REPO

from repgeom.report_html import (
    PAPERS,
    RUN_CATEGORY,
    SCORECARD_CATEGORY,
    VERDICT_COLOURS,
    data_uri,
    provenance_overview,
    register_inline_image,
    report_section,
    scorecard_html,
    table_html,
    verdict_colour,
)

STAGES = [stage for _, stages in PAPERS for stage in stages]
RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))


def test_report_categories_sort_in_the_papers_order():
    categories = [report_section(stage)["category"] for stage in STAGES]
    names = list(dict.fromkeys([SCORECARD_CATEGORY, *categories, RUN_CATEGORY]))
    # The report's menu sorts names as strings: that order must be the papers' order.
    assert sorted(names) == names and len(names) == len(PAPERS) + 2
    # Isometry before adversarial, though "adversarial" sorts first alphabetically.
    subs = [report_section(s)["subcategory"] for s in ("isometry", "adversarial")]
    assert sorted(subs) == subs
    with pytest.raises(ValueError, match="stage 'nope' belongs to no paper"):
        report_section("nope")


def card(**extra_columns) -> pd.DataFrame:
    rows = pd.DataFrame(
        {
            "stage": ["registration", "similarity", "isometry", "lsh", "lsh"],
            "claim_id": ["R1", "S2", "I1", "L1", "L2"],
            "case": ["noise=iid", "", "dataset=mnist", "gen=net", "gen=net"],
            "paper": ["Zeta 2019", "Zeta 2019", "Alpha 2022", "Mid 2021", "Mid 2021"],
            "claim": ["a < b", "x", "y", "z", "w"],
            "direction": [">", ">", "<", ">", ">"],
            "threshold": [0.0, 1.0, 0.5, 0.0, 0.0],
            "mean": [0.123456, 2.0, float("nan"), 1.0, 0.2],
            "ci_low": [0.1, 1.5, float("nan"), 0.5, -0.1],
            "ci_high": [0.2, 2.5, float("nan"), 1.5, 0.4],
            "n_seeds": [3, 3, 1, 3, 3],
            "verdict": ["reproduced", "not reproduced", "inconclusive", "invalid", "not tested"],
        }
    )
    return rows.assign(**extra_columns)


def test_scorecard_html_groups_by_paper_in_row_order_and_colours_verdicts():
    text = scorecard_html(card())
    # Papers in the order the rows come (the stages'), not alphabetically.
    positions = [text.index(f'class="paper" colspan="7">{p}') for p in ("Zeta", "Alpha", "Mid")]
    assert positions == sorted(positions)
    for claim_id in ("R1", "S2", "I1", "L1", "L2"):
        assert f"<td>{claim_id}</td>" in text
    # Every verdict in its own colour, in its cell and in the counts above the table.
    assert len(set(VERDICT_COLOURS.values())) == 5
    for verdict, colour in VERDICT_COLOURS.items():
        assert f'<td style="background:{colour}"><b>{verdict}</b></td>' in text
        assert f"1 {verdict}</span>" in text
    assert "5 claim rows" in text
    assert "a &lt; b" in text  # escaped
    assert "0.1235 [0.1, 0.2]" in text and "&gt; 0" in text
    # Optional columns appear only when the scorecard has them.
    assert "paper value" not in text and "gate" not in text and "reason" not in text


def test_scorecard_html_shows_columns_added_later():
    extra = card(
        paper_value=["12%", "", None, "0.9", "n/a"],
        gate_status=["ok", "ok", "failed", "failed", "skipped"],
        reason=["", "", "one seed", "diverged", "not run"],
    )
    text = scorecard_html(extra)
    header = re.search(r"<thead>(.*?)</thead>", text).group(1)
    assert re.findall(r"<th>(.*?)</th>", header) == [
        "claim",
        "case",
        "paper&#x27;s claim",
        "paper value",
        "threshold",
        "measured mean [95% CI]",
        "seeds",
        "verdict",
        "gate",
        "reason",
    ]
    assert "<td>12%</td>" in text and "<td>diverged</td>" in text
    assert 'colspan="10"' in text


def test_scorecard_html_needs_a_verdict_column():
    with pytest.raises(ValueError, match="no 'verdict' column"):
        scorecard_html(card().drop(columns="verdict"))


def test_unknown_verdict_gets_no_verdict_colour():
    assert verdict_colour("Reproduced ") == VERDICT_COLOURS["reproduced"]
    assert verdict_colour("maybe") not in VERDICT_COLOURS.values()


def test_table_html_and_provenance_overview():
    prov = pd.DataFrame(
        {
            "file": ["a", "b", "c"],
            "commit": ["abc", "abc", "def"],
            "dirty": [False, False, True],
            "device": ["cpu", "cpu", "cpu"],
            "torch": ["2.5", "2.5", "2.5"],
        }
    )
    overview = provenance_overview(prov)
    assert list(overview["result files"]) == [2, 1]
    text = table_html(overview, "3 files")
    assert text.count("<tr>") == 3 and "<p>3 files</p>" in text
    assert '<td class="num">2</td>' in text
    assert '<td class="num">12345</td>' in table_html(pd.DataFrame({"jobs": [12345]}))


def test_rule_files_report_conventions():
    for path in RULE_FILES:
        text = path.read_text()
        # Per-job benchmark files live with the results, a folder per stage.
        for bench in re.findall(r"^\s+benchmark:\n\s+(.+)$", text, flags=re.M):
            assert re.fullmatch(r'f?"results/benchmarks/\w+/[^"]+\.tsv"', bench), (path, bench)
        # Categories come from report_html, so names and order stay consistent.
        assert not re.search(r"category=\s*[\"']", text), path


SNAKEFILE = """
import sys
sys.path.insert(0, {src!r})
from repgeom.dag import planned_jobs

ruleorder: copy > make

rule all:
    input: "summary.txt"

rule make:
    output: "a/{{x}}.txt"
    benchmark: "bench/a/{{x}}.tsv"
    shell: "echo {{wildcards.x}} > {{output}}"

rule copy:
    input: "a/1.txt"
    output: "a/0.txt"
    benchmark: "bench/a/copy0.tsv"
    shell: "cp {{input}} {{output}}"

rule combine:
    input: lambda wildcards: expand("a/{{x}}.txt", x=range(3))
    output: "b.txt"
    benchmark: "bench/b/combine.tsv"
    shell: "cat {{input}} > {{output}}"

rule summary:
    input: lambda wildcards: [j.benchmark for j in planned_jobs(workflow.rules, ["b.txt"])]
    output: "summary.txt"
    shell: "ls {{input}} > {{output}}"
"""


def test_planned_jobs_are_the_jobs_snakemake_runs(tmp_path):
    (tmp_path / "Snakefile").write_text(textwrap.dedent(SNAKEFILE.format(src=str(REPO / "src"))))
    leftover = tmp_path / "bench" / "a" / "9.tsv"  # another run's job
    leftover.parent.mkdir(parents=True)
    leftover.write_text("s\tmax_rss\n1\t1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--directory", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    listed = (tmp_path / "summary.txt").read_text().split()
    # a/0.txt comes from `copy` (ruleorder), not `make`: Snakemake ran 4 benchmarked jobs.
    assert sorted(listed) == [
        "bench/a/1.tsv",
        "bench/a/2.tsv",
        "bench/a/copy0.tsv",
        "bench/b/combine.tsv",
    ]
    stats = re.findall(r"^(\w+)\s+(\d+)$", proc.stdout + proc.stderr, flags=re.M)
    ran = {rule: int(n) for rule, n in stats if rule not in {"total", "all", "summary"}}
    assert sum(ran.values()) == len(listed)
    assert not (tmp_path / "bench" / "a" / "0.tsv").exists()


def test_inline_image_embeds_the_file(tmp_path):
    from docutils.core import publish_parts

    png = tmp_path / "fig.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    register_inline_image()
    body = publish_parts(f".. inline-image:: {png}\n   :alt: fig\n", writer_name="html")["body"]
    assert f'src="{data_uri(png)}"' in body and str(png) not in body.split("alt=")[0]
    mime, payload = data_uri(png).split(",")
    assert mime == "data:image/png;base64" and base64.b64decode(payload) == png.read_bytes()
