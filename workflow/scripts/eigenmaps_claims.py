"""Rule eigenmaps_claims: the stage's claims file, E1 (toy), E2-E3 (pretraining) and E4
(graphs) in one table (read_claims keeps every file's extra columns)."""

from repgeom.claims import read_claims, write_claims
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out = snakemake.input, snakemake.output
    claims = read_claims([inp.toy, inp.ssl, inp.graph])
    table = write_claims(claims.to_dict("records"), out.claims)
    run.log.info("%d claims: %s", len(table), sorted(set(table["claim_id"])))
