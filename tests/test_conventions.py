"""Workflow conventions every stage must keep (docs/design.md: Rule and script
conventions): each rule logs and benchmarks, and scripts get hyperparameters through
params, never the config."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_carry_no_noqa_for_the_injected_object(script):
    # workflow/scripts/ruff.toml declares `snakemake` a builtin once for every script.
    assert "noqa: F821" not in script.read_text()


def test_ruff_knows_snakemake_in_scripts_and_nothing_else(tmp_path):
    """The scripts' ruff config accepts the injected `snakemake` and still reports any
    other undefined name (a blanket F821 ignore would hide typos)."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed")
    script = REPO / "workflow" / "scripts" / "_probe_undefined_names.py"
    script.write_text("with rule_run(snakemake) as run:\n    pass\n")
    try:
        out = subprocess.run(
            [ruff, "check", "--no-cache", "--output-format", "concise", str(script)],
            capture_output=True,
            text=True,
            cwd=REPO,
        ).stdout
    finally:
        script.unlink()
    assert "`rule_run`" in out  # a real undefined name is still an error
    assert "`snakemake`" not in out
