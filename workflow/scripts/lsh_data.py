"""Rule lsh_data: manifold data x = G(gamma, theta) from the seed -> results/lsh/data/."""

from repgeom.lsh.generators import make_dataset, save_dataset
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p = snakemake.params
    data = make_dataset(
        snakemake.wildcards.gen,
        run.seed,
        n_classes=p.n_classes,
        samples_per_class=p.samples_per_class,
        heldout_per_class=p.heldout_per_class,
        n_unseen=p.n_unseen,
        samples_per_unseen=p.samples_per_unseen,
        rho_levels=p.rho_levels,
        pairs_per_level=p.pairs_per_level,
        samples_per_pair=p.samples_per_pair,
        generator_kwargs=dict(p.generator),
    )
    run.extra["shapes"] = {k: list(v.shape) for k, v in data.items() if hasattr(v, "shape")}
    run.log.info("generated %s", run.extra["shapes"])
    save_dataset(snakemake.output.data, data)
