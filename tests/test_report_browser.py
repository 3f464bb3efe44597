"""The HTML report of the smoke run (`snakemake --report`), read as a person sees it:
rendered by a real headless Chromium, whose first page must show the scorecard."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pandas as pd
import pytest
from conftest import SMOKE, run_snakemake

from repgeom.report_html import PAPERS, RUN_CATEGORY, SCORECARD_CATEGORY, report_section

CHROMIUM_NAMES = ("chromium", "chromium-browser")


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium; installed with apt-get when missing and this runs as root."""
    found = find_chromium()
    if found:
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip(
            "no chromium on PATH and no root apt-get to install it: apt-get install chromium"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
        if proc.returncode != 0:
            pytest.skip(f"could not install chromium ({' '.join(cmd)}): {proc.stderr[-500:]}")
    found = find_chromium()
    if not found:
        pytest.skip("apt-get installed chromium, but no chromium is on PATH")
    return found


@pytest.fixture(scope="module")
def report(smoke_dag, mirror):
    """The smoke run's report, a single HTML file beside (not inside) its results."""
    path = smoke_dag / "report.html"
    run_snakemake(smoke_dag, "--configfile", SMOKE, "--report", str(path), mirror=mirror)
    return path


def browse(chromium: str, page, *args: str) -> str:
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-gpu",
        "--hide-scrollbars",
        "--virtual-time-budget=20000",  # let the report's scripts render the page
        *args,
        page.as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def rendered_text(dom: str) -> str:
    """The rendered page without scripts and styles: the report carries its contents
    as JavaScript data too, and those must not count as shown."""
    return re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S | re.I)


@pytest.mark.slow
def test_html_report_holds_scorecard_and_every_figure(report, smoke_dag):
    html = report.read_text(errors="replace")
    for name in ("scorecard.csv", "stage_times.csv", "provenance.csv"):
        assert name in html
    for figure in (smoke_dag / "results" / "figures").glob("*.png"):
        assert figure.name in html


@pytest.mark.slow
def test_report_first_page_shows_the_scorecard_in_a_browser(report, smoke_dag, chromium):
    page = rendered_text(browse(chromium, report, "--dump-dom"))
    card = pd.read_csv(smoke_dag / "results" / "scorecard.csv")
    # The scorecard as a table: one row per claim row, every claim id and verdict shown.
    scorecard = re.search(r'<table class="repgeom scorecard">(.*?)</table>', page, flags=re.S)
    assert scorecard, "no scorecard table on the report's first page"
    table = scorecard.group(1)
    assert table.count('<tr class="verdict">') == len(card)
    for claim_id in card["claim_id"]:
        assert f"<td>{claim_id}</td>" in table
    for verdict in set(card["verdict"]):
        assert re.search(rf'<td style="background:#\w+;?"><b>{verdict}</b></td>', table)
    # Then one section per paper in the papers' order, each with its figures, then the
    # stage times and provenance tables.
    headings = [SCORECARD_CATEGORY]
    headings += list(dict.fromkeys(report_section(s)["category"] for _, st in PAPERS for s in st))
    headings.append(RUN_CATEGORY)
    positions = [page.find(f">{h}</") for h in headings]
    assert -1 not in positions, dict(zip(headings, positions, strict=True))
    assert positions == sorted(positions)
    n_figures = len(list((smoke_dag / "results" / "figures").glob("*.png")))
    shown = re.findall(r'<img [^>]*src="data:image/png;base64,', page[positions[1] :])
    assert len(shown) == n_figures
    run_section = page[positions[-1] :]
    assert "<td>total</td>" in run_section and "result files" in run_section
    # A screenshot of the first page for a person to look at.
    shot = smoke_dag / "results" / "screenshots" / "report.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    browse(chromium, report, f"--screenshot={shot}", "--window-size=1600,2400")
    assert shot.stat().st_size > 10_000
