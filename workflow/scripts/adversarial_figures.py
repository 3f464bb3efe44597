"""Rule adversarial_figures: robustness curves per dataset, from the metrics table."""

from repgeom.figures.adversarial import robustness_curves
from repgeom.metrics import read_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    metrics = read_metrics(snakemake.input.metrics)
    for dataset, path in zip(run.params["datasets"], snakemake.output.figures, strict=True):
        robustness_curves(metrics, dataset, path)
