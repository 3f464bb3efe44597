"""Rule lsh_train: a classifier on the first C seen manifolds -> model + tidy summary."""

from repgeom.lsh.generators import load_dataset
from repgeom.lsh.models import save_model, train_classifier
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run
from repgeom.training import training_args

with rule_run(snakemake) as run:
    p, w, out = snakemake.params, snakemake.wildcards, snakemake.output
    n_classes = int(w.C)
    data = load_dataset(snakemake.input.data)
    model, summary = train_classifier(
        data, n_classes, hidden=p.hidden, embed_dim=p.embed_dim, **training_args(run)
    )
    run.log.info("C=%d: %s", n_classes, summary)
    run.extra["train"] = summary
    save_model(out.model, model, {"generator": w.gen, "C": n_classes, "seed": run.seed})
    base = {"stage": "lsh", "method": "trained", "seed": run.seed, "generator": w.gen}
    rows = [{**base, "C": n_classes, "metric": k, "value": v} for k, v in summary.items()]
    write_metrics(rows, out.metrics)
