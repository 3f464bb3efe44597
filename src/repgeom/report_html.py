"""The HTML report's sections and tables: where each stage's figures go (one numbered
category per paper, in the papers' order, so the report neither mixes case nor sorts
them alphabetically), and the scorecard, stage times and provenance as HTML tables
that the report's first page embeds (workflow/report/workflow.rst).

Imported while the Snakefile is parsed (``report_section``), so it imports no pandas:
the table functions take DataFrames but only call their methods."""

from __future__ import annotations

import base64
import html
import math
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING

from repgeom.scorecard import paper_summary

if TYPE_CHECKING:
    import pandas as pd

# The four papers in the order of the stages (config `stages`), with their stages.
PAPERS = (
    ("Charpiat et al. 2019, input similarity", ("registration", "similarity")),
    ("Deng et al. 2022, neural eigenfunctions", ("eigenmaps",)),
    ("Beshkov et al. 2022, isometric representations", ("isometry", "adversarial")),
    ("Dikkala et al. 2021, networks as LSH functions", ("lsh",)),
)
SCORECARD_CATEGORY = "1. Scorecard"
RUN_CATEGORY = f"{len(PAPERS) + 2}. Run: stage times and provenance"
RUN_TIMES = {"category": RUN_CATEGORY, "subcategory": f"{len(PAPERS) + 2}.1 stage times"}
RUN_PROVENANCE = {"category": RUN_CATEGORY, "subcategory": f"{len(PAPERS) + 2}.2 provenance"}

# Background colour of each verdict (the claims' three and the scorecard's gates).
VERDICT_COLOURS = {
    "reproduced": "#b7e4c7",
    "not reproduced": "#f4a6a6",
    "inconclusive": "#ffe08a",
    "invalid": "#c9b3e6",
    "not tested": "#d9d9d9",
}
UNKNOWN_VERDICT_COLOUR = "#ffffff"

# Scorecard columns shown, in this order, when the table has them.
SCORECARD_HTML_COLUMNS = (
    ("claim_id", "claim"),
    ("case", "case"),
    ("claim", "paper's claim"),  # the registry's short claim; how it is tested: the CSV
    ("paper_value", "paper value"),
    ("threshold", "threshold"),
    ("measured", "measured mean [95% CI]"),
    ("n_seeds", "seeds"),
    ("verdict", "verdict"),
    ("gate_status", "gate"),
    ("reason", "reason"),
)

TABLE_STYLE = """<style>
table.repgeom { border-collapse: collapse; font-size: 0.8rem; margin: 0.5rem 0 1rem; }
table.repgeom th, table.repgeom td { border: 1px solid #bbb; padding: 2px 6px;
  vertical-align: top; text-align: left; }
table.repgeom th.paper { background: #e8eef7; font-size: 0.9rem; }
table.repgeom td.num { text-align: right; white-space: nowrap; }
</style>
"""


def report_section(stage: str) -> dict[str, str]:
    """``category`` and ``subcategory`` of a stage's figures in the report:
    "<n>. <paper>" and "<n>.<m> <stage>", numbered so they sort in the papers' order."""
    for i, (paper, stages) in enumerate(PAPERS, start=2):
        if stage in stages:
            return {
                "category": f"{i}. {paper}",
                "subcategory": f"{i}.{stages.index(stage) + 1} {stage}",
            }
    known = [s for _, stages in PAPERS for s in stages]
    raise ValueError(f"stage {stage!r} belongs to no paper of the report (known: {known})")


def _blank(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _text(value) -> str:
    return "" if _blank(value) else html.escape(str(value))


def _number(value) -> str:
    if _blank(value):
        return "n/a"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return html.escape(str(value))
    if number.is_integer() and abs(number) < 1e12:
        return str(int(number))  # counts and round seconds in full
    return f"{number:.4g}"


def verdict_colour(verdict) -> str:
    return VERDICT_COLOURS.get(str(verdict).strip().lower(), UNKNOWN_VERDICT_COLOUR)


def _scorecard_cell(row, column: str) -> str:
    if column == "measured":
        if _blank(row.get("mean")):
            return '<td class="num">n/a</td>'
        ci = f"[{_number(row.get('ci_low'))}, {_number(row.get('ci_high'))}]"
        return f'<td class="num">{_number(row["mean"])} {ci}</td>'
    if column == "threshold":
        return f'<td class="num">{_text(row.get("direction"))} {_number(row.get("threshold"))}</td>'
    if column == "verdict":
        colour = verdict_colour(row["verdict"])
        return f'<td style="background:{colour}"><b>{_text(row["verdict"])}</b></td>'
    if column == "n_seeds":
        value = row.get(column)
        return f'<td class="num">{"" if _blank(value) else int(float(value))}</td>'
    return f"<td>{_text(row.get(column))}</td>"


def verdict_summary(scorecard: pd.DataFrame) -> str:
    """ "N claim rows: n reproduced, ..." with each verdict in its colour."""
    counts = scorecard["verdict"].astype(str).value_counts()
    order = [v for v in VERDICT_COLOURS if v in counts] + [
        v for v in counts.index if v not in VERDICT_COLOURS
    ]
    parts = [
        f'<span style="background:{verdict_colour(v)};padding:0 4px">'
        f"{int(counts[v])} {html.escape(v)}</span>"
        for v in order
    ]
    return f"<p>{len(scorecard)} claim rows: {', '.join(parts)}.</p>"


def scorecard_html(scorecard: pd.DataFrame) -> str:
    """The scorecard as one HTML table, a header row per paper (in the order the rows
    come, i.e. the stages'), each verdict cell coloured. Shows whichever of the known
    columns the table has, so columns added later appear without code changes here."""
    if "verdict" not in scorecard.columns:
        raise ValueError(f"scorecard has no 'verdict' column (columns: {list(scorecard.columns)})")
    have = set(scorecard.columns)
    needs = {"measured": {"mean"}, "threshold": {"threshold"}}
    columns = [(c, h) for c, h in SCORECARD_HTML_COLUMNS if needs.get(c, {c}) <= have]
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in columns)
    lines = [TABLE_STYLE, verdict_summary(scorecard), '<table class="repgeom scorecard">']
    lines.append(f"<thead><tr>{head}</tr></thead>")
    groups = scorecard["paper"].fillna("") if "paper" in have else None
    order = list(dict.fromkeys(groups)) if groups is not None else [None]
    for paper in order:
        rows = scorecard if paper is None else scorecard[groups == paper]
        lines.append("<tbody>")
        if paper is not None:
            # The paper's one-line summary: counts, and why rows are invalid / not tested.
            summary = f"{_text(paper)}: {_text(paper_summary(rows))}"
            lines.append(f'<tr><th class="paper" colspan="{len(columns)}">{summary}</th></tr>')
        for _, row in rows.iterrows():
            cells = "".join(_scorecard_cell(row, c) for c, _ in columns)
            lines.append(f'<tr class="verdict">{cells}</tr>')
        lines.append("</tbody>")
    lines.append("</table>")
    return "\n".join(lines) + "\n"


def table_html(table: pd.DataFrame, caption: str = "") -> str:
    """A plain table (stage times, provenance summary): numbers right-aligned."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    lines = [TABLE_STYLE]
    if caption:
        lines.append(f"<p>{html.escape(caption)}</p>")
    lines += ['<table class="repgeom">', f"<thead><tr>{head}</tr></thead>", "<tbody>"]
    for _, row in table.iterrows():
        cells = []
        for value in row:
            if isinstance(value, int | float) and not isinstance(value, bool):
                cells.append(f'<td class="num">{_number(value)}</td>')
            else:
                cells.append(f"<td>{_text(value)}</td>")
        lines.append(f"<tr>{''.join(cells)}</tr>")
    lines += ["</tbody>", "</table>"]
    return "\n".join(lines) + "\n"


def provenance_overview(provenance: pd.DataFrame) -> pd.DataFrame:
    """How many result files each (commit, dirty tree, device, torch) made."""
    keys = [c for c in ("commit", "dirty", "device", "device_name", "torch") if c in provenance]
    if provenance.empty or not keys:
        return provenance.head(0)
    grouped = provenance.fillna({k: "" for k in keys}).groupby(keys, sort=False)
    return grouped.size().rename("result files").reset_index()


INLINE_IMAGE_DIRECTIVE = "inline-image"


def data_uri(path: str | Path) -> str:
    """The file as a ``data:`` URI, so the report carries it inside its one HTML file."""
    mime = mimetypes.guess_type(str(path))[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode('ascii')}"


def register_inline_image() -> None:
    """An rst directive ``.. inline-image:: <path>``: docutils' image with the file
    embedded as a data URI. Snakemake's own ``embeddedimage`` (9.x) leaves the path as
    it is (its class runs docutils' Image.run first), so the image only shows where
    the report is opened beside the results."""
    from docutils.parsers.rst import directives
    from docutils.parsers.rst.directives.images import Image

    class InlineImage(Image):
        def run(self):
            self.arguments[0] = data_uri(directives.uri(self.arguments[0]))
            return super().run()

    directives.register_directive(INLINE_IMAGE_DIRECTIVE, InlineImage)
