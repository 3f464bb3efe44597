# Report: the scorecard of every stage's claims, the stage timing table (from the
# per-rule benchmark files), a provenance summary, the figures-only target and the
# README's generated results section.


rule scorecard:
    input:
        claims=list(stage_claims().values()),
        registry=CLAIMS_REGISTRY,
    output:
        csv=report(
            "results/scorecard.csv",
            caption="../report/scorecard.rst",
            category="Scorecard",
        ),
        md="results/scorecard.md",
    log:
        "logs/report/scorecard.log",
    benchmark:
        "benchmarks/report/scorecard.tsv"
    conda:
        ENV
    params:
        stages=list(stage_claims()),
        # (stage, claim, case) rows the registry expects of the selected stages.
        expected=[list(row) for row in expected_rows(config, config["stages"])],
    script:
        "../scripts/report_scorecard.py"


rule run_summary:
    input:
        # What the selected stages make, so the tables cover finished jobs; figures
        # are left out so that a plot setting reruns the figure rules only.
        [t for t in stage_outputs() if t not in stage_figures()],
    output:
        times=report(
            "results/stage_times.csv",
            caption="../report/stage_times.rst",
            category="Run",
        ),
        sidecars=report(
            "results/provenance.csv",
            caption="../report/provenance.rst",
            category="Run",
        ),
    log:
        "logs/report/run_summary.log",
    benchmark:
        "benchmarks/report/run_summary.tsv"
    conda:
        ENV
    params:
        stages=["data", *config["stages"]],
        benchmarks="benchmarks",
    script:
        "../scripts/report_run_summary.py"


# The README's results section and docs/results.md from a finished run
# (`snakemake readme`); not part of `all`, since it writes tracked files.
rule readme:
    input:
        scorecard="results/scorecard.csv",
        times="results/stage_times.csv",
        figures=stage_figures(),
    output:
        results="docs/results.md",
    log:
        "logs/report/readme.log",
    benchmark:
        "benchmarks/report/readme.tsv"
    conda:
        ENV
    params:
        readme="README.md",
        figure_dir="docs/figures",
        config_files=[str(f) for f in workflow.configfiles],
    script:
        "../scripts/report_readme.py"
