"""Rule eigenmaps_graph_train: NeuralEF on each graph's edge pairs -> tidy metrics
(subspace angles, ARIs, eigenvalues), the node embeddings and the training curves (loss
per step bucket, subspace alignment with the exact eigenvectors)."""

from repgeom.curves import write_curves
from repgeom.eigenmaps.graph import (
    graph_curve_rows,
    graph_embedding_rows,
    graph_metric_rows,
    run_graph,
)
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run
from repgeom.training import Progress

with rule_run(snakemake) as run:
    p, out = snakemake.params, snakemake.output
    metrics, embeddings, curves = [], [], []
    progress = Progress(len(p.graphs) * p.steps, logger=run.log)  # over every graph
    for name in p.graphs:
        res = run_graph(
            name,
            seed=run.seed,
            sbm=dict(p.sbm),
            n_outputs=p.n_outputs[name],
            hidden=p.hidden,
            steps=p.steps,
            batch_size=p.batch_size,
            lr=p.lr,
            alpha=p.alpha,
            t=p.t,
            generator=run.generator,
            device=run.device,
            logger=run.log,
            progress=progress,
        )
        rows = graph_metric_rows(name, res, run.seed)
        run.log.info("%s: %s", name, {r["metric"]: round(r["value"], 4) for r in rows[:6]})
        metrics += rows
        embeddings += graph_embedding_rows(name, res, run.seed)
        curves += graph_curve_rows(name, res, run.seed)
    write_metrics(metrics, out.metrics)
    write_metrics(
        [
            {
                "stage": "eigenmaps",
                "method": "neuralef",
                "metric": "psi",
                "value": r.pop("learned"),
                **r,
            }
            for r in embeddings
        ],
        out.embeddings,
    )
    write_curves(curves, out.curves)
