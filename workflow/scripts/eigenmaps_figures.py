"""Rule eigenmaps_figures: results/eigenmaps/ssl/metrics.csv -> results/figures/eigenmaps_*.png
(retrieval against code length, probe and kNN accuracy, eigenvalue spectrum)."""

from repgeom.figures.eigenmaps import draw_all
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    draw_all(
        inp.metrics,
        {k: out[k] for k in ("retrieval", "probe", "pretrain_spectrum")},
        full=p.full,
        fraction=p.fraction,
    )
