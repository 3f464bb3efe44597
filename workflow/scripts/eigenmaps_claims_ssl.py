"""Rule eigenmaps_ssl_claims: every method's and seed's tables ->
results/eigenmaps/ssl/metrics.csv (with each model's levelled-off measure) and claims E2
(linear probe) and E3 (shortest prefixes reaching the baselines' mAP); then the stage's
claims file, E1, E2-E3 and E4 in one table (read_claims keeps every file's extra
columns)."""

import pandas as pd

from repgeom.claims import read_claims, write_claims
from repgeom.eigenmaps.evaluate import ssl_claims
from repgeom.eigenmaps.gates import levelled_rows
from repgeom.metrics import read_metrics, write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    p, inp, out = snakemake.params, snakemake.input, snakemake.output
    metrics = read_metrics([*inp.eval, inp.floors, *inp.pretrain])
    levelled = pd.DataFrame(levelled_rows(metrics, p.methods))
    metrics = write_metrics(pd.concat([metrics, levelled], ignore_index=True), out.metrics)
    claims = ssl_claims(
        metrics,
        methods=list(p.methods),
        e2_min_difference=p.e2_min_difference,
        e3_match_ratio=p.e3_match_ratio,
        e3_min_factor=p.e3_min_factor,
        e3_min_margin=p.e3_min_margin,
        levelled_max_share=p.levelled_max_share,
        min_loss_drop=p.gates["min_loss_drop"],
        min_probe_over_random_init=p.gates["eigenmaps_min_probe_over_random_init"],
        scale=dict(p.scale),
    )
    # The dataset column matches the toy and graph claims (E1: circle, E4: sbm/karate).
    claims = [{**c, "dataset": p.scale["dataset"]} for c in claims]
    table = write_claims(claims, out.claims)
    cols = ["claim_id", "variant", "mean", "ci_low", "ci_high", "verdict", "statement", "reason"]
    run.log.info("claims:\n%s", table[cols].to_string(index=False))
    stage = read_claims([inp.toy_claims, out.claims, inp.graph_claims])
    write_claims(stage.to_dict("records"), out.stage_claims)
