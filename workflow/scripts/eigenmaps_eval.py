"""Rule eigenmaps_eval: one method's frozen pretrained models, every seed -> linear probe
and kNN accuracy on their backbone features, mAP@N of their codes' prefixes (prefix_grid)
and random subsets, and the eigenvalue estimate of every output (one tidy table)."""

import torch

from repgeom import streams
from repgeom.data import load_dataset
from repgeom.eigenmaps.augment import AugmentConfig
from repgeom.eigenmaps.evaluate import evaluate_model
from repgeom.eigenmaps.models import load_model
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, w, inp, out = (
        snakemake.params,
        snakemake.wildcards,
        snakemake.input,
        snakemake.output,
    )
    data = load_dataset(inp.data, run.device)
    if p.max_train:
        data["train_images"] = data["train_images"][: p.max_train]
        data["train_labels"] = data["train_labels"][: p.max_train]
    rows = []
    for seed, path in zip(p.seeds, inp.models, strict=True):
        model, meta = load_model(path, run.device)
        if meta["seed"] != seed:
            raise ValueError(f"{path}: model of seed {meta['seed']}, expected {seed}")
        # Evaluation draws (random subsets, augmented batches) get their own stream, so
        # they do not depend on how much randomness pretraining consumed.
        gen = torch.Generator().manual_seed(streams.stream(seed, "eigenmaps/eval"))
        rows += evaluate_model(
            model,
            data,
            w.method,
            seed,
            augment_cfg=AugmentConfig.from_dict(p.augment),
            gen=gen,
            n_random=p.n_random,
            top_n=p.top_n,
            knn_k=p.knn_k,
            probe_weight_decay=p.probe_weight_decay,
            probe_max_iter=p.probe_max_iter,
            spectrum_batches=p.spectrum_batches,
            batch_size=p.batch_size,
        )
    table = write_metrics(rows, out.metrics)
    summary = table[table.metric.isin(["probe_accuracy", "knn_accuracy"])]
    run.log.info("%s", summary[["seed", "metric", "value"]].to_string(index=False))
