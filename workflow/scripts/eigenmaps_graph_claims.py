"""Rule eigenmaps_graph_claims: every seed's graph table -> results/eigenmaps/graph/metrics.csv
and claim E4 per graph (subspace of the normalised adjacency, agreement with spectral
clustering)."""

from repgeom.claims import write_claims
from repgeom.eigenmaps.graph import graph_claims
from repgeom.metrics import read_metrics, write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    metrics = write_metrics(read_metrics(list(inp.metrics)), out.metrics)
    claims = graph_claims(
        metrics,
        min_alignment=p.e4_min_alignment,
        min_ari=p.e4_min_ari,
        min_loss_drop=p.gates["min_loss_drop"],
        scale=dict(p.scale),
    )
    table = write_claims(claims, out.claims)
    cols = ["dataset", "variant", "mean", "ci_low", "ci_high", "verdict"]
    run.log.info("claims:\n%s", table[cols])
