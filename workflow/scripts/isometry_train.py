"""Rule isometry_train: one (dataset, beta, seed) model, its metrics and distance pairs."""

from repgeom.data import load_dataset
from repgeom.isometry.models import save_model
from repgeom.isometry.train import run_isometric
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p = run.params
    dataset = snakemake.wildcards.dataset
    out = snakemake.output
    model, rows, pairs = run_isometric(
        load_dataset(snakemake.input.data),
        dataset=dataset,
        seed=run.seed,
        generator=run.generator,
        device=run.device,
        logger=run.log,
        **{k: p[k] for k in ("beta", "K", "epochs", "lr", "batch_size", "max_train")},
        **{k: p[k] for k in ("hidden", "depth", "eval_points", "scatter_pairs")},
    )
    meta = {k: p[k] for k in ("beta", "K", "epochs", "lr", "batch_size", "max_train")}
    save_model(out.model, model, {"dataset": dataset, "seed": run.seed, **meta})
    write_metrics(rows, out.metrics)
    write_metrics(pairs, out.pairs)
