"""Rule lsh_train: one classifier per C on the first C seen manifolds of one seed's data
-> models, tidy summaries and the training curves of every C."""

import torch

from repgeom.curves import write_curves
from repgeom.lsh.generators import load_dataset
from repgeom.lsh.models import curve_rows, save_model, train_classifier
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run
from repgeom.training import TrainRun, training_args

with rule_run(snakemake) as run:
    p, w, out = snakemake.params, snakemake.wildcards, snakemake.output
    data = load_dataset(snakemake.input.data)
    base = {"stage": "lsh", "method": "trained", "seed": run.seed, "generator": w.gen}
    rows, curves, summaries = [], [], {}
    for n_classes, path in zip(p.n_classes, out.models, strict=True):
        # Every C starts from the seed alone (weights and batch order), as its own job would.
        batches = torch.Generator().manual_seed(run.seed)
        args = training_args(run) | {"run": TrainRun(run.seed, batches, run.device, run.log)}
        model, summary, history = train_classifier(
            data, n_classes, hidden=p.hidden, embed_dim=p.embed_dim, **args
        )
        run.log.info("C=%d: %s", n_classes, summary)
        summaries[n_classes] = summary
        save_model(path, model, {"generator": w.gen, "C": n_classes, "seed": run.seed})
        rows += [{**base, "C": n_classes, "metric": k, "value": v} for k, v in summary.items()]
        curves += curve_rows(history, {**base, "C": n_classes})
    run.extra["train"] = summaries
    write_metrics(rows, out.metrics)
    write_curves(curves, out.curves)
