"""Rule lsh_claims: every seed's tables -> results/lsh/metrics.csv, claims L1-L3 and the
claims' per-embedding detail (baselines beside the trained nets)."""

from repgeom.claims import write_claims
from repgeom.io import atomic_path
from repgeom.lsh.evaluate import claims_detail, lsh_claims
from repgeom.metrics import read_metrics, write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    metrics = write_metrics(read_metrics([*inp.eval, *inp.train]), out.metrics)
    claims = lsh_claims(
        metrics,
        l1_min_margin=p.l1_min_margin,
        l2_min_margin=p.l2_min_margin,
        l3_min_margin=p.l3_min_margin,
        scale=dict(p.scale),
        gates=dict(p.gates),
    )
    table = write_claims(claims, out.claims)
    columns = ["claim_id", "generator", "mean", "ci_low", "ci_high", "verdict"]
    run.log.info("claims:\n%s", table[columns])
    for c in claims:
        run.log.info("%s %s: %s", c["claim_id"], c["generator"], c["reason"] or c["gates"])
    with atomic_path(out.detail) as tmp:
        claims_detail(metrics).to_csv(tmp, index=False)
