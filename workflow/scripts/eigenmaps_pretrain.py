"""Rule eigenmaps_pretrain: one method's self-supervised pretraining on the training
images with batched augmentations -> model + tidy per-epoch and per-step tables."""

from repgeom.data import load_dataset
from repgeom.eigenmaps.augment import AugmentConfig
from repgeom.eigenmaps.gates import step_loss_rows
from repgeom.eigenmaps.models import initial_model, save_model
from repgeom.eigenmaps.ssl import pretrain
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, w, out = snakemake.params, snakemake.wildcards, snakemake.output
    data = load_dataset(snakemake.input.data, run.device)
    images = data["train_images"]
    if p.max_train:
        images = images[: p.max_train]
    spec = dict(p.model)
    model = initial_model(spec, images.shape[1], images.shape[-1], run.seed).to(run.device)
    history = pretrain(
        model,
        images,
        method=w.method,
        loss_params=dict(p.loss),
        augment_cfg=AugmentConfig.from_dict(p.augment),
        epochs=p.epochs,
        batch_size=p.batch_size,
        lr=p.lr,
        weight_decay=p.weight_decay,
        warmup_epochs=p.warmup_epochs,
        generator=run.generator,
        logger=run.log,
    )
    meta = {
        **spec,
        "in_channels": int(images.shape[1]),
        "image_size": int(images.shape[-1]),
        "method": w.method,
        "seed": run.seed,
    }
    save_model(out.model, model, meta)
    base = {"stage": "eigenmaps", "method": w.method, "seed": run.seed}
    rows = []
    for rec in history:
        rows.append(
            {**base, "metric": "pretrain_loss", "epoch": rec["epoch"], "value": rec["loss"]}
        )
        rows.append(
            {**base, "metric": "epoch_time_s", "epoch": rec["epoch"], "value": rec["time_s"]}
        )
    # Every step's loss, steps numbered across epochs: the training gate's curve.
    rows += step_loss_rows([v for rec in history for v in rec["step_losses"]], **base)
    for j, ev in enumerate(history[-1].get("eigenvalues", []), start=1):
        rows.append({**base, "metric": "train_eigenvalue", "dim": j, "value": ev})
    run.extra["final_loss"] = history[-1]["loss"]
    write_metrics(rows, out.metrics)
