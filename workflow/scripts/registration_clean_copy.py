"""Rule registration_clean_copy: at sigma = 0 the labels are exact in every noise mode, so
the iid model is the building-mode model too; copy it and relabel its metrics."""

import torch

from repgeom.curves import read_curves, write_curves
from repgeom.io import save_torch
from repgeom.metrics import read_metrics, write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    ckpt = torch.load(inp.model, map_location="cpu", weights_only=True)
    ckpt["meta"] = {**ckpt.get("meta", {}), "noise": p.noise, "copied_from": str(inp.model)}
    save_torch(out.model, ckpt)
    write_metrics(read_metrics(inp.metrics).assign(noise=p.noise), out.metrics)
    write_curves(read_curves(inp.curves).assign(noise=p.noise), out.curves)
    run.log.info("copied %s -> %s (noise %s)", inp.model, out.model, p.noise)
