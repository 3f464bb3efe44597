"""Rule readme: the finished run's scorecard, stage times and figures -> docs/results.md,
the figures copied to docs/figures/, and the same section between the README's
results markers (the README is only rewritten when the markers are there)."""

import os
import shutil
from pathlib import Path

import pandas as pd

from repgeom.io import atomic_path, write_text
from repgeom.scorecard import replace_block, results_markdown
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out, p = snakemake.input, snakemake.output, snakemake.params
    figure_dir = Path(p.figure_dir)
    figure_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for fig in inp.figures:
        target = figure_dir / Path(fig).name
        with atomic_path(target) as tmp:
            shutil.copyfile(fig, tmp)
        copies.append(target.as_posix())
    note = "Run with the configuration files " + ", ".join(
        f"`{Path(f).name}`" for f in p.config_files
    )
    card, times = pd.read_csv(inp.scorecard), pd.read_csv(inp.times)
    note += " (statements, metrics and scales: docs/results.md and results/scorecard.csv)."
    section = results_markdown(card, times, copies, note, compact=True)
    readme = Path(p.readme)
    # Check the README's markers before writing anything, so a bad README loses nothing.
    updated = replace_block(readme.read_text(), section) if readme.exists() else None
    # docs/results.md links its figures relative to itself.
    beside = [os.path.relpath(c, Path(out.results).parent) for c in copies]
    full = results_markdown(card, times, beside, note)
    write_text(out.results, "# Results\n\n" + full)
    if updated is not None:
        write_text(readme, updated)
        run.log.info("README results section updated (%d figures)", len(copies))
    else:
        run.log.warning("no %s here: only %s written", readme, out.results)
