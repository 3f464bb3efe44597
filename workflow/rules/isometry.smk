# Stage isometry (Beshkov et al. 2022): a beta sweep x seeds of the tanh MLP with the
# within-class isometry regulariser on each dataset of isometry.datasets, hierarchical
# stacking (torus toy, MNIST), stage tables, claims I1 and I2, figures.
# The adversarial stage reads the models through isometry_helpers.smk.


# Helpers (isometry_settings, isometry_betas, isometry_runs, isometry_model, ...):
include: "isometry_helpers.smk"


rule isometry_train:
    input:
        data=dataset_file("{dataset}"),
    output:
        model="results/isometry/{dataset}/beta{beta}/seed{seed}/model.pt",
        metrics="results/isometry/{dataset}/beta{beta}/seed{seed}/metrics.csv",
        pairs="results/isometry/{dataset}/beta{beta}/seed{seed}/pairs.csv",
        provenance="results/isometry/{dataset}/beta{beta}/seed{seed}/provenance.json",
    log:
        "logs/isometry/train/{dataset}_beta{beta}_seed{seed}.log",
    benchmark:
        "results/benchmarks/isometry/train/{dataset}_beta{beta}_seed{seed}.tsv"
    wildcard_constraints:
        dataset="|".join(DATASETS),
        beta=r"[0-9][0-9.e+-]*",
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["isometry_train"]["mem_mb"],
        runtime=config["resources"]["isometry_train"]["runtime"],
        gpu=GPUS,
    params:
        beta=lambda wc: float(wc.beta),
        K=isometry_param("K"),
        epochs=isometry_param("epochs"),
        max_train=isometry_param("max_train"),
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
        registry=CLAIMS_REGISTRY,
    output:
        metrics="results/isometry/metrics.csv",
        pairs="results/isometry/distance_pairs.csv",
        hierarchy="results/isometry/hierarchy_metrics.csv",
        embedding="results/isometry/hierarchy_embedding.csv",
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
    ],
)
