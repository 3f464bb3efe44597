"""Rule lsh_figures: the stage's tidy tables (+ sample images) -> results/figures/lsh_*.png."""

import pandas as pd

from repgeom.curves import read_curves
from repgeom.figures.lsh import draw_all
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out = snakemake.input, snakemake.output
    names = ("collision", "invariance", "oneshot", "samples", "curves")
    draw_all(
        pd.read_csv(inp.metrics),
        pd.read_csv(inp.detail),
        read_curves(inp.curves),
        inp.get("projection"),
        inp.get("data"),
        {k: out[k] for k in names if k in out.keys()},
    )
