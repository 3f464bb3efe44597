"""Rule similarity_registration: density, noise-induced error (against the sigma = 0 model
of the seed), predicted vs measured denoising
and retrieval for one registration model -> tidy summary, bins, samples, retrieval."""

import torch

from repgeom.io import atomic_path, save_torch
from repgeom.metrics import write_metrics
from repgeom.registration.models import load_checkpoint, load_model
from repgeom.similarity.on_registration import analyze, tidy_bins, tidy_summary
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, w, inp, out = snakemake.params, snakemake.wildcards, snakemake.input, snakemake.output
    data = torch.load(inp.data, map_location="cpu", weights_only=True)
    labels = load_checkpoint(inp.model)["train_labels"]
    model = load_model(inp.model, run.device)
    res = analyze(
        model,
        load_model(inp.floor_model, run.device),
        data,
        labels,
        max_samples=p.max_samples,
        thresholds=p.thresholds,
        n_bins=p.n_bins,
        n_queries=p.n_queries,
        top_k=p.top_k,
        chunk_size=p.chunk_size,
        density_check_samples=p.density_check_samples,
        seed=run.seed,
        device=run.device,
        logger=run.log,
    )
    key = {"seed": run.seed, "noise": w.noise, "sigma": float(w.sigma)}
    run.extra["summary"] = res["summary"]
    write_metrics(tidy_summary(res["summary"], **key), out.metrics)
    write_metrics(tidy_bins(res["bins"], **key), out.bins)
    for name in ("samples", "retrieval"):
        with atomic_path(out[name]) as tmp:
            res[name].assign(**key).to_csv(tmp, index=False)
    save_torch(out.images, res["images"])
