"""Rule eigenmaps_toy_train: the circle network with and without stop-gradient -> tidy
metrics (alignment with the Fourier modes, eigenvalues), learned functions and the
training curves (loss per step bucket, span alignment with the exact modes)."""

from repgeom.curves import write_curves
from repgeom.eigenmaps.toy import run_circle
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, out = snakemake.params, snakemake.output
    metrics, functions, curves = run_circle(
        seed=run.seed,
        n_outputs=p.n_outputs,
        jitter=p.jitter,
        hidden=p.hidden,
        steps=p.steps,
        batch_size=p.batch_size,
        lr=p.lr,
        alpha=p.alpha,
        t=p.t,
        grid=p.grid,
        eval_pairs=p.eval_pairs,
        figure_points=p.figure_points,
        device=run.device,
        logger=run.log,
    )
    table = write_metrics(metrics, out.metrics)
    summary = table[table.metric.isin(["ordered_alignment", "eigenvalue_max_error"])]
    run.log.info("summary:\n%s", summary[["method", "metric", "value"]])
    run.extra["summary"] = summary[["method", "metric", "value"]].to_dict("records")
    write_metrics(
        [
            {"stage": "eigenmaps", "metric": "psi", "value": r.pop("learned"), **r}
            for r in functions
        ],
        out.functions,
    )
    write_curves(curves, out.curves)
