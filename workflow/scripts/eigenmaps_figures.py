"""Rule eigenmaps_figures: from results/eigenmaps/ssl/metrics.csv, retrieval against code
length, probe and kNN accuracy (beside the floors) and the eigenvalue spectrum; from every
curve table of the stage (pretraining, circle, graphs), the training curves."""

import pandas as pd

from repgeom.curves import read_curves
from repgeom.figures.curves import plot_curves
from repgeom.figures.eigenmaps import draw_all
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out = snakemake.input, snakemake.output
    draw_all(inp.metrics, {k: out[k] for k in ("retrieval", "probe", "pretrain_spectrum")})
    # One line per model kind: the pretraining methods, the circle variants, each graph.
    ssl = read_curves(list(inp.curves))
    toy_c = read_curves(list(inp.toy_curves))
    graph_c = read_curves(list(inp.graph_curves))
    frames = [
        ssl.assign(method="MNIST " + ssl["method"]),
        toy_c.assign(method="circle " + toy_c["method"]),
        graph_c.assign(method=graph_c["graph"] + " " + graph_c["method"]),
    ]
    plot_curves(pd.concat(frames, ignore_index=True), out.curves, title="eigenmaps")
