"""Rule similarity_enforce: baseline and both signs of the similarity term on MNIST from
the same initial weights and pairs -> validation curves and steps to the target."""

from repgeom.curves import write_curves
from repgeom.data import load_dataset
from repgeom.metrics import write_metrics
from repgeom.similarity.enforce import curve_rows, run_enforce
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, out = snakemake.params, snakemake.output
    mnist = load_dataset(snakemake.input.data, device="cpu")
    curves, metrics = run_enforce(
        mnist,
        variants=p.variants,
        steps=p.steps,
        batch_size=p.batch_size,
        lr=p.lr,
        eval_every=p.eval_every,
        val_size=p.val_size,
        target_accuracy=p.target_accuracy,
        seed=run.seed,
        device=run.device,
        logger=run.log,
    )
    write_metrics(metrics, out.metrics)
    write_curves(curve_rows(curves), out.curves)
