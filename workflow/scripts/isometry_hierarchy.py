"""Rule isometry_hierarchy: one hierarchy task (torus or MNIST) and seed."""

from repgeom.curves import write_curves
from repgeom.data import load_dataset
from repgeom.isometry.hierarchy import hierarchy_curve_rows, run_hierarchy_task
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    task = snakemake.wildcards.task
    s = run.params["settings"]
    data = load_dataset(snakemake.input.data) if task == "mnist" else None
    rows, history, emb = run_hierarchy_task(
        task,
        settings=s,
        data=data,
        generator=run.generator,
        device=run.device,
        logger=run.log,
        embedding_points=run.params["embedding_points"],
    )
    base = {"stage": "isometry", "method": "hierarchical_mlp", "seed": run.seed, "task": task}
    base |= {"beta": s["beta"], "K": s["K"]}
    write_metrics([{**base, **r} for r in rows], snakemake.output.metrics)
    write_metrics([{**base, **r} for r in emb], snakemake.output.embedding)
    write_curves(hierarchy_curve_rows(history, base), snakemake.output.curves)
