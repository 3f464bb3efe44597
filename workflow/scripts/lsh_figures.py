"""Rule lsh_figures: the stage's tidy tables (+ sample images) -> results/figures/lsh_*.png."""

from repgeom.figures.lsh import draw_all
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out = snakemake.input, snakemake.output
    draw_all(
        inp.metrics,
        inp.get("projection"),
        inp.get("data"),
        {k: out[k] for k in ("collision", "invariance", "oneshot", "samples") if k in out.keys()},
    )
