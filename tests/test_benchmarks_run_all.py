"""benchmarks/run_all: one table of ratios; failures are reported, not hidden."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
from conftest import REPO

RUN_ALL = REPO / "benchmarks" / "run_all"


def test_table_of_ratios_and_failures(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "fast.py").write_text('print("speed: 10 ex/s")\nprint("ratio: 3.5")\n')
    (bench / "silent.py").write_text('print("no ratio here")\n')
    (bench / "broken.py").write_text('raise SystemExit("boom")\n')
    out = tmp_path / "ratios.tsv"
    proc = subprocess.run(
        [sys.executable, str(RUN_ALL), "--dir", str(bench), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1  # a benchmark failed
    table = pd.read_csv(out, sep="\t").set_index("benchmark")
    assert table.loc["fast", "ratio"] == 3.5 and table.loc["fast", "status"] == "ok"
    assert pd.isna(table.loc["silent", "ratio"])
    assert table.loc["silent", "status"] == "no 'ratio:' last line"
    assert table.loc["broken", "status"].startswith("exit 1")
    assert "speed: 10 ex/s" in proc.stdout

    only = subprocess.run(
        [sys.executable, str(RUN_ALL), "--dir", str(bench), "--out", str(out), "fast"],
        capture_output=True,
        text=True,
    )
    assert only.returncode == 0
    assert list(pd.read_csv(out, sep="\t")["benchmark"]) == ["fast"]


def test_unknown_benchmark_name_is_an_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(RUN_ALL), "--dir", str(tmp_path), "nope"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "unknown benchmark" in proc.stderr
