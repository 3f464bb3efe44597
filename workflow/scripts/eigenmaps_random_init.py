"""Rule eigenmaps_random_init: the probe floors of every seed -> one table: the linear
probe on the features of the backbone each seed's methods start pretraining from, left
untrained (method random_init, the floor of the gate probe_above_random_init), and on the
raw pixels (method raw_pixels). One job for all seeds: each is a probe's cost."""

from repgeom.data import load_dataset
from repgeom.eigenmaps.evaluate import evaluate_floors
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
    shape = images.shape[1], images.shape[-1]
    models = {s: initial_model(dict(p.model), *shape, s).to(run.device) for s in p.seeds}
    rows = evaluate_floors(
        models,
        data,
        probe_weight_decay=p.probe_weight_decay,
        probe_max_iter=p.probe_max_iter,
    )
    table = write_metrics(rows, out.metrics)
    run.log.info("probe floors:\n%s", table[["method", "seed", "value"]].to_string(index=False))
    run.extra["probe_accuracy"] = table[["method", "seed", "value"]].to_dict("records")
