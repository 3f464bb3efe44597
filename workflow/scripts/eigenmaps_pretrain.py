"""Rule eigenmaps_pretrain: one method's self-supervised pretraining on the training
images with batched augmentations -> model + tidy per-epoch and per-step tables, and
its training curve (the loss per epoch on the training views and on a fixed set of
held-out view pairs of test images: a monitor, nothing is chosen on it)."""

import torch

from repgeom import streams
from repgeom.curves import history_rows, write_curves
from repgeom.data import load_dataset
from repgeom.eigenmaps.augment import AugmentConfig
from repgeom.eigenmaps.gates import step_loss_rows
from repgeom.eigenmaps.models import initial_model, save_model
from repgeom.eigenmaps.ssl import heldout_views, pretrain
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run

CURVES = {"loss": ("ssl_loss", "train"), "heldout_loss": ("ssl_loss", "heldout")}

with rule_run(snakemake) as run:
    p, w, out = snakemake.params, snakemake.wildcards, snakemake.output
    data = load_dataset(snakemake.input.data, run.device)
    images = data["train_images"]
    if p.max_train:
        images = images[: p.max_train]
    spec = dict(p.model)
    model = initial_model(spec, images.shape[1], images.shape[-1], run.seed).to(run.device)
    augment_cfg = AugmentConfig.from_dict(p.augment)
    # Held-out views from their own stream: the training draws stay as they were.
    gen = torch.Generator().manual_seed(streams.stream(run.seed, "eigenmaps/heldout"))
    heldout = heldout_views(data["test_images"][: p.heldout_images], augment_cfg, gen)
    history = pretrain(
        model,
        images,
        method=w.method,
        loss_params=dict(p.loss),
        augment_cfg=augment_cfg,
        epochs=p.epochs,
        batch_size=p.batch_size,
        lr=p.lr,
        weight_decay=p.weight_decay,
        warmup_epochs=p.warmup_epochs,
        generator=run.generator,
        logger=run.log,
        heldout=heldout,
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
    write_curves(history_rows(history, base, CURVES), out.curves)
