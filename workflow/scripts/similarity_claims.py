"""Rule similarity_claims: every tidy table of the stage -> results/similarity/metrics.csv
and claims S1-S4."""

from repgeom.claims import write_claims
from repgeom.metrics import read_metrics, write_metrics
from repgeom.similarity.claims import similarity_claims
from repgeom.smk import rule_run

with rule_run(snakemake) as run:  # noqa: F821 (injected by Snakemake)
    p, inp, out = snakemake.params, snakemake.input, snakemake.output  # noqa: F821
    metrics = write_metrics(read_metrics([*inp.toy, *inp.enforce, *inp.registration]), out.metrics)
    claims = similarity_claims(
        metrics,
        s1_max_slope=p.s1_max_slope,
        s2_max_spearman=p.s2_max_spearman,
        s3_min_spearman=p.s3_min_spearman,
        s4_min_speedup=p.s4_min_speedup,
        target_accuracy=p.target_accuracy,
        scale=dict(p.scale),
    )
    table = write_claims(claims, out.claims)
    run.log.info("claims:\n%s", table[["claim_id", "mean", "ci_low", "ci_high", "verdict"]])
