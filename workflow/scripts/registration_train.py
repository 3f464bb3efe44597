"""Rule registration_train: a correlation network on labels = truth + noise (mode, sigma)
-> model file, its tidy metrics against the truth on the training samples and on held-out
scenes, its mean training loss over the first and the last tenth of its epochs, and its
curve (training loss and held-out RMSE per epoch)."""

import torch

from repgeom.curves import history_rows, write_curves
from repgeom.gate_inputs import loss_rows
from repgeom.metrics import write_metrics
from repgeom.registration.evaluate import model_rows
from repgeom.registration.models import predict, save_model, train_regressor
from repgeom.registration.scenes import noisy_labels
from repgeom.smk import rule_run
from repgeom.training import training_args

with rule_run(snakemake) as run:
    p, w, out = snakemake.params, snakemake.wildcards, snakemake.output
    sigma = float(w.sigma)
    data = torch.load(snakemake.input.data, weights_only=True)
    train, test = data["train"], data["test"]
    labels = noisy_labels(train["true"], train["building"], sigma, w.noise, run.seed)
    arch = {**dict(p.model), "in_channels": train["inputs"].shape[1]}
    arch.update(size=train["inputs"].shape[-1], max_shift=p.max_shift)
    heldout = (test["inputs"], test["true"])
    model, history = train_regressor(
        train["inputs"], labels, arch, heldout=heldout, **training_args(run)
    )
    save_model(out.model, model, labels, {"noise": w.noise, "sigma": sigma, "seed": run.seed})
    pred = {s: predict(model, d["inputs"]).cpu() for s, d in (("train", train), ("test", test))}
    base = {"stage": "registration", "method": "corrnet", "seed": run.seed}
    base.update(noise=w.noise, sigma=sigma)
    rows = model_rows(
        pred=pred,
        true={"train": train["true"], "test": test["true"]},
        labels=labels,
        taus=p.taus,
        base=base,
    )
    rows.append({**base, "metric": "final_loss", "value": history[-1]["loss"], "split": "train"})
    rows += loss_rows([h["loss"] for h in history], {**base, "split": "train"})  # per epoch
    table = write_metrics(rows, out.metrics)
    curve = {"loss": ("train_loss", "train"), "heldout_rmse": ("rmse_pred", "heldout")}
    write_curves(history_rows(history, base, curve), out.curves)
    summary = table[table.metric.isin(["rmse_pred", "rmse_label", "ratio"])]
    run.log.info("metrics:\n%s", summary[["metric", "split", "value"]])
    run.extra["n_parameters"] = sum(t.numel() for t in model.parameters())
