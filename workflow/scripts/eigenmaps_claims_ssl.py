"""Rule eigenmaps_ssl_claims: every method's and seed's tables ->
results/eigenmaps/ssl/metrics.csv and claims E2 (linear probe) and E3 (truncated codes)."""

from repgeom.claims import write_claims
from repgeom.eigenmaps.evaluate import ssl_claims
from repgeom.metrics import read_metrics, write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    tables = [*inp.eval, *inp.random_init, *inp.pretrain]
    metrics = write_metrics(read_metrics(tables), out.metrics)
    claims = ssl_claims(
        metrics,
        methods=list(p.methods),
        full=p.full,
        fraction=p.fraction,
        e2_min_difference=p.e2_min_difference,
        e3_min_retention=p.e3_min_retention,
        e3_min_margin=p.e3_min_margin,
        min_loss_drop=p.gates["min_loss_drop"],
        min_probe_over_random_init=p.gates["eigenmaps_min_probe_over_random_init"],
        scale=dict(p.scale),
    )
    # The dataset column matches the toy and graph claims (E1: circle, E4: sbm/karate).
    claims = [{**c, "dataset": p.scale["dataset"]} for c in claims]
    table = write_claims(claims, out.claims)
    cols = ["claim_id", "variant", "mean", "ci_low", "ci_high", "verdict", "reason"]
    run.log.info("claims:\n%s", table[cols].to_string(index=False))
