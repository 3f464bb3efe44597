"""Rule prepare_dataset: mirror or official download -> results/data/<name>.pt."""

from repgeom.config import fetch_settings
from repgeom.data import prepare_dataset
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    # Read at run time, not as params: they say where the data came from, not
    # what it is (see workflow/rules/data.smk); the provenance records them.
    fetch = fetch_settings(snakemake.config)
    run.log.info("fetch settings: %s", fetch)
    run.extra["fetch"] = fetch
    run.extra["data"] = prepare_dataset(
        snakemake.wildcards.dataset,
        snakemake.output.data,
        **fetch,
        logger=run.log,
    )
