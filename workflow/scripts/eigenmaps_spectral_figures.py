"""Rule eigenmaps_spectral_figures: the circle and graph metrics tables (+ the first
seed's functions and embeddings) -> learned vs exact eigenfunctions, the spectrum, the
graph embeddings."""

from repgeom.figures.eigenmaps_spectral import (
    plot_graph_embeddings,
    plot_spectrum,
    plot_toy_functions,
)
from repgeom.metrics import read_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out = snakemake.input, snakemake.output
    toy, graph = read_metrics(inp.toy_metrics), read_metrics(inp.graph_metrics)
    plot_toy_functions(read_metrics(inp.toy_functions), toy, out.toy_functions)
    plot_spectrum(toy, graph, out.spectrum)
    plot_graph_embeddings(read_metrics(inp.graph_embeddings), graph, out.graph_embeddings)
