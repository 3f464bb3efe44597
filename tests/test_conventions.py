"""Workflow conventions every stage must keep (docs/design.md: Rule and script
conventions): each rule logs and benchmarks, and scripts get hyperparameters through
params, never the config."""

from __future__ import annotations

import re

import pytest
from conftest import REPO

RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))
SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("*.py"))


def rule_blocks():
    for path in RULE_FILES:
        text = path.read_text()
        starts = [(m.start(), m.group(1)) for m in re.finditer(r"^rule (\w+):", text, re.M)]
        ends = [start for start, _ in starts[1:]] + [len(text)] if starts else []
        for (start, name), end in zip(starts, ends, strict=True):
            yield pytest.param(text[start:end], id=name)


@pytest.mark.parametrize("block", list(rule_blocks()))
def test_rule_has_log_benchmark_and_env(block):
    for directive in ("log:", "benchmark:", "conda:", "script:"):
        assert f"    {directive}" in block


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_read_params_not_config(script):
    text = script.read_text()
    if script.name == "prepare_dataset.py":
        # Where a dataset comes from is not a hyperparameter: the fetch settings are read
        # at run time, so changing them never invalidates a finished dataset (issue 12).
        text = text.replace("fetch_settings(snakemake.config)", "")
    assert "snakemake.config" not in text
    assert "rule_run(snakemake)" in text
