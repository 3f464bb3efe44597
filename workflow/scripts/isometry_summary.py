"""Rule isometry_summary: stage tables from the per-run tables, and claims I1, I2."""

from repgeom.claims import write_claims
from repgeom.curves import read_curves, write_curves
from repgeom.isometry.summary import isometry_claims
from repgeom.metrics import read_metrics, write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p = run.params
    inp, out = snakemake.input, snakemake.output
    metrics = write_metrics(read_metrics(list(inp.metrics)), out.metrics)
    write_metrics(read_metrics(list(inp.pairs)), out.pairs)
    write_metrics(read_metrics(list(inp.hierarchy)), out.hierarchy)
    write_metrics(read_metrics(list(inp.embedding)), out.embedding)
    write_curves(read_curves(list(inp.curves) + list(inp.hierarchy_curves)), out.curves)
    claims = isometry_claims(
        metrics,
        reference_betas=p["reference_betas"],
        scales=p["scales"],
        i1_threshold=p["i1_threshold"],
        i2_threshold=p["i2_threshold"],
        gates=p["gates"],
    )
    for c in claims:
        run.log.info(
            "claim %s (%s): mean %.4g CI [%.4g, %.4g] -> %s (%s)",
            c["claim_id"],
            c["dataset"],
            c["mean"],
            c["ci_low"],
            c["ci_high"],
            c["verdict"],
            c["reason"] or c["gates"],
        )
    write_claims(claims, out.claims)
