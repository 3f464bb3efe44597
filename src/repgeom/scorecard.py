"""Scorecard: every stage's claims in one table (CSV and Markdown), the stage
timing table from the per-rule benchmark files, and a provenance summary.

The claims registry (repgeom.registry) says which rows must exist: one per expected
case of every claim of the selected stages, keyed by (stage, claim_id, case), the
case built from the claim's case dimensions. A case the run did not produce is a
``not tested`` row; a row the registry does not expect is an error, so claims can
neither vanish nor appear silently. Rows are grouped by paper, in stage order."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from repgeom.claims import CLAIM_COLUMNS, Verdict, read_claims
from repgeom.registry import Registry, case_key, load_registry

PathLike = str | os.PathLike

# The claims record keyed by stage and case, with the registry's paper claim and the
# paper's own value beside the measurement.
SCORECARD_COLUMNS = (
    "stage",
    "claim_id",
    "case",
    "paper",
    "claim",
    "paper_value",
    "paper_source",
    *CLAIM_COLUMNS[2:],
)

# Snakemake's benchmark columns used in the timing table (seconds, MB).
BENCHMARK_COLUMNS = ("s", "max_rss")

NOT_TESTED_REASON = "the run produced no row for this case"


def stage_claims(stage: str, path: PathLike, registry: Registry | None = None) -> pd.DataFrame:
    """One stage's claims with a ``case`` key from each claim's registry dimensions."""
    registry = registry or load_registry()
    df = read_claims(path)
    cases = []
    for _, row in df.iterrows():
        spec = registry.claim(row["claim_id"])
        missing = [d for d in spec.cases if d not in row or pd.isna(row[d])]
        if missing:
            raise ValueError(
                f"claims file {path}: claim {row['claim_id']} lacks case column(s) {missing}"
            )
        cases.append(case_key({d: row[d] for d in spec.cases}))
    df = df.assign(stage=stage, case=cases)
    dup = df[df.duplicated(["claim_id", "case"], keep=False)]
    if not dup.empty:
        keys = sorted(set(zip(dup["claim_id"], dup["case"], strict=True)))
        raise ValueError(f"claims file {path}: rows share (claim_id, case) {keys}")
    return df


def _not_tested(stage: str, claim_id: str, case: str, registry: Registry) -> dict:
    spec = registry.claim(claim_id)
    return {
        "stage": stage,
        "claim_id": claim_id,
        "case": case,
        "paper": registry.paper_of(claim_id).short,
        "statement": "",
        "metric": "",
        "direction": spec.direction or "",
        "threshold": math.nan,
        "mean": math.nan,
        "ci_low": math.nan,
        "ci_high": math.nan,
        "n_seeds": 0,
        "verdict": Verdict.NOT_TESTED.value,
        "gate_status": "",
        "gates": "",
        "reason": NOT_TESTED_REASON,
        "seeds_needed": math.nan,
        "scale": "",
    }


def build_scorecard(
    claims_by_stage: Mapping[str, PathLike],
    expected: Iterable[tuple[str, str, str]],
    registry: Registry | None = None,
) -> pd.DataFrame:
    """Every expected (stage, claim_id, case) row, in the order of ``expected`` (from
    repgeom.registry.expected_rows), measured where a stage produced it and
    ``not tested`` where none did; a produced row that is not expected is an error."""
    registry = registry or load_registry()
    expected = [tuple(e) for e in expected]
    if not expected:
        raise ValueError("build_scorecard: no expected claims (no stage selected?)")
    frames = [stage_claims(stage, path, registry) for stage, path in claims_by_stage.items()]
    produced = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    by_key = {(r["stage"], r["claim_id"], r["case"]): r for _, r in produced.iterrows()}
    unexpected = sorted(set(by_key) - set(expected))
    if unexpected:
        raise ValueError(
            f"claims rows the registry does not expect (stage, claim, case): {unexpected}; "
            "declare the case in the claims registry or stop producing it"
        )
    rows = [dict(by_key[key]) if key in by_key else _not_tested(*key, registry) for key in expected]
    df = pd.DataFrame(rows)
    specs = [registry.claim(c) for c in df["claim_id"]]
    df = df.assign(
        claim=[s.claim for s in specs],
        paper_value=[s.paper_value for s in specs],
        paper_source=[s.paper_source for s in specs],
    )
    return df[list(SCORECARD_COLUMNS)].reset_index(drop=True)


def missing_cases(scorecard: pd.DataFrame) -> list[str]:
    """The ``claim_id [case]`` of every ``not tested`` row (a whole-DAG run has none)."""
    rows = scorecard[scorecard["verdict"] == Verdict.NOT_TESTED.value]
    return [f"{r.claim_id} [{r.case}]" for r in rows.itertuples()]


def _number(x: float) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    return f"{x:.4g}"


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def verdict_counts(scorecard: pd.DataFrame) -> dict[str, int]:
    counts = scorecard["verdict"].value_counts()
    return {v.value: int(counts.get(v.value, 0)) for v in Verdict}


def _counts_text(scorecard: pd.DataFrame) -> str:
    return ", ".join(f"{n} {v}" for v, n in verdict_counts(scorecard).items() if n)


def paper_summary(rows: pd.DataFrame) -> str:
    """One line for a paper's rows: verdict counts, then why rows are invalid or not
    tested (each distinct reason once)."""
    reasons = []
    undecided = rows["verdict"].isin([Verdict.INVALID.value, Verdict.NOT_TESTED.value])
    for r in rows.loc[undecided, "reason"] if "reason" in rows else []:
        for part in r.split("; ") if isinstance(r, str) else []:  # NaN: read back from CSV
            if part and part not in reasons:
                reasons.append(part)
    why = f": {'; '.join(reasons)}" if reasons else ""
    return f"{_counts_text(rows)}{why}"


def _ordered_papers(scorecard: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(scorecard["paper"]))


def scorecard_markdown(scorecard: pd.DataFrame, *, compact: bool = False) -> str:
    """The scorecard as Markdown: overall counts, then per paper (in stage order) a
    one-line summary and a table; ``compact`` leaves out the statement, metric and
    scale columns (kept in the CSV)."""
    # Text columns read back from CSV are all-NaN floats where empty: blank them as text.
    text = ("case", "paper_value", "reason", "gates", "gate_status")
    scorecard = scorecard.assign(
        **{c: scorecard[c].astype(object).where(scorecard[c].notna(), "") for c in text}
    )
    columns = ["claim", "case", "paper's value", "threshold", "mean [95% CI]", "seeds"]
    columns += ["verdict", "gates", "reason"]
    if not compact:
        columns[2:2] = ["statement", "metric"]
        columns.append("scale")
    lines = [f"{len(scorecard)} claim rows: {_counts_text(scorecard)}.", ""]
    for paper in _ordered_papers(scorecard):
        rows = scorecard[scorecard["paper"] == paper]
        lines += [f"#### {paper}", "", f"{paper_summary(rows)}.", ""]
        lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for _, r in rows.iterrows():
            paper_value = r["paper_value"]
            if paper_value and r["paper_source"]:
                paper_value = f"{paper_value} ({r['paper_source']})"
            cells = {
                "claim": r["claim_id"],
                "case": r["case"],
                "paper's value": paper_value,
                "statement": r["statement"],
                "metric": r["metric"],
                "threshold": f"{r['direction']} {_number(r['threshold'])}",
                "mean [95% CI]": (
                    f"{_number(r['mean'])} [{_number(r['ci_low'])}, {_number(r['ci_high'])}]"
                ),
                "seeds": r["n_seeds"],
                "verdict": f"**{r['verdict']}**",
                "gates": r["gate_status"],
                "reason": r["reason"],
                "scale": r["scale"],
            }
            lines.append("| " + " | ".join(_md_cell(cells[c]) for c in columns) + " |")
        lines.append("")
    return "\n".join(lines)


def read_benchmarks(paths: list[PathLike], root: PathLike) -> pd.DataFrame:
    """The given Snakemake benchmark files (one per job, under ``root``/<stage>/) as one
    row per job: stage, job (path below the stage folder), wall seconds, peak resident
    memory (MB). A missing file is an error: every job asked for must be counted."""
    paths = sorted(map(Path, paths))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} benchmark file(s) missing, e.g. {missing[:3]}: their jobs ran "
            f"without writing one here (before benchmarks moved to {root}/?); move the old "
            "files there or redo those jobs (snakemake --forcerun <rule>)"
        )
    rows = []
    for path in paths:
        parts = path.relative_to(root).parts
        if len(parts) < 2:
            raise ValueError(f"benchmark file {path}: not in a stage folder of {root}")
        table = pd.read_csv(path, sep="\t")
        missing = [c for c in BENCHMARK_COLUMNS if c not in table.columns]
        if missing or table.empty:
            raise ValueError(f"benchmark file {path}: not a Snakemake benchmark ({missing})")
        # A benchmark with repeats has several rows: a job's cost is its mean.
        wall = float(table["s"].mean())
        rss = pd.to_numeric(table["max_rss"], errors="coerce").max()
        job = str(Path(*parts[1:]).with_suffix(""))
        rows.append({"stage": parts[0], "job": job, "wall_s": wall, "max_rss_mb": float(rss)})
    return pd.DataFrame(rows, columns=["stage", "job", "wall_s", "max_rss_mb"])


STARTUP_PATTERN = re.compile(r"start-up (\S+) s \(interpreter")


def read_startup(logs: list[PathLike], root: PathLike = "logs") -> pd.DataFrame:
    """Each job's start-up (seconds from its process start to its own work, logged by
    repgeom.smk.rule_run; the last such line of the log) as stage, startup_s; the stage
    is the log's folder under ``root``. A log without the line (a job that never reached
    rule_run, or a missing log) counts as NaN, so the share is not overstated."""
    rows = []
    for path in map(Path, logs):
        found = STARTUP_PATTERN.findall(path.read_text()) if path.is_file() else []
        stage = path.relative_to(root).parts[0] if path.is_relative_to(root) else "?"
        rows.append({"stage": stage, "startup_s": float(found[-1]) if found else math.nan})
    return pd.DataFrame(rows, columns=["stage", "startup_s"])


def stage_times(
    jobs: pd.DataFrame, stages: list[str] | None = None, startup: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per stage: jobs, summed job wall time, the longest job, peak memory and, given
    ``startup`` (:func:`read_startup`), the summed start-up and its share of the job
    time; rows in the order of ``stages``, then any other stage (every job given is
    counted)."""
    grouped = jobs.groupby("stage", sort=False)
    table = pd.DataFrame(
        {
            "jobs": grouped.size(),
            "job_seconds": grouped["wall_s"].sum(),
            "longest_job_s": grouped["wall_s"].max(),
            "peak_rss_mb": grouped["max_rss_mb"].max(),
        }
    ).reset_index()
    if startup is not None:
        summed = startup.groupby("stage")["startup_s"].sum(min_count=1)
        table["startup_s"] = table["stage"].map(summed)
    if stages is not None:
        present = list(table["stage"])
        order = [s for s in stages if s in present] + [s for s in present if s not in stages]
        table = table.set_index("stage").reindex(order).reset_index()
    total = {
        "stage": "total",
        "jobs": int(table["jobs"].sum()),
        "job_seconds": float(table["job_seconds"].sum()),
        "longest_job_s": float(table["longest_job_s"].max()) if len(table) else math.nan,
        "peak_rss_mb": float(table["peak_rss_mb"].max()) if len(table) else math.nan,
    }
    if startup is not None:
        total["startup_s"] = float(table["startup_s"].sum(min_count=1))
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    if startup is not None:
        table["startup_share"] = table["startup_s"] / table["job_seconds"]
    return table.round(3)


def provenance_summary(paths: list[PathLike]) -> pd.DataFrame:
    """One row per provenance sidecar: which code, device and versions made it."""
    rows = []
    for path in sorted(map(Path, paths)):
        prov = json.loads(path.read_text())
        device = prov.get("device") or {}
        versions = prov.get("versions") or {}
        rows.append(
            {
                "file": str(path),
                "commit": (prov.get("git_commit") or "")[:12] or None,
                "dirty": prov.get("git_dirty"),
                "seed": prov.get("seed"),
                "device": device.get("type"),
                "device_name": device.get("name"),
                "torch": versions.get("torch"),
                "wall_time_s": prov.get("wall_time_s"),
                "created": prov.get("created"),
            }
        )
    return pd.DataFrame(rows)


README_START = "<!-- results:start (written by `snakemake readme`; do not edit by hand) -->"
README_END = "<!-- results:end -->"


def times_markdown(times: pd.DataFrame) -> str:
    share = "startup_share" in times
    lines = [
        "| stage | jobs | job time (min) | longest job (s) | peak memory (GB) |"
        + (" start-up share |" if share else ""),
        "|---|---|---|---|---|" + ("---|" if share else ""),
    ]
    for _, r in times.iterrows():
        lines.append(
            f"| {r['stage']} | {int(r['jobs'])} | {r['job_seconds'] / 60:.1f} "
            f"| {r['longest_job_s']:.0f} | {r['peak_rss_mb'] / 1024:.2f} |"
            + (f" {r['startup_share']:.0%} |" if share else "")
        )
    return "\n".join(lines) + "\n"


def results_markdown(
    scorecard: pd.DataFrame,
    times: pd.DataFrame,
    figures: list[str],
    run_note: str,
    *,
    compact: bool = False,
) -> str:
    """The generated results section: scorecard, stage times, every figure."""
    parts = [
        "### Scorecard",
        "",
        run_note,
        "",
        scorecard_markdown(scorecard, compact=compact),
        "### Stage times",
        "",
        "Summed job wall time per stage (jobs run in parallel, so the run's wall time is "
        "shorter), from the per-rule benchmark files.",
        "",
        times_markdown(times),
        "### Figures",
        "",
    ]
    for fig in figures:
        parts += [f"![{Path(fig).stem}]({fig})", ""]
    return "\n".join(parts)


def replace_block(text: str, block: str, start: str = README_START, end: str = README_END) -> str:
    """``text`` with what lies between the two markers replaced by ``block``."""
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(
            f"expected exactly one {start!r} followed by one {end!r}; "
            "add them where the generated results belong"
        )
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{block.rstrip()}\n{end}{tail}"
