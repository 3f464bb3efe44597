"""Rule run_summary: the per-rule benchmark files -> results/stage_times.csv (wall
time, peak memory per stage) and every provenance sidecar -> results/provenance.csv."""

from pathlib import Path

from repgeom.io import write_csv
from repgeom.scorecard import provenance_summary, read_benchmarks, stage_times
from repgeom.smk import rule_run

with rule_run(snakemake) as run:  # noqa: F821 (injected by Snakemake)
    out, p = snakemake.output, snakemake.params  # noqa: F821
    times = stage_times(read_benchmarks(p.benchmarks), list(p.stages))
    write_csv(out.times, times)
    run.log.info("stage times:\n%s", times.to_string(index=False))
    # results/provenance.csv sits in the results folder it summarises.
    sidecars = sorted(Path(out.sidecars).parent.glob("**/*.provenance.json"))
    write_csv(out.sidecars, provenance_summary(sidecars))
    run.log.info("provenance of %d results", len(sidecars))
