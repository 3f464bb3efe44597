"""benchmarks/device_check in its CPU dry run: the table has its columns and a row for
every paper-scale training and attack job kind (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest
from conftest import REPO, merged_config

CHECK = REPO / "benchmarks" / "device_check"
COLUMNS = [
    "job", "rule", "unit", "seconds_per_unit", "units_per_job", "jobs", "gpu_hours", "device",
    "scale",
]  # fmt: skip
TRAINING_RULES = {
    "eigenmaps_pretrain", "eigenmaps_eval", "eigenmaps_toy_train", "eigenmaps_graph_train",
    "isometry_train", "isometry_hierarchy", "adversarial_eval", "lsh_train",
    "registration_train", "similarity_toy", "similarity_enforce", "similarity_registration",
}  # fmt: skip


def test_dry_run_table_has_every_paper_job_kind(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(CHECK), "--dry", "--repeats", "1", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(tmp_path / "device_check.tsv", sep="\t")
    assert list(table.columns) == COLUMNS
    assert set(table["rule"]) == TRAINING_RULES
    assert (table["device"] == "cpu").all() and (table["scale"] == "tiny").all()
    assert (table["seconds_per_unit"] > 0).all() and (table["units_per_job"] > 0).all()
    paper = merged_config(REPO / "workflow" / "configs" / "paper.yaml")
    ssl = paper["eigenmaps"]["ssl"]
    methods = {f"ssl_{m}" for m in ssl["methods"]}
    assert methods <= set(table["job"])
    pretrain = table[table["rule"] == "eigenmaps_pretrain"]
    # jobs: the preset's DAG (methods x seeds) shared among the method rows
    assert pretrain["jobs"].sum() == len(ssl["methods"]) * len(paper["seeds"])
    attacks = {f"attack_{m}" for m in ("fgsm", "pgd", "autoattack", "square")}
    assert attacks <= set(table["job"])
    report = json.loads((tmp_path / "device_check.json").read_text())
    assert report["dry"] is True and "smoke" not in report
    assert report["gpu_hours_total"] == pytest.approx(table["gpu_hours"].sum(), rel=1e-3)
