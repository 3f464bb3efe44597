"""Rule scorecard: every selected stage's claims, against the registry's expected cases
-> results/scorecard.csv and .md (a case no stage produced is a `not tested` row), and
the HTML table the report's first page shows."""

from repgeom.io import write_csv, write_text
from repgeom.report_html import scorecard_html
from repgeom.scorecard import build_scorecard, missing_cases, scorecard_markdown, verdict_counts
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out, p = snakemake.input, snakemake.output, snakemake.params
    card = build_scorecard(dict(zip(p.stages, inp.claims, strict=True)), p.expected)
    write_csv(out.csv, card)
    write_text(out.md, scorecard_markdown(card))
    write_text(out.html, scorecard_html(card))
    run.log.info("scorecard: %d rows, %s", len(card), verdict_counts(card))
    for case in missing_cases(card):
        run.log.warning("NOT TESTED: %s (expected by the claims registry)", case)
