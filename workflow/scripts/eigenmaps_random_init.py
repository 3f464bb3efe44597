"""Rule eigenmaps_random_init: the backbone every method of a seed starts pretraining
from, left untrained -> its linear-probe accuracy (method random_init), the floor of the
gate probe_above_random_init."""

from repgeom.data import load_dataset
from repgeom.eigenmaps.evaluate import evaluate_random_init
from repgeom.eigenmaps.models import initial_model
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, out = snakemake.params, snakemake.output
    data = load_dataset(snakemake.input.data, run.device)
    if p.max_train:  # the training images the methods pretrain and are probed on
        data["train_images"] = data["train_images"][: p.max_train]
        data["train_labels"] = data["train_labels"][: p.max_train]
    images = data["train_images"]
    model = initial_model(dict(p.model), images.shape[1], images.shape[-1], run.seed)
    rows = evaluate_random_init(
        model.to(run.device),
        data,
        run.seed,
        probe_weight_decay=p.probe_weight_decay,
        probe_max_iter=p.probe_max_iter,
    )
    table = write_metrics(rows, out.metrics)
    run.log.info("random-init probe accuracy: %.2f %%", table["value"].iloc[0])
    run.extra["probe_accuracy"] = float(table["value"].iloc[0])
