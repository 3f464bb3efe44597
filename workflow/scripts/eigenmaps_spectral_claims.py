"""Rule eigenmaps_spectral_claims: every seed's circle and graph tables -> their metrics
tables and claims E1 (ordered modes, eigenvalues, no-stop-gradient ablation) and E4
(subspace of the normalised adjacency, agreement with spectral clustering, per graph)."""

from repgeom.claims import write_claims
from repgeom.eigenmaps.graph import graph_claims
from repgeom.eigenmaps.toy import toy_claims
from repgeom.metrics import read_metrics, write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    toy = write_metrics(read_metrics(list(inp.toy)), out.toy_metrics)
    e1 = toy_claims(
        toy,
        min_alignment=p.toy["e1_min_alignment"],
        max_eigenvalue_error=p.toy["e1_max_eigenvalue_error"],
        min_loss_drop=p.toy["min_loss_drop"],
        scale=dict(p.toy["scale"]),
    )
    graph = write_metrics(read_metrics(list(inp.graph)), out.graph_metrics)
    e4 = graph_claims(
        graph,
        min_alignment=p.graph["e4_min_alignment"],
        min_ari=p.graph["e4_min_ari"],
        min_loss_drop=p.graph["min_loss_drop"],
        scale=dict(p.graph["scale"]),
    )
    cols = ["claim_id", "dataset", "variant", "mean", "ci_low", "ci_high", "verdict"]
    for claims, path in ((e1, out.toy_claims), (e4, out.graph_claims)):
        table = write_claims(claims, path)
        run.log.info("claims:\n%s", table[[c for c in cols if c in table]].to_string(index=False))
