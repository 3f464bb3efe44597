"""docs/deviations.md keeps a deviations table for every stage the default config runs,
so a stage cannot silently drop out of the page."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import REPO

DOC = REPO / "docs" / "deviations.md"
COLUMNS = ["aspect", "paper", "ours (default)", "paper preset", "why"]


def stages() -> list[str]:
    return list(yaml.safe_load((REPO / "config.yaml").read_text())["stages"])


def sections(text: str) -> dict[str, str]:
    """Level-2 sections keyed by the first word of their heading ("## lsh (...)" -> lsh)."""
    parts = re.split(r"^## +", text, flags=re.M)[1:]
    return {part.split(None, 1)[0]: part for part in parts}


def table_rows(section: str) -> list[list[str]]:
    """Cells of the section's Markdown table lines (header first, separator dropped)."""
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not re.fullmatch(r"[|\s:-]+", line):
            cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
            rows.append([c.strip() for c in cells])
    return rows


def test_sections_are_found_by_heading():
    text = "# t\n## a (x)\n| h |\n|---|\n| r |\n## b\ntext\n"
    found = sections(text)
    assert list(found) == ["a", "b"]
    assert table_rows(found["a"]) == [["h"], ["r"]]
    assert table_rows(found["b"]) == []


@pytest.mark.parametrize("stage", stages())
def test_every_stage_has_a_deviation_table(stage):
    found = sections(DOC.read_text())
    assert stage in found, f"docs/deviations.md has no '## {stage}' section"
    rows = table_rows(found[stage])
    assert rows and rows[0] == COLUMNS, f"{stage}: table header must be {COLUMNS}"
    assert len(rows) > 1, f"{stage}: the deviations table has no rows"
    for row in rows[1:]:
        assert len(row) == len(COLUMNS) and all(row), f"{stage}: incomplete row {row}"
