"""Rule registration_data: generated train and held-out scenes of one seed -> data file
(+ a few samples for the figure)."""

from repgeom.io import save_torch
from repgeom.registration.scenes import make_dataset
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, out = snakemake.params, snakemake.output
    data = make_dataset(run.seed, p.n_train_scenes, p.n_test_scenes, **dict(p.generator))
    run.extra["shapes"] = {s: list(data[s]["inputs"].shape) for s in ("train", "test")}
    run.log.info("generated %s", run.extra["shapes"])
    save_torch(out.data, data)
    k = p.n_samples
    save_torch(out.samples, {key: v[:k].clone() for key, v in data["test"].items()})
