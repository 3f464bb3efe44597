"""Rule adversarial_summary: all runs -> one metrics table, gradient-masking checks,
claims I3/I4 gated on the checks and the isometry models' tables (checks and claims
also in the log)."""

from repgeom.adversarial.summary import summarize_stage
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    out = snakemake.output
    run.extra["summary"] = summarize_stage(
        list(snakemake.input.metrics),
        isometry_files=list(snakemake.input.isometry),
        metrics_out=out.metrics,
        checks_out=out.checks,
        claims_out=out.claims,
        logger=run.log,
        **{k: v for k, v in run.params.items() if k not in ("device", "deterministic")},
    )
