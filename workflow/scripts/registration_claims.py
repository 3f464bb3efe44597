"""Rule registration_claims: every model's table -> results/registration/metrics.csv and
claim R1 per noise mode and sigma > 0, with its gates (training, registration_floor)."""

from repgeom.claims import write_claims
from repgeom.metrics import read_metrics, write_metrics
from repgeom.registration.evaluate import r1_claims
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    metrics = write_metrics(read_metrics(list(inp.metrics)), out.metrics)
    claims = r1_claims(metrics, max_ratio=p.r1_max_ratio, gates=dict(p.gates), scale=dict(p.scale))
    table = write_claims(claims, out.claims)
    cols = ["claim_id", "noise", "sigma", "mean", "ci_low", "ci_high", "verdict", "reason"]
    run.log.info("claims:\n%s", table[cols])
