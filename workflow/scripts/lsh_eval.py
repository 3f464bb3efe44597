"""Rule lsh_eval: invariance, sign-hash collisions and one-shot accuracy of raw inputs,
the untrained network and every trained C -> tidy table + 2-D projection."""

from repgeom.io import atomic_path
from repgeom.lsh.evaluate import evaluate_seed
from repgeom.lsh.generators import load_dataset
from repgeom.lsh.models import build_model, load_model
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    data = load_dataset(inp.data)
    models = {}
    for path in inp.models:
        model, meta = load_model(path, run.device)
        models[int(meta["C"])] = model
    shape = data["x_train"].shape[1:]
    untrained = build_model(data["kind"], shape, 1, p.hidden, p.embed_dim, init_seed=run.seed)
    metrics, projection = evaluate_seed(
        data,
        models,
        untrained.to(run.device),
        seed=run.seed,
        n_way=p.n_way,
        episodes=p.episodes,
        hyperplanes=p.hyperplanes,
        n_projected=p.n_projected,
        device=run.device,
    )
    write_metrics(metrics, out.metrics)
    with atomic_path(out.projection) as tmp:
        projection.to_csv(tmp, index=False)
