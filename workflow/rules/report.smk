# Report: the scorecard of every stage's claims, the stage timing table (from the
# per-job benchmark files of this DAG), a provenance summary, the figures-only target
# and the README's generated results section. The HTML tables are embedded in the
# report's first page (workflow/report/workflow.rst). Inputs and params that depend on
# the stages' registered targets are functions, read when the DAG is built, so this
# file may be included before or after the stage files.
from repgeom.dag import job_benchmarks, job_logs, job_sidecars
from repgeom.report_html import (
    RUN_PROVENANCE,
    RUN_TIMES,
    SCORECARD_CATEGORY,
    register_inline_image,
)

# workflow.rst embeds every figure in the report's first page with it.
register_inline_image()

BENCHMARKS = "results/benchmarks"


rule scorecard:
    input:
        claims=lambda wildcards: list(stage_claims().values()),
        registry=CLAIMS_REGISTRY,
    output:
        csv=report(
            "results/scorecard.csv",
            caption="../report/scorecard.rst",
            category=SCORECARD_CATEGORY,
        ),
        md="results/scorecard.md",
        html=report(
            "results/report/scorecard.html",
            caption="../report/scorecard.rst",
            category=SCORECARD_CATEGORY,
        ),
    log:
        "logs/report/scorecard.log",
    benchmark:
        "results/benchmarks/report/scorecard.tsv"
    conda:
        ENV
    params:
        stages=lambda wildcards: list(stage_claims()),
        # (stage, claim, case) rows the registry expects of the selected stages.
        expected=[list(row) for row in expected_rows(config, config["stages"])],
    script:
        "../scripts/report_scorecard.py"


rule run_summary:
    input:
        # Every job of the DAG leads to these, so the summary runs after all of them
        # (figures included) and again when one of them is redone.
        lambda wildcards: summarised_targets(),
    output:
        times=report(
            "results/stage_times.csv",
            caption="../report/stage_times.rst",
            **RUN_TIMES,
        ),
        sidecars=report(
            "results/provenance.csv",
            caption="../report/provenance.rst",
            **RUN_PROVENANCE,
        ),
        times_html=report(
            "results/report/stage_times.html",
            caption="../report/stage_times.rst",
            **RUN_TIMES,
        ),
        sidecars_html=report(
            "results/report/provenance.html",
            caption="../report/provenance.rst",
            **RUN_PROVENANCE,
        ),
    log:
        "logs/report/run_summary.log",
    benchmark:
        "results/benchmarks/report/run_summary.tsv"
    conda:
        ENV
    params:
        stages=["data", *config["stages"], "report"],
        root=BENCHMARKS,
        # Exactly the files of this DAG's jobs (a change of the job set reruns the
        # summary). Params, not inputs: a missing benchmark file is an error of the
        # summary, not a reason to redo the job that made the results.
        benchmarks=lambda wildcards: job_benchmarks(
            workflow.rules, summarised_targets()
        ),
        sidecars=lambda wildcards: job_sidecars(workflow.rules, summarised_targets()),
        # Each job's log holds its start-up time (repgeom.smk.rule_run).
        logs=lambda wildcards: job_logs(workflow.rules, summarised_targets()),
    script:
        "../scripts/report_run_summary.py"


# The README's results section and docs/results.md from a finished run
# (`snakemake readme`); not part of `all`, since it writes tracked files.
rule readme:
    input:
        scorecard="results/scorecard.csv",
        times="results/stage_times.csv",
        figures=lambda wildcards: stage_figures(),
    output:
        results="docs/results.md",
    log:
        "logs/report/readme.log",
    benchmark:
        "results/benchmarks/report/readme.tsv"
    conda:
        ENV
    params:
        readme="README.md",
        figure_dir="docs/figures",
        config_files=[str(f) for f in workflow.configfiles],
    script:
        "../scripts/report_readme.py"
