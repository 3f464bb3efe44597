"""Rule prepare_dataset: mirror or official download -> results/data/<name>.pt."""

from repgeom.data import prepare_dataset
from repgeom.smk import rule_run

with rule_run(snakemake) as run:  # noqa: F821 (injected by Snakemake)
    p = snakemake.params  # noqa: F821
    run.extra["data"] = prepare_dataset(
        snakemake.wildcards.dataset,  # noqa: F821
        snakemake.output.data,  # noqa: F821
        mirror=p.mirror,
        download=p.download,
        retries=p.retries,
        timeout_s=p.timeout_s,
        logger=run.log,
    )
