"""Rule eigenmaps_claims: every seed's circle and graph tables -> their metrics tables and
claims E1 (ordered modes, eigenvalues, no-stop-gradient ablation) and E4 (subspace of
the normalised adjacency, agreement with spectral clustering, per graph); then the
stage's claims file, E1, E2-E3 (pretraining) and E4 in one table (read_claims keeps
every file's extra columns)."""

from repgeom.claims import read_claims, write_claims
from repgeom.eigenmaps.graph import graph_claims
from repgeom.eigenmaps.toy import toy_claims
from repgeom.metrics import read_metrics, write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    toy = write_metrics(read_metrics(list(inp.toy)), out.toy_metrics)
    write_claims(
        toy_claims(
            toy,
            min_alignment=p.toy["e1_min_alignment"],
            max_eigenvalue_error=p.toy["e1_max_eigenvalue_error"],
            min_loss_drop=p.toy["min_loss_drop"],
            scale=dict(p.toy["scale"]),
        ),
        out.toy_claims,
    )
    graph = write_metrics(read_metrics(list(inp.graph)), out.graph_metrics)
    write_claims(
        graph_claims(
            graph,
            min_alignment=p.graph["e4_min_alignment"],
            min_ari=p.graph["e4_min_ari"],
            min_loss_drop=p.graph["min_loss_drop"],
            scale=dict(p.graph["scale"]),
        ),
        out.graph_claims,
    )
    claims = read_claims([out.toy_claims, inp.ssl, out.graph_claims])
    table = write_claims(claims.to_dict("records"), out.claims)
    cols = ["claim_id", "dataset", "variant", "mean", "ci_low", "ci_high", "verdict"]
    run.log.info("claims:\n%s", table[[c for c in cols if c in table]].to_string(index=False))
