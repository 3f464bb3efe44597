"""Rule eigenmaps_toy_claims: every seed's circle table -> results/eigenmaps/toy/metrics.csv
and claim E1 (ordered modes, eigenvalues, no-stop-gradient ablation)."""

from repgeom.claims import write_claims
from repgeom.eigenmaps.toy import toy_claims
from repgeom.metrics import read_metrics, write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    metrics = write_metrics(read_metrics(list(inp.metrics)), out.metrics)
    claims = toy_claims(
        metrics,
        min_alignment=p.e1_min_alignment,
        max_eigenvalue_error=p.e1_max_eigenvalue_error,
        min_loss_drop=p.gates["min_loss_drop"],
        scale=dict(p.scale),
    )
    table = write_claims(claims, out.claims)
    run.log.info("claims:\n%s", table[["variant", "mean", "ci_low", "ci_high", "verdict"]])
