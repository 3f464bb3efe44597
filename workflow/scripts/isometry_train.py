"""Rules isometry_train_<dataset>: every beta of one (dataset, seed), trained together;
per beta its model, metrics, distance pairs and training curves."""

from repgeom.curves import write_curves
from repgeom.data import load_dataset
from repgeom.isometry.models import save_model
from repgeom.isometry.train import run_isometric
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run

TRAIN = ("K", "steps", "lr", "batch_size", "max_train", "hidden", "depth")

with rule_run(snakemake) as run:
    p = run.params
    out = snakemake.output
    results = run_isometric(
        load_dataset(snakemake.input.data),
        dataset=p["dataset"],
        seed=run.seed,
        betas=p["betas"],
        eval_points=p["eval_points"],
        scatter_pairs=p["scatter_pairs"],
        generator=run.generator,
        device=run.device,
        logger=run.log,
        **{k: p[k] for k in TRAIN},
    )
    meta = {"dataset": p["dataset"], "seed": run.seed, **{k: p[k] for k in TRAIN}}
    for i, res in enumerate(results):  # outputs are listed in the order of params betas
        save_model(out.model[i], res["model"], {**meta, "beta": res["beta"]})
        write_metrics(res["rows"], out.metrics[i])
        write_metrics(res["pairs"], out.pairs[i])
        write_curves(res["curves"], out.curves[i])
