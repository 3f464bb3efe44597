"""Rule similarity_toy: one MLP per frequency on the circle toy -> density metrics and
per-sample densities N_S(alpha)."""

from repgeom.curves import write_curves
from repgeom.io import atomic_path
from repgeom.metrics import write_metrics
from repgeom.similarity.toy import run_toy
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, out = snakemake.params, snakemake.output
    metrics, samples, curves = run_toy(
        frequencies=p.frequencies,
        n=p.n,
        hidden=p.hidden,
        depth=p.depth,
        epochs=p.epochs,
        batch_size=p.batch_size,
        lr=p.lr,
        thresholds=p.thresholds,
        distribution=p.distribution,
        seed=run.seed,
        device=run.device,
        logger=run.log,
    )
    write_metrics(metrics, out.metrics)
    write_curves(curves, out.curves)
    with atomic_path(out.samples) as tmp:
        samples.to_csv(tmp, index=False)
