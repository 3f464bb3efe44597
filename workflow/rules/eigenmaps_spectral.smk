# Stage eigenmaps, spectral part (Deng et al. 2022): circle toy with exact Fourier
# eigenfunctions (E1) and graphs: SBM and karate club (E4). Included by eigenmaps.smk.

SPEC_TOY = config["eigenmaps"]["toy"]
SPEC_GRAPH = config["eigenmaps"]["graph"]
SPEC_FIG = "results/figures/eigenmaps_{}.png"
SPEC_FIGS = {
    name: report(
        SPEC_FIG.format(name),
        caption=f"../report/eigenmaps_{name}.rst",
        **report_section("eigenmaps"),
    )
    for name in ("toy_functions", "spectrum", "graph_embeddings")
}
# The claims' settings (rule eigenmaps_spectral_claims): thresholds, the training
# gate's bound and the scale each row records.
SPEC_TOY_CLAIMS = {
    "e1_min_alignment": SPEC_TOY["e1_min_alignment"],
    "e1_max_eigenvalue_error": SPEC_TOY["e1_max_eigenvalue_error"],
    "min_loss_drop": config["gates"]["min_loss_drop"],
    "scale": {
        "data": "circle, uniform angles",
        "jitter": SPEC_TOY["jitter"],
        "k": SPEC_TOY["n_outputs"],
        "steps": SPEC_TOY["steps"],
        "batch": SPEC_TOY["batch_size"],
        "seeds": len(seeds()),
    },
}
SPEC_GRAPH_CLAIMS = {
    "e4_min_alignment": SPEC_GRAPH["e4_min_alignment"],
    "e4_min_ari": SPEC_GRAPH["e4_min_ari"],
    "min_loss_drop": config["gates"]["min_loss_drop"],
    "scale": {
        "graphs": SPEC_GRAPH["graphs"],
        "sbm_blocks": SPEC_GRAPH["sbm"]["block_sizes"],
        "k": {g: SPEC_GRAPH[g]["n_outputs"] for g in SPEC_GRAPH["graphs"]},
        "steps": SPEC_GRAPH["steps"],
        "batch": SPEC_GRAPH["batch_size"],
        "seeds": len(seeds()),
    },
}
if SPEC_GRAPH["sbm"]["n_outputs"] < len(SPEC_GRAPH["sbm"]["block_sizes"]):
    raise ValueError(
        "invalid configuration:\n  key 'eigenmaps.graph.sbm.n_outputs': needs at least one "
        f"output per block ({len(SPEC_GRAPH['sbm']['block_sizes'])}), "
        f"got {SPEC_GRAPH['sbm']['n_outputs']}"
    )


rule eigenmaps_toy_train:
    output:
        metrics="results/eigenmaps/toy/seed{seed}.csv",
        functions="results/eigenmaps/toy/seed{seed}_functions.csv",
        curves="results/eigenmaps/toy/seed{seed}_curves.csv",
        provenance="results/eigenmaps/toy/seed{seed}.provenance.json",
    log:
        "logs/eigenmaps/toy_train_seed{seed}.log",
    benchmark:
        "results/benchmarks/eigenmaps/toy_train_seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["eigenmaps_toy_train"]["mem_mb"],
        runtime=config["resources"]["eigenmaps_toy_train"]["runtime"],
        gpu=GPUS,
    params:
        n_outputs=SPEC_TOY["n_outputs"],
        jitter=SPEC_TOY["jitter"],
        hidden=SPEC_TOY["hidden"],
        steps=SPEC_TOY["steps"],
        batch_size=SPEC_TOY["batch_size"],
        lr=SPEC_TOY["lr"],
        alpha=SPEC_TOY["alpha"],
        t=SPEC_TOY["t"],
        grid=SPEC_TOY["grid"],
        eval_pairs=SPEC_TOY["eval_pairs"],
        figure_points=SPEC_TOY["figure_points"],
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/eigenmaps_toy_train.py"


rule eigenmaps_graph_train:
    output:
        metrics="results/eigenmaps/graph/seed{seed}.csv",
        embeddings="results/eigenmaps/graph/seed{seed}_embeddings.csv",
        curves="results/eigenmaps/graph/seed{seed}_curves.csv",
        provenance="results/eigenmaps/graph/seed{seed}.provenance.json",
    log:
        "logs/eigenmaps/graph_train_seed{seed}.log",
    benchmark:
        "results/benchmarks/eigenmaps/graph_train_seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["eigenmaps_graph_train"]["mem_mb"],
        runtime=config["resources"]["eigenmaps_graph_train"]["runtime"],
        gpu=GPUS,
    params:
        graphs=SPEC_GRAPH["graphs"],
        sbm=SPEC_GRAPH["sbm"],
        n_outputs={g: SPEC_GRAPH[g]["n_outputs"] for g in SPEC_GRAPH["graphs"]},
        hidden=SPEC_GRAPH["hidden"],
        steps=SPEC_GRAPH["steps"],
        batch_size=SPEC_GRAPH["batch_size"],
        lr=SPEC_GRAPH["lr"],
        alpha=SPEC_GRAPH["alpha"],
        t=SPEC_GRAPH["t"],
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/eigenmaps_graph_train.py"


# E1 and E4 and their figures in one job (a few seconds each; no dataset needed).
rule eigenmaps_spectral_claims:
    input:
        toy=expand("results/eigenmaps/toy/seed{seed}.csv", seed=seeds()),
        graph=expand("results/eigenmaps/graph/seed{seed}.csv", seed=seeds()),
        registry=CLAIMS_REGISTRY,
    output:
        toy_claims="results/eigenmaps/toy/claims.csv",
        toy_metrics="results/eigenmaps/toy/metrics.csv",
        graph_claims="results/eigenmaps/graph/claims.csv",
        graph_metrics="results/eigenmaps/graph/metrics.csv",
        provenance="results/eigenmaps/spectral_claims.provenance.json",
    log:
        "logs/eigenmaps/spectral_claims.log",
    benchmark:
        "results/benchmarks/eigenmaps/spectral_claims.tsv"
    conda:
        ENV
    params:
        toy=SPEC_TOY_CLAIMS,
        graph=SPEC_GRAPH_CLAIMS,
    script:
        "../scripts/eigenmaps_spectral_claims.py"


# Figures apart from the claims: a plot setting redraws them and reruns nothing else.
rule eigenmaps_spectral_figures:
    input:
        toy_metrics="results/eigenmaps/toy/metrics.csv",
        graph_metrics="results/eigenmaps/graph/metrics.csv",
        toy_functions=f"results/eigenmaps/toy/seed{seeds()[0]}_functions.csv",
        graph_embeddings=f"results/eigenmaps/graph/seed{seeds()[0]}_embeddings.csv",
    output:
        **SPEC_FIGS,
    log:
        "logs/eigenmaps/spectral_figures.log",
    benchmark:
        "results/benchmarks/eigenmaps/spectral_figures.tsv"
    conda:
        ENV
    params:
        plot=PLOT,
    script:
        "../scripts/eigenmaps_spectral_figures.py"


register_targets(
    "eigenmaps",
    [
        "results/eigenmaps/toy/claims.csv",
        "results/eigenmaps/graph/claims.csv",
        *SPEC_FIGS.values(),
    ],
)
