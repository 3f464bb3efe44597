"""The README, the config schema, the conda environment and docs/design.md say what the
code does: each test below reads a claim of theirs and checks it against the code."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import REPO, run_snakemake
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from repgeom.config import expose_to_jobs

README = (REPO / "README.md").read_text()
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
ENV = yaml.safe_load((REPO / "envs" / "repgeom.yaml").read_text())
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
DESIGN = REPO / "docs" / "design.md"

# Keywords that annotate rather than validate (the validator lists the others).
ANNOTATIONS = {"$schema", "$defs", "$id", "$comment", "description", "default", "title"}
SCHEMA_KEYWORDS = set(jsonschema.Draft202012Validator.VALIDATORS) | ANNOTATIONS


def paragraph(starting: str) -> str:
    """The README paragraph (up to a blank line) that begins with ``starting``."""
    match = re.search(rf"^{re.escape(starting)}.*?(?=\n\n)", README, re.S | re.M)
    assert match, f"README has no paragraph starting {starting!r}"
    return match.group(0)


def backticked(text: str) -> set[str]:
    return set(re.findall(r"`([^`]+)`", text))


def schema_properties(node: dict, path: tuple[str, ...] = ()):
    """(dotted key, sub-schema) of every property, nested ones and list items included."""
    for key, sub in node.get("properties", {}).items():
        yield ".".join((*path, key)), sub
        yield from schema_properties(sub, (*path, key))
    if isinstance(node.get("items"), dict):
        yield from schema_properties(node["items"], path)


# --- configuration schema -------------------------------------------------------------


def test_every_schema_key_has_a_description():
    keys = list(schema_properties(SCHEMA))
    assert len(keys) > 250  # the walk reaches the nested sections
    undescribed = [k for k, sub in keys if not str(sub.get("description") or "").strip()]
    assert undescribed == []


def test_schema_nodes_hold_only_schema_keywords():
    # A comma inside an unquoted flow-style description ({description: a, b, type: ...})
    # splits it: the description is cut short and "b" becomes a key jsonschema ignores.
    strays = {
        key: sorted(set(sub) - SCHEMA_KEYWORDS)
        for key, sub in schema_properties(SCHEMA)
        if set(sub) - SCHEMA_KEYWORDS
    }
    assert strays == {}


# --- README: configuration ------------------------------------------------------------


def test_readme_names_every_top_level_key():
    named = backticked(paragraph("Top-level keys:"))
    assert set(SCHEMA["properties"]) - named == set()


def test_readme_names_every_seed_list():
    """`seeds` is the run's seed list; every experiment with a list of its own is named."""
    lists = {key for key, _ in schema_properties(SCHEMA) if key.split(".")[-1] == "seeds"}
    assert "seeds" in lists
    assert lists - {"seeds"} <= backticked(paragraph("Top-level keys:"))


def test_readme_config_error_example_is_the_real_output(tmp_path):
    match = re.search(
        r"file `(?P<name>[\w.]+)` holding\n\n```yaml\n(?P<config>.*?)```\n\n"
        r"`snakemake -n --configfile (?P=name)`[^\n]*\n\n```\n(?P<output>.*?)```",
        README,
        re.S,
    )
    assert match, "README's config-error example (config block, command, output) not found"
    bad = tmp_path / match["name"]
    bad.write_text(match["config"])
    proc = run_snakemake(tmp_path, "-n", "--configfile", str(bad), check=False)
    assert proc.returncode != 0
    shown = match["output"].strip()
    assert shown in proc.stderr + proc.stdout


def test_readme_commands_end_config_values_before_targets():
    """--config and --configfile swallow the words after them: a target there must
    follow `--`, so every value after them has to look like a value."""
    commands = [
        line.split("#")[0].split()
        for block in re.findall(r"```bash\n(.*?)```", README, re.S)
        for line in block.splitlines()
        if "snakemake" in line
    ]
    checked = 0
    for words in commands:
        for i, word in enumerate(words):
            if word not in ("--config", "--configfile"):
                continue
            checked += 1
            for value in words[i + 1 :]:
                if value.startswith("-"):
                    break  # the next option, or `--` before targets
                ok = "=" in value if word == "--config" else value.endswith((".yaml", ".yml"))
                assert ok, f"{' '.join(words)!r}: {value!r} would be read as a {word} value"
    assert checked >= 5


# --- README: provenance ---------------------------------------------------------------


def rule_outputs() -> dict[str, str]:
    """Rule name -> the text of its output: block, over every rule file."""
    outputs = {}
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for match in re.finditer(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", path.read_text(), re.M | re.S):
            block = re.search(r"^    output:\n(.*?)(?=^    \w)", match.group(2), re.M | re.S)
            outputs[match.group(1)] = block.group(1) if block else ""
    return outputs


def test_readme_names_the_jobs_without_a_provenance_sidecar():
    outputs = rule_outputs()
    assert len(outputs) > 30
    without = {
        "*_figures" if name.endswith("_figures") else name
        for name, block in outputs.items()
        if not re.search(r"^\s+provenance=", block, re.M)
    }
    text = paragraph("Every job that computes results")
    assert without == backticked(text) & (set(outputs) | {"*_figures"})


# --- packaging ------------------------------------------------------------------------


def env_pip_lines() -> list[str]:
    pip = [d["pip"] for d in ENV["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, "envs/repgeom.yaml needs one pip section"
    return pip[0]


def pins(requirements) -> dict[str, str]:
    parsed = [Requirement(r) for r in requirements]
    return {r.name.lower().replace("_", "-"): str(r.specifier) for r in parsed}


def test_conda_env_has_the_pins_of_pyproject():
    lines = env_pip_lines()
    packages = [line for line in lines if not line.startswith("-")]
    assert pins(packages) == pins(PYPROJECT["project"]["dependencies"])
    python = [d for d in ENV["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert len(python) == 1
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(python[0].split("=")[1])


def test_declared_dependencies_are_imported():
    """No dependency that no code imports (tqdm was one)."""
    code = "\n".join(
        p.read_text()
        for folder in ("src", "workflow", "benchmarks")
        for p in (REPO / folder).rglob("*.py")
    )
    module = {"scikit-learn": "sklearn", "pyyaml": "yaml"}
    unused = [
        name
        for name in pins(PYPROJECT["project"]["dependencies"])
        if not re.search(rf"^\s*(import|from) {module.get(name, name)}\b", code, re.M)
    ]
    assert unused == ["snakemake"]  # it runs the rules, nothing imports it


def test_conda_env_installs_repgeom_from_this_checkout(tmp_path, monkeypatch):
    """Do what `--sdm conda` does: Snakemake copies the env file into .snakemake/conda/,
    conda writes its pip lines to a requirements file there and runs pip in that folder,
    with the environment of the Snakemake process (where the workflow has called
    expose_to_jobs). pip must then install repgeom, editable, from this checkout."""
    pytest.importorskip("setuptools", minversion="77")  # license = "MIT" needs PEP 639
    editable = [line for line in env_pip_lines() if line.startswith("-e")]
    assert len(editable) == 1
    conda_dir = tmp_path / ".snakemake" / "conda"
    conda_dir.mkdir(parents=True)
    (conda_dir / "condaenv.requirements.txt").write_text(editable[0] + "\n")
    # expose_to_jobs sets both; monkeypatch puts back what was there before.
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("REPGEOM_ROOT", "")
    expose_to_jobs(REPO / "src")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-index"]
        + ["--no-build-isolation", "--quiet", "--report", "-"]
        + ["-r", "condaenv.requirements.txt"],
        cwd=conda_dir,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    )
    assert proc.returncode == 0, proc.stderr
    (installed,) = json.loads(proc.stdout)["install"]
    assert installed["metadata"]["name"] == "repgeom"
    assert installed["download_info"] == {"url": REPO.as_uri(), "dir_info": {"editable": True}}


def test_license_file_matches_pyproject():
    assert PYPROJECT["project"]["license"] == "MIT"
    # A license string (PEP 639) needs setuptools 77; older ones refuse to build.
    (setuptools,) = [Requirement(r) for r in PYPROJECT["build-system"]["requires"]]
    assert not setuptools.specifier.contains("76.9")
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 the repgeom authors" in text


# --- design document ------------------------------------------------------------------


def cited_files() -> list[Path]:
    return [
        p
        for folder in ("src", "tests", "workflow")
        for p in sorted((REPO / folder).rglob("*"))
        if p.is_file() and p.suffix in {".py", ".smk", ".yaml", ".rst", ".md"}
    ]


# The starting plan's file name, spelled so that a grep for it finds no citation here.
OLD_DESIGN = "DESIGN" + ".md"


def test_no_file_cites_a_missing_design_document():
    citing = [str(p) for p in cited_files() if OLD_DESIGN in p.read_text()]
    assert citing == []


def test_design_citations_name_existing_sections():
    headings = set(re.findall(r"^#+ (.+)$", DESIGN.read_text(), re.M))
    cited = {
        (p.name, " ".join(section.split()))  # a citation may wrap onto the next line
        for p in cited_files()
        for section in re.findall(r"docs/design\.md: ([A-Za-z][\w\s]*?)\)", p.read_text())
    }
    assert cited  # the library and tests do cite it
    assert {c for c in cited if c[1] not in headings} == set()
