"""Rule registration_figures: the stage's tidy table (+ a few samples) -> figures."""

from repgeom.figures.registration import draw_all
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out, p = snakemake.input, snakemake.output, snakemake.params
    draw_all(
        inp.metrics, inp.samples, list(inp.curves), dict(out.items()), figure_taus=p.figure_taus
    )
