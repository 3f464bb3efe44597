"""Rule run_summary: the benchmark files of this DAG's jobs -> results/stage_times.csv
(jobs, wall time, peak memory, start-up share per stage) and their provenance sidecars ->
results/provenance.csv, each also as an HTML table for the report's first page."""

from repgeom.io import write_csv, write_text
from repgeom.report_html import provenance_overview, table_html
from repgeom.scorecard import provenance_summary, read_benchmarks, read_startup, stage_times
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    out, p = snakemake.output, snakemake.params
    startup = read_startup(p.logs)
    times = stage_times(read_benchmarks(p.benchmarks, p.root), list(p.stages), startup)
    write_csv(out.times, times)
    write_text(out.times_html, table_html(times))
    run.log.info("stage times of %d jobs:\n%s", len(p.benchmarks), times.to_string(index=False))
    provenance = provenance_summary(p.sidecars)
    write_csv(out.sidecars, provenance)
    overview = provenance_overview(provenance)
    note = f"{len(provenance)} result files with a provenance sidecar, by code and device:"
    write_text(out.sidecars_html, table_html(overview, note))
    run.log.info("provenance of %d results", len(provenance))
