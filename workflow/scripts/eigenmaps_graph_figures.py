"""Rule eigenmaps_graph_figures: node embeddings (one seed) and graph metrics -> learned
embeddings coloured by block / faction, with ARIs in the titles."""

from repgeom.figures.eigenmaps_spectral import plot_graph_embeddings
from repgeom.metrics import read_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out = snakemake.input, snakemake.output
    plot_graph_embeddings(
        read_metrics(inp.embeddings), read_metrics(list(inp.metrics)), out.embeddings
    )
