"""Rule eigenmaps_toy_figures: circle tables -> learned vs exact eigenfunctions, and the
eigenvalue spectrum (circle and graphs: estimated vs exact)."""

from repgeom.figures.eigenmaps_spectral import plot_spectrum, plot_toy_functions
from repgeom.metrics import read_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out = snakemake.input, snakemake.output
    toy = read_metrics(list(inp.toy))
    plot_toy_functions(read_metrics(inp.functions), toy, out.functions)
    plot_spectrum(toy, read_metrics(list(inp.graph)), out.spectrum)
