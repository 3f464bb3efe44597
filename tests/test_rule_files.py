"""The rule-file convention (docs/design.md: Rule files): every stage file stands on
its own after common.smk, so the include order in the Snakefile does not matter; a file
reaches another stage's names only through that stage's helpers file, which it
includes; and every stage registers its targets through register_targets."""

from __future__ import annotations

import io
import re
import subprocess
import tokenize
from pathlib import Path

import pytest
from conftest import REPO, SMOKE, SNAKEMAKE

RULES = REPO / "workflow" / "rules"
COMMON = RULES / "common.smk"
INCLUDE = re.compile(r'^include: "(.+)"\n', re.M)


def snakefile_parts() -> tuple[str, list[str], str]:
    """The Snakefile as (text before its includes, the included paths, text after)."""
    text = (REPO / "Snakefile").read_text()
    found = list(INCLUDE.finditer(text))
    between = text[found[0].start() : found[-1].end()]
    assert INCLUDE.sub("", between).strip() == "", "the includes must be one block"
    return text[: found[0].start()], [m.group(1) for m in found], text[found[-1].end() :]


def stage_files() -> list[str]:
    """The files the Snakefile includes after common.smk (stages, then report.smk)."""
    included = snakefile_parts()[1]
    assert included[0] == "workflow/rules/common.smk"
    return included[1:]


def includes(path: Path) -> list[Path]:
    return [path.parent / name for name in INCLUDE.findall(path.read_text())]


def reachable(path: Path) -> set[Path]:
    """The file and every file it includes, directly or not."""
    seen, todo = set(), [path]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(includes(current))
    return seen


def defined_rules(path: Path) -> set[str]:
    """Named rules, and the name templates of rules defined in a loop (``name:
    f"prefix_{...}"``) as regular expressions."""
    text = path.read_text()
    templates = re.findall(r"^\s+rule:\s*\n\s+name:\s*\n\s+f\"([^\"]+)\"", text, re.M)
    patterns = {re.sub(r"\\\{[^}]*\\\}", r"\\w+", re.escape(t)) for t in templates}
    return set(re.findall(r"^rule (\w+):", text, re.M)) | patterns


def matches(listed: list[str], own: set[str]) -> bool:
    """Every listed rule is one of ``own`` (names or loop templates), and each of those
    lists at least one rule."""
    hit = {o for o in own for name in listed if re.fullmatch(o, name)}
    return hit == own and all(any(re.fullmatch(o, name) for o in own) for name in listed)


def defined_names(path: Path) -> set[str]:
    """Top-level names a file assigns or defines as functions."""
    text = path.read_text()
    return set(re.findall(r"^([A-Za-z_]\w*)\s*=(?!=)", text, re.M)) | set(
        re.findall(r"^def (\w+)", text, re.M)
    )


def imported_names(path: Path) -> set[str]:
    names = set()
    for body in re.findall(r"^from \S+ import (\([^)]*\)|.*)$", path.read_text(), re.M):
        body = re.sub(r"#.*", "", body)
        names |= {part.split()[-1] for part in re.findall(r"[\w ]+", body) if part.strip()}
    for module, alias in re.findall(r"^import (\S+)(?: as (\w+))?", path.read_text(), re.M):
        names.add(alias or module.split(".")[0])
    return names


def code_names(path: Path) -> list[tuple[str, str | None]]:
    """(name, the name before it when it follows a dot) of every name token outside
    strings and comments."""
    tokens = [
        t
        for t in tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        if t.type in (tokenize.NAME, tokenize.OP)
    ]
    return [
        (t.string, tokens[i - 2].string if i >= 2 and tokens[i - 1].string == "." else None)
        for i, t in enumerate(tokens)
        if t.type == tokenize.NAME
    ]


def snakemake(snakefile: Path, workdir: Path, *args: str) -> str:
    cmd = [*SNAKEMAKE, "-s", str(snakefile), "--directory", str(workdir), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def snakefile_with(tmp_path: Path, included: list[str], *, rule_all: bool) -> Path:
    """The real Snakefile with other includes, in a folder that looks like the checkout
    (what it reads through workflow.basedir is linked in)."""
    head, _, tail = snakefile_parts()
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("src", "workflow", "envs", "profiles", "config.yaml"):
        (root / name).symlink_to(REPO / name)
    lines = "".join(f'include: "{path}"\n' for path in included)
    (root / "Snakefile").write_text(head + lines + (tail if rule_all else ""))
    (tmp_path / "work").mkdir()
    return root / "Snakefile"


def dry_run_jobs(stdout: str) -> list[tuple[str, str, str]]:
    """(rule, inputs, outputs) of every job a dry run lists."""
    blocks = re.split(r"^(?:local)?rule (\w+):\n", stdout, flags=re.M)[1:]
    jobs = []
    for name, body in zip(blocks[::2], blocks[1::2], strict=True):
        files = [re.search(rf"^    {key}: (.*)$", body, re.M) for key in ("input", "output")]
        jobs.append((name, *(found.group(1) if found else "" for found in files)))
    return jobs


@pytest.mark.parametrize("stage_file", stage_files())
def test_stage_file_stands_alone_after_common(stage_file, tmp_path):
    snakefile = snakefile_with(tmp_path, ["workflow/rules/common.smk", stage_file], rule_all=False)
    stdout = snakemake(snakefile, tmp_path / "work", "--list-rules")
    listed = [line for line in stdout.splitlines() if re.fullmatch(r"\w+", line)]
    own = set().union(*(defined_rules(p) for p in reachable(REPO / stage_file)))
    assert own and matches(listed, own), (sorted(listed), sorted(own))


def test_stage_files_own_every_rule_once():
    owners = [defined_rules(p) for f in stage_files() for p in reachable(REPO / f)]
    every = set().union(*(defined_rules(p) for p in RULES.glob("*.smk")))
    # Every rule file is reached from the Snakefile, through one stage file only.
    assert sum(map(len, owners)) == len(every)


def test_reversed_include_order_plans_the_same_jobs(tmp_path):
    args = ("-n", "--forceall", "--cores", "1", "--configfile", SMOKE)
    real = dry_run_jobs(snakemake(REPO / "Snakefile", tmp_path, *args))
    common, *stages = snakefile_parts()[1]
    reversed_snakefile = snakefile_with(tmp_path, [common, *stages[::-1]], rule_all=True)
    stdout = snakemake(reversed_snakefile, tmp_path / "work", *args)
    # The claims registry is read from the linked checkout's src/.
    again = dry_run_jobs(stdout.replace(str(reversed_snakefile.parent), str(REPO)))
    assert len(real) > 40 and len(set(real)) == len(real)
    assert sorted(again) == sorted(real)


def test_targets_are_registered_through_common_only():
    for path in sorted(RULES.glob("*.smk")):
        names = [name for name, _ in code_names(path)]
        if path != COMMON:
            assert "STAGE_TARGETS" not in names, path.name
        # A helpers file may run twice (included by two stages): it only defines names.
        if path.name.endswith("_helpers.smk"):
            assert "register_targets" not in names and not defined_rules(path), path.name


def test_other_stages_names_only_through_included_helpers():
    files = sorted(RULES.glob("*.smk"))
    # Every file runs in one namespace: a name assigned in two files would be overwritten.
    owner: dict[str, Path] = {}
    for path in files:
        for name in defined_names(path):
            assert name not in owner, f"{name} is defined in {owner[name].name} and {path.name}"
            owner[name] = path
    importers = {
        name: {p for p in files if name in imported_names(p)}
        for name in set().union(*map(imported_names, files))
    }
    rule_owner = {rule: path for path in files for rule in defined_rules(path)}
    for path in files:
        for included in includes(path):
            # A helpers file, or another part of the same stage (eigenmaps_spectral.smk).
            part = included.name.startswith(f"{path.stem}_")
            assert part or included.name.endswith("_helpers.smk"), (path.name, included.name)
        visible = reachable(path) | {COMMON}
        for name, before in code_names(path):
            if before == "rules":
                sources = {rule_owner[name]} if name in rule_owner else set()
            elif before is None:
                sources = ({owner[name]} if name in owner else set()) | importers.get(name, set())
            else:
                continue  # an attribute
            assert not sources or sources & visible, (
                f"{path.name} uses {name} of {', '.join(sorted(p.name for p in sources))} "
                "without including it"
            )
