"""Rule lsh_eval: invariance, sign-hash collisions and one-shot accuracy of raw inputs,
the untrained network and every trained C, for every seed of one generator -> tidy
table + 2-D projection."""

import pandas as pd

from repgeom.io import atomic_path
from repgeom.lsh.evaluate import evaluate_seed
from repgeom.lsh.generators import load_dataset
from repgeom.lsh.models import build_model, load_model
from repgeom.metrics import write_metrics
from repgeom.runtime import seed_everything
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    n_c = len(p.n_classes)
    metrics, projections = [], []
    for i, (seed, data_path) in enumerate(zip(p.seeds, inp.data, strict=True)):
        seed_everything(seed, p.deterministic)  # as a job of this seed alone would be
        data = load_dataset(data_path)
        models = {}
        for path in inp.models[i * n_c : (i + 1) * n_c]:
            model, meta = load_model(path, run.device)
            if meta["seed"] != seed:
                raise ValueError(f"{path}: a model of seed {meta['seed']}, expected {seed}")
            models[int(meta["C"])] = model
        shape = data["x_train"].shape[1:]
        untrained = build_model(data["kind"], shape, 1, p.hidden, p.embed_dim, init_seed=seed)
        table, projection = evaluate_seed(
            data,
            models,
            untrained.to(run.device),
            seed=seed,
            n_way=p.n_way,
            episodes=p.episodes,
            hyperplanes=p.hyperplanes,
            n_projected=p.n_projected,
            device=run.device,
        )
        metrics.append(table)
        projections.append(projection)
    write_metrics(pd.concat(metrics, ignore_index=True), out.metrics)
    with atomic_path(out.projection) as tmp:
        pd.concat(projections, ignore_index=True).to_csv(tmp, index=False)
