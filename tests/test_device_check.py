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
    "isometry_train_mnist", "isometry_train_fashion_mnist", "isometry_hierarchy",
    "adversarial_eval", "lsh_train",
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


def load_check():
    from importlib.machinery import SourceFileLoader
    from importlib.util import module_from_spec, spec_from_loader

    spec = spec_from_loader("device_check", SourceFileLoader("device_check", str(CHECK)))
    module = module_from_spec(spec)
    sys.modules["device_check"] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_old_driver_stops_the_check_with_the_fix(monkeypatch):
    check = load_check()
    old = {"driver": "535.104.05", "name": "NVIDIA H200", "memory": "143771 MiB"}
    monkeypatch.setattr(check, "nvidia_smi", lambda: old)
    monkeypatch.setattr(check.torch.version, "cuda", "13.0")
    _, problems = check.environment()
    assert any("535.104.05 is too old" in p and ">= 580" in p and "Fix" in p for p in problems)
    monkeypatch.setattr(check, "nvidia_smi", lambda: None)  # no driver: a CPU machine
    _, problems = check.environment()
    assert problems == [] or check.torch.cuda.is_available()
