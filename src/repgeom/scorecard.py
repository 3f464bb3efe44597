"""Scorecard: every stage's claims in one table (CSV and Markdown), the stage
timing table from the per-rule benchmark files, and a provenance summary.

A claim id repeats across datasets, attacks or generators (I3 per dataset and
attack, L1 per generator, ...); the columns a stage adds beyond CLAIM_COLUMNS
tell the rows apart and become the ``case`` of a row, so (stage, claim_id, case)
is a key."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from repgeom.claims import CLAIM_COLUMNS, Verdict, read_claims

PathLike = str | os.PathLike

# The claims record, keyed by stage and case as well.
SCORECARD_COLUMNS = ("stage", CLAIM_COLUMNS[0], "case", *CLAIM_COLUMNS[1:])

# Snakemake's benchmark columns used in the timing table (seconds, MB).
BENCHMARK_COLUMNS = ("s", "max_rss")


def _case(row: pd.Series, extra: list[str]) -> str:
    parts = []
    for col in extra:
        value = row[col]
        if isinstance(value, float) and math.isnan(value):
            continue  # a column another claim of the stage needs, not this one
        parts.append(f"{col}={value}")
    return "; ".join(parts)


def stage_claims(stage: str, path: PathLike) -> pd.DataFrame:
    """One stage's claims with a ``case`` column built from its extra columns."""
    df = read_claims(path)
    extra = [c for c in df.columns if c not in CLAIM_COLUMNS]
    df = df.assign(stage=stage, case=[_case(row, extra) for _, row in df.iterrows()])
    dup = df[df.duplicated(["claim_id", "case"], keep=False)]
    if not dup.empty:
        keys = sorted(set(zip(dup["claim_id"], dup["case"], strict=True)))
        raise ValueError(
            f"claims file {path}: rows share (claim_id, case) {keys}; "
            "a stage must add a column that tells repeated claim ids apart"
        )
    return df[list(SCORECARD_COLUMNS)]


def build_scorecard(claims_by_stage: Mapping[str, PathLike]) -> pd.DataFrame:
    """All stages' claims, in stage order (as given) and then claim id order."""
    if not claims_by_stage:
        raise ValueError("build_scorecard: no claims files (no stage selected?)")
    frames = [stage_claims(stage, path) for stage, path in claims_by_stage.items()]
    df = pd.concat(frames, ignore_index=True)
    order = {stage: i for i, stage in enumerate(claims_by_stage)}
    df = df.assign(_stage=df["stage"].map(order))
    df = df.sort_values(["_stage", "claim_id", "case"], kind="stable").drop(columns="_stage")
    return df.reset_index(drop=True)


def _number(x: float) -> str:
    if isinstance(x, float) and math.isnan(x):
        return "n/a"
    return f"{x:.4g}"


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def verdict_counts(scorecard: pd.DataFrame) -> dict[str, int]:
    counts = scorecard["verdict"].value_counts()
    return {v.value: int(counts.get(v.value, 0)) for v in Verdict}


def scorecard_markdown(scorecard: pd.DataFrame, *, compact: bool = False) -> str:
    """The scorecard as a Markdown table, with verdict counts above it; ``compact``
    leaves out the statement, metric and scale columns (kept in the CSV)."""
    counts = verdict_counts(scorecard)
    scorecard = scorecard.fillna({"case": ""})  # read back from CSV, an empty case is NaN
    columns = ["stage", "claim", "case", "threshold", "mean [95% CI]", "seeds", "verdict"]
    if not compact:
        columns[3:3] = ["statement", "metric"]
        columns.append("scale")
    lines = [
        f"{len(scorecard)} claim rows: "
        + ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
        + ".",
        "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for _, r in scorecard.iterrows():
        cells = {
            "stage": r["stage"],
            "claim": r["claim_id"],
            "case": r["case"],
            "statement": r["statement"],
            "metric": r["metric"],
            "threshold": f"{r['direction']} {_number(r['threshold'])}",
            "mean [95% CI]": (
                f"{_number(r['mean'])} [{_number(r['ci_low'])}, {_number(r['ci_high'])}]"
            ),
            "seeds": r["n_seeds"],
            "verdict": f"**{r['verdict']}**",
            "scale": r["scale"],
        }
        lines.append("| " + " | ".join(_md_cell(cells[c]) for c in columns) + " |")
    return "\n".join(lines) + "\n"


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


def stage_times(jobs: pd.DataFrame, stages: list[str] | None = None) -> pd.DataFrame:
    """Per stage: jobs, summed job wall time, the longest job, peak memory; rows in
    the order of ``stages``, then any other stage (every job given is counted)."""
    grouped = jobs.groupby("stage", sort=False)
    table = pd.DataFrame(
        {
            "jobs": grouped.size(),
            "job_seconds": grouped["wall_s"].sum(),
            "longest_job_s": grouped["wall_s"].max(),
            "peak_rss_mb": grouped["max_rss_mb"].max(),
        }
    ).reset_index()
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
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True).round(2)


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
    lines = [
        "| stage | jobs | job time (min) | longest job (s) | peak memory (GB) |",
        "|---|---|---|---|---|",
    ]
    for _, r in times.iterrows():
        lines.append(
            f"| {r['stage']} | {int(r['jobs'])} | {r['job_seconds'] / 60:.1f} "
            f"| {r['longest_job_s']:.0f} | {r['peak_rss_mb'] / 1024:.2f} |"
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
