"""Rule similarity_figures: the stage's tidy tables (+ retrieved inputs) ->
results/figures/similarity_*.png."""

from repgeom.figures.similarity import draw_all
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out = snakemake.input, snakemake.output
    names = ("toy_density", "density_hist", "retrieval", "denoising", "training", "curves")
    draw_all(
        {
            "metrics": inp.metrics,
            "toy_samples": list(inp.toy_samples),
            "reg_samples": list(inp.reg_samples),
            "reg_bins": list(inp.reg_bins),
            "retrieval": inp.retrieval,
            "retrieval_images": inp.retrieval_images,
            "curves": list(inp.curves),
            "toy_curves": list(inp.toy_curves),
        },
        {name: out[name] for name in names},
        target_accuracy=snakemake.params.target_accuracy,
    )
