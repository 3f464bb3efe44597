"""Rule registration_train: every (noise, sigma) model of one seed, trained together (a
stacked model: the same initial weights and batches as separate runs), each a correlation
network on labels = truth + noise -> per model its file, its tidy metrics against the
truth on the training samples and on held-out scenes, its mean training loss over the
first and the last tenth of its epochs, and its curve (training loss and held-out RMSE
per epoch). At sigma = 0 the labels are exact in every noise mode: that model is trained
once and written for each mode."""

import torch

from repgeom.curves import history_rows, write_curves
from repgeom.gate_inputs import loss_rows
from repgeom.metrics import write_metrics
from repgeom.registration.evaluate import model_rows
from repgeom.registration.models import predict, save_model, train_regressors
from repgeom.registration.scenes import label_key, noisy_labels
from repgeom.smk import rule_run
from repgeom.training import training_args

CURVE = {"loss": ("train_loss", "train"), "heldout_rmse": ("rmse_pred", "heldout")}

with rule_run(snakemake) as run:
    p, out = snakemake.params, snakemake.output
    data = torch.load(snakemake.input.data, weights_only=True)
    train, test = data["train"], data["test"]
    runs = [(noise, float(sigma)) for noise, sigma in p.runs]  # the order of the outputs
    # One model per label set, sigma = 0 (the floor) first.
    trained = sorted({label_key(*r) for r in runs}, key=lambda r: (r[1] > 0, r))
    label_sets = [
        noisy_labels(train["true"], train["building"], sigma, noise, run.seed)
        for noise, sigma in trained
    ]
    arch = {**dict(p.model), "in_channels": train["inputs"].shape[1]}
    arch.update(size=train["inputs"].shape[-1], max_shift=p.max_shift)
    run.log.info("training %d models of seed %d together: %s", len(trained), run.seed, trained)
    results = train_regressors(
        train["inputs"], label_sets, arch, heldout=(test["inputs"], test["true"]),
        **training_args(run),
    )  # fmt: skip
    preds = [
        {s: predict(model, d["inputs"]).cpu() for s, d in (("train", train), ("test", test))}
        for model, _ in results
    ]  # once per model: sigma = 0 serves every noise mode
    for i, (noise, sigma) in enumerate(runs):
        k = trained.index(label_key(noise, sigma))
        (model, history), labels, pred = results[k], label_sets[k], preds[k]
        save_model(out.model[i], model, labels, {"noise": noise, "sigma": sigma, "seed": run.seed})
        base = {"stage": "registration", "method": "corrnet", "seed": run.seed}
        base.update(noise=noise, sigma=sigma)
        rows = model_rows(
            pred=pred,
            true={"train": train["true"], "test": test["true"]},
            labels=labels,
            taus=p.taus,
            base=base,
        )
        rows.append(
            {**base, "metric": "final_loss", "value": history[-1]["loss"], "split": "train"}
        )
        rows += loss_rows([h["loss"] for h in history], {**base, "split": "train"})  # per epoch
        table = write_metrics(rows, out.metrics[i])
        write_curves(history_rows(history, base, CURVE), out.curves[i])
        summary = table[table.metric.isin(["rmse_pred", "rmse_label", "ratio"])]
        run.log.info("%s sigma %g:\n%s", noise, sigma, summary[["metric", "split", "value"]])
    run.extra["n_parameters"] = sum(t.numel() for t in results[0][0].parameters())
    run.extra["models_trained"] = len(trained)
