"""Rule eigenmaps_figures: every figure of the stage. From results/eigenmaps/ssl/metrics.csv:
retrieval against code length, probe and kNN accuracy (beside the floors), eigenvalue
spectrum; from the circle and graph tables: learned vs exact eigenfunctions, the
spectrum (estimated vs exact) and the graph embeddings; from every curve table: the
training curves."""

import pandas as pd

from repgeom.curves import read_curves
from repgeom.figures.curves import plot_curves
from repgeom.figures.eigenmaps import draw_all
from repgeom.figures.eigenmaps_spectral import (
    plot_graph_embeddings,
    plot_spectrum,
    plot_toy_functions,
)
from repgeom.metrics import read_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out = snakemake.input, snakemake.output
    draw_all(inp.metrics, {k: out[k] for k in ("retrieval", "probe", "pretrain_spectrum")})
    toy, graph = read_metrics(inp.toy_metrics), read_metrics(inp.graph_metrics)
    plot_toy_functions(read_metrics(inp.toy_functions), toy, out.toy_functions)
    plot_spectrum(toy, graph, out.spectrum)
    plot_graph_embeddings(read_metrics(inp.graph_embeddings), graph, out.graph_embeddings)
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
