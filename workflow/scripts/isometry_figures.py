"""Rule isometry_figures: the stage's figures from its tidy tables (never retrains)."""

from repgeom.curves import read_curves
from repgeom.figures.isometry import (
    plot_distances,
    plot_geometry,
    plot_hierarchy,
    plot_isometry_curves,
)
from repgeom.metrics import read_metrics
from repgeom.smk import rule_run

with rule_run(snakemake):
    inp, out = snakemake.input, snakemake.output
    plot_geometry(read_metrics(inp.metrics), out.geometry)
    plot_distances(read_metrics(inp.pairs), out.distances)
    plot_hierarchy(read_metrics(inp.hierarchy), read_metrics(inp.embedding), out.hierarchy)
    plot_isometry_curves(read_curves(inp.curves), out.curves)
