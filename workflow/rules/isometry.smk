# Stage isometry (Beshkov et al. 2022): a beta sweep x seeds of the tanh MLP with the
# within-class isometry regulariser on each dataset of isometry.datasets, hierarchical
# stacking (torus toy, MNIST), stage tables, claims I1 and I2, figures.
# The adversarial stage reads the models through isometry_helpers.smk.


# Helpers (isometry_settings, isometry_betas, isometry_runs, isometry_model, ...):
include: "isometry_helpers.smk"


# One job per (dataset, seed) trains every beta of the sweep in one process (a stacked
# model, the same initial weights and batches as separate runs); the outputs stay one
# folder per (dataset, beta, seed). A change to a dataset's betas or settings reruns its
# jobs. One rule per dataset: its outputs are that dataset's betas.
for _dataset in ISO["datasets"]:

    rule:
        name:
            f"isometry_train_{_dataset.replace('-', '_')}"
        input:
            data=dataset_file(_dataset),
        output:
            model=isometry_seed_files(_dataset, "model.pt"),
            metrics=isometry_seed_files(_dataset, "metrics.csv"),
            pairs=isometry_seed_files(_dataset, "pairs.csv"),
            curves=isometry_seed_files(_dataset, "curves.csv"),
            provenance=f"results/isometry/{_dataset}/seed{{seed}}.provenance.json",
        log:
            f"logs/isometry/train/{_dataset}_seed{{seed}}.log",
        benchmark:
            f"results/benchmarks/isometry/train/{_dataset}_seed{{seed}}.tsv"
        wildcard_constraints:
            seed=r"\d+",
        conda:
            ENV
        threads: 1
        resources:
            mem_mb=config["resources"]["isometry_train"]["mem_mb"],
            runtime=config["resources"]["isometry_train"]["runtime"],
            gpu=GPUS,
        params:
            dataset=_dataset,
            betas=[float(b) for b in isometry_betas(_dataset)],
            K=isometry_settings(_dataset)["K"],
            steps=isometry_steps(_dataset),
            max_train=isometry_settings(_dataset)["max_train"],
            lr=ISO["lr"],
            batch_size=ISO["batch_size"],
            hidden=ISO["hidden"],
            depth=ISO["depth"],
            eval_points=ISO["eval_points"],
            scatter_pairs=ISO["scatter_pairs"],
            device=config["device"],
            deterministic=config["deterministic"],
        script:
            "../scripts/isometry_train.py"


rule isometry_hierarchy:
    input:
        data=lambda wc: dataset_file("mnist") if wc.task == "mnist" else [],
    output:
        metrics="results/isometry/hierarchy/{task}/seed{seed}/metrics.csv",
        embedding="results/isometry/hierarchy/{task}/seed{seed}/embedding.csv",
        curves="results/isometry/hierarchy/{task}/seed{seed}/curves.csv",
        provenance="results/isometry/hierarchy/{task}/seed{seed}/provenance.json",
    log:
        "logs/isometry/hierarchy/{task}_seed{seed}.log",
    benchmark:
        "results/benchmarks/isometry/hierarchy/{task}_seed{seed}.tsv"
    wildcard_constraints:
        task="torus|mnist",
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["isometry_hierarchy"]["mem_mb"],
        runtime=config["resources"]["isometry_hierarchy"]["runtime"],
        gpu=GPUS,
    params:
        settings=lambda wc: dict(ISO["hierarchy"][wc.task]),
        embedding_points=400,
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/isometry_hierarchy.py"


rule isometry_summary:
    input:
        metrics=isometry_run_files("metrics.csv"),
        pairs=isometry_run_files("pairs.csv"),
        hierarchy=expand(
            "results/isometry/hierarchy/{task}/seed{seed}/metrics.csv",
            task=ISO["hierarchy"]["tasks"],
            seed=seeds(),
        ),
        embedding=expand(
            "results/isometry/hierarchy/{task}/seed{seed}/embedding.csv",
            task=ISO["hierarchy"]["tasks"],
            seed=seeds(),
        ),
        curves=isometry_run_files("curves.csv"),
        hierarchy_curves=expand(
            "results/isometry/hierarchy/{task}/seed{seed}/curves.csv",
            task=ISO["hierarchy"]["tasks"],
            seed=seeds(),
        ),
        registry=CLAIMS_REGISTRY,
    output:
        metrics="results/isometry/metrics.csv",
        pairs="results/isometry/distance_pairs.csv",
        hierarchy="results/isometry/hierarchy_metrics.csv",
        embedding="results/isometry/hierarchy_embedding.csv",
        curves="results/isometry/curves.csv",
        claims="results/isometry/claims.csv",
        provenance="results/isometry/claims.provenance.json",
    log:
        "logs/isometry/summary.log",
    benchmark:
        "results/benchmarks/isometry/summary.tsv"
    conda:
        ENV
    params:
        reference_betas={
            d: float(isometry_settings(d)["reference_beta"]) for d in ISO["datasets"]
        },
        scales=isometry_scales(),
        i1_threshold=ISO["i1_threshold"],
        i2_threshold=ISO["i2_threshold"],
        gates={
            k: config["gates"][k]
            for k in ("min_loss_drop", "min_accuracy_over_chance")
        },
    script:
        "../scripts/isometry_summary.py"


rule isometry_figures:
    input:
        metrics="results/isometry/metrics.csv",
        pairs="results/isometry/distance_pairs.csv",
        hierarchy="results/isometry/hierarchy_metrics.csv",
        embedding="results/isometry/hierarchy_embedding.csv",
        curves="results/isometry/curves.csv",
    output:
        geometry=report(
            "results/figures/isometry_geometry.png",
            caption="../report/isometry_geometry.rst",
            **report_section("isometry"),
        ),
        distances=report(
            "results/figures/isometry_distances.png",
            caption="../report/isometry_distances.rst",
            **report_section("isometry"),
        ),
        hierarchy=report(
            "results/figures/isometry_hierarchy.png",
            caption="../report/isometry_hierarchy.rst",
            **report_section("isometry"),
        ),
        curves=report(
            "results/figures/isometry_curves.png",
            caption="../report/isometry_curves.rst",
            **report_section("isometry"),
        ),
    log:
        "logs/isometry/figures.log",
    benchmark:
        "results/benchmarks/isometry/figures.tsv"
    conda:
        ENV
    params:
        plot=PLOT,
    script:
        "../scripts/isometry_figures.py"


register_targets(
    "isometry",
    [
        "results/isometry/claims.csv",
        "results/figures/isometry_geometry.png",
        "results/figures/isometry_distances.png",
        "results/figures/isometry_hierarchy.png",
        "results/figures/isometry_curves.png",
    ],
)
