# Stage adversarial (issues 5, 14): every isometry model under FGSM (the paper's eps
# grid), real PGD-40 and AutoAttack (standard, L-inf) on a grid around the 50 % crossings
# (a black-box Square check inside AutoAttack or standalone); the authors' attack-loss
# variant with its gradient diagnostics; gradient-masking checks; claims I3/I4 on eps50;
# robustness curves. One job per dataset and seed attacks all its betas. The models,
# betas, seeds and reference betas are the isometry stage's (isometry_helpers.smk).


# Helpers, with the isometry stage's (isometry_helpers.smk) they build on:
include: "adversarial_helpers.smk"


rule adversarial_eval:
    input:
        models=adversarial_models,
        data=lambda wildcards: dataset_file(wildcards.dataset),
    output:
        metrics=f"{ADV_OUT}/metrics.csv",
        provenance=f"{ADV_OUT}/provenance.json",
    log:
        "logs/adversarial/{dataset}/seed{seed}.log",
    benchmark:
        "results/benchmarks/adversarial/{dataset}/seed{seed}.tsv"
    wildcard_constraints:
        dataset="|".join(DATASETS),
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["adversarial_eval"]["mem_mb"],
        runtime=config["resources"]["adversarial_eval"]["runtime"],
        gpu=GPUS,
    params:
        eps=adversarial_eps(),
        crossing_eps=adversarial_crossing_eps(),
        n_points=ADV["n_points"],
        subset_seed=ADV["subset_seed"],
        batch_size=ADV["batch_size"],
        pgd_steps=ADV["pgd"]["steps"],
        pgd_step_factor=ADV["pgd"]["step_factor"],
        pgd_random_start=ADV["pgd"]["random_start"],
        isometry_attacks=ADV["isometry_attacks"],
        isometry_batch_size=ADV["isometry_batch_size"],
        strong_betas=lambda wildcards: adversarial_strong_betas(wildcards.dataset),
        run_autoattack=ADV["autoattack"]["enabled"],
        aa_bracket=ADV["autoattack"]["bracket"],
        aa_points=ADV["autoattack"]["n_points"],
        aa_parts=ADV["autoattack"]["parts"],
        aa_steps=ADV["autoattack"]["steps"],
        aa_square_queries=ADV["autoattack"]["square_queries"],
        run_square=ADV["square"]["enabled"],
        square_queries=ADV["square"]["n_queries"],
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/adversarial_eval.py"


rule adversarial_summary:
    input:
        metrics=adversarial_eval_outputs(),
        isometry=isometry_run_files("metrics.csv"),
        registry=CLAIMS_REGISTRY,
    output:
        metrics="results/adversarial/metrics.csv",
        checks="results/adversarial/checks.csv",
        claims="results/adversarial/claims.csv",
        provenance="results/adversarial/summary.provenance.json",
    log:
        "logs/adversarial/summary.log",
    benchmark:
        "results/benchmarks/adversarial/summary.tsv"
    conda:
        ENV
    params:
        reference_beta={
            d: adversarial_reference_beta(d) for d in adversarial_datasets()
        },
        min_ratio=ADV["min_eps50_ratio"],
        eps=adversarial_eps(),
        crossing_eps=adversarial_crossing_eps(),
        tolerance=ADV["checks"]["tolerance"],
        zero_accuracy=ADV["checks"]["zero_accuracy"],
        scale={d: adversarial_scale(d) for d in adversarial_datasets()},
        gates={
            k: config["gates"][k]
            for k in ("min_loss_drop", "min_accuracy_over_chance")
        },
    script:
        "../scripts/adversarial_summary.py"


rule adversarial_figures:
    input:
        metrics="results/adversarial/metrics.csv",
    output:
        figures=[
            report(
                fig,
                caption="../report/adversarial_robustness.rst",
                **report_section("adversarial"),
            )
            for fig in expand(
                "results/figures/adversarial_robustness_{dataset}.png",
                dataset=adversarial_datasets(),
            )
        ],
    log:
        "logs/adversarial/figures.log",
    benchmark:
        "results/benchmarks/adversarial/figures.tsv"
    conda:
        ENV
    params:
        plot=PLOT,
        datasets=adversarial_datasets(),
    script:
        "../scripts/adversarial_figures.py"


register_targets(
    "adversarial",
    [
        "results/adversarial/claims.csv",
        "results/adversarial/checks.csv",
        *expand(
            "results/figures/adversarial_robustness_{dataset}.png",
            dataset=adversarial_datasets(),
        ),
    ],
)
