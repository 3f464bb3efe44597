"""Rule similarity_claims: every tidy table of the stage -> results/similarity/metrics.csv
and claims S1-S4 with their gates (the registration models' own tables give the training
and floor gates of S2 and S3)."""

from repgeom.claims import write_claims
from repgeom.metrics import read_metrics, write_metrics
from repgeom.similarity.claims import similarity_claims
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    metrics = write_metrics(read_metrics([*inp.toy, *inp.enforce, *inp.registration]), out.metrics)
    claims = similarity_claims(
        metrics,
        registration=read_metrics(list(inp.registration_models)),
        s1_max_slope=p.s1_max_slope,
        s2_max_spearman=p.s2_max_spearman,
        s3_min_spearman=p.s3_min_spearman,
        s4_min_speedup=p.s4_min_speedup,
        target_accuracy=p.target_accuracy,
        gates=dict(p.gates),
        scale=dict(p.scale),
        logger=run.log,
    )
    table = write_claims(claims, out.claims)
    cols = ["claim_id", "mean", "ci_low", "ci_high", "verdict", "reason"]
    run.log.info("claims:\n%s", table[cols])
