# Stage eigenmaps (Deng et al. 2022): self-supervised pretraining with the neural
# eigenfunction loss and baselines, retrieval with code prefixes, linear probe (beside
# the random-init and raw-pixel floors), training curves; claims E2-E3.
# The stage's claims file joins them with E1 (toy) and E4 (graph) from
# eigenmaps_spectral.smk, included at the end.

EIG = config["eigenmaps"]
SSL = EIG["ssl"]
SSL_METHODS = SSL["methods"]
SSL_FIG = "results/figures/eigenmaps_{}.png"
SSL_FIGS = {
    name: report(
        SSL_FIG.format(name),
        caption=f"../report/eigenmaps_{name}.rst",
        **report_section("eigenmaps"),
    )
    for name in ("retrieval", "probe", "pretrain_spectrum", "curves")
}
# The constants of each method's loss, so changing one reruns only that method.
SSL_LOSS = {
    "neuralef": {"alpha": SSL["alpha"], "t": SSL["t"], "stop_grad": SSL["stop_grad"]},
    "barlow": {"lambd": SSL["barlow_lambda"]},
    "simclr": {"temperature": SSL["simclr_temperature"]},
    "spectral": {"t": SSL["t"]},
}
SSL_MODEL = {
    "arch": SSL["arch"],
    "widths": SSL["widths"],
    "strides": SSL["strides"],
    "feature_dim": SSL["feature_dim"],
    "proj_hidden": SSL["proj_hidden"],
    "proj_dim": SSL["proj_dim"],
}
if SSL["arch"] == "cnn" and len(SSL["widths"]) != len(SSL["strides"]):
    raise ValueError(
        "invalid configuration:\n  key 'eigenmaps.ssl.strides': needs one stride per width "
        f"({len(SSL['widths'])} widths, {len(SSL['strides'])} strides)"
    )
if SSL["heldout_images"] < SSL["batch_size"]:
    raise ValueError(
        "invalid configuration:\n  key 'eigenmaps.ssl.heldout_images': needs at least one "
        f"batch (eigenmaps.ssl.batch_size = {SSL['batch_size']}), got {SSL['heldout_images']}"
    )
SSL_WILDCARDS = {"method": "|".join(SSL_METHODS), "seed": r"\d+"}


rule eigenmaps_pretrain:
    input:
        data=dataset_file(EIG["dataset"]),
    output:
        model="results/eigenmaps/ssl/models/{method}/seed{seed}.pt",
        metrics="results/eigenmaps/ssl/pretrain/{method}/seed{seed}.csv",
        curves="results/eigenmaps/ssl/pretrain/{method}/seed{seed}_curves.csv",
        provenance="results/eigenmaps/ssl/pretrain/{method}/seed{seed}.provenance.json",
    log:
        "logs/eigenmaps/pretrain_{method}_seed{seed}.log",
    benchmark:
        "results/benchmarks/eigenmaps/pretrain_{method}_seed{seed}.tsv"
    wildcard_constraints:
        **SSL_WILDCARDS,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["eigenmaps_pretrain"]["mem_mb"],
        runtime=config["resources"]["eigenmaps_pretrain"]["runtime"],
        gpu=GPUS,
    params:
        model=SSL_MODEL,
        loss=lambda w: SSL_LOSS[w.method],
        max_train=SSL["max_train"],
        epochs=SSL["epochs"],
        batch_size=SSL["batch_size"],
        lr=SSL["lr"],
        weight_decay=SSL["weight_decay"],
        warmup_epochs=SSL["warmup_epochs"],
        augment=SSL["augment"],
        heldout_images=SSL["heldout_images"],
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/eigenmaps_pretrain.py"


# One job per method over every seed (each model a probe's and a retrieval's cost): a
# change to one method's settings still reruns only that method's evaluation.
rule eigenmaps_eval:
    input:
        data=dataset_file(EIG["dataset"]),
        models=expand(
            "results/eigenmaps/ssl/models/{{method}}/seed{seed}.pt", seed=seeds()
        ),
    output:
        metrics="results/eigenmaps/ssl/eval/{method}.csv",
        provenance="results/eigenmaps/ssl/eval/{method}.provenance.json",
    log:
        "logs/eigenmaps/eval_{method}.log",
    benchmark:
        "results/benchmarks/eigenmaps/eval_{method}.tsv"
    wildcard_constraints:
        method=SSL_WILDCARDS["method"],
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["eigenmaps_eval"]["mem_mb"],
        runtime=config["resources"]["eigenmaps_eval"]["runtime"],
        gpu=GPUS,
    params:
        **SSL["eval"],
        seeds=seeds(),
        max_train=SSL["max_train"],
        batch_size=SSL["batch_size"],
        augment=SSL["augment"],
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/eigenmaps_eval.py"


# The probe floors, all seeds in one job (each a probe's cost): the backbone each seed's
# methods start from, probed untrained (the floor of the gate probe_above_random_init),
# and the raw pixels.
rule eigenmaps_random_init:
    input:
        data=dataset_file(EIG["dataset"]),
    output:
        metrics="results/eigenmaps/ssl/eval/floors.csv",
        provenance="results/eigenmaps/ssl/eval/floors.provenance.json",
    log:
        "logs/eigenmaps/random_init.log",
    benchmark:
        "results/benchmarks/eigenmaps/random_init.tsv"
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["eigenmaps_random_init"]["mem_mb"],
        runtime=config["resources"]["eigenmaps_random_init"]["runtime"],
        gpu=GPUS,
    params:
        model=SSL_MODEL,
        seeds=seeds(),
        max_train=SSL["max_train"],
        probe_weight_decay=SSL["eval"]["probe_weight_decay"],
        probe_max_iter=SSL["eval"]["probe_max_iter"],
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/eigenmaps_random_init.py"


rule eigenmaps_ssl_claims:
    input:
        eval=expand("results/eigenmaps/ssl/eval/{method}.csv", method=SSL_METHODS),
        pretrain=expand(
            "results/eigenmaps/ssl/pretrain/{method}/seed{seed}.csv",
            method=SSL_METHODS,
            seed=seeds(),
        ),
        floors="results/eigenmaps/ssl/eval/floors.csv",
        toy_claims="results/eigenmaps/toy/claims.csv",
        graph_claims="results/eigenmaps/graph/claims.csv",
        registry=CLAIMS_REGISTRY,
    output:
        claims="results/eigenmaps/ssl/claims.csv",
        stage_claims="results/eigenmaps/claims.csv",
        metrics="results/eigenmaps/ssl/metrics.csv",
        provenance="results/eigenmaps/ssl/claims.provenance.json",
    log:
        "logs/eigenmaps/ssl_claims.log",
    benchmark:
        "results/benchmarks/eigenmaps/ssl_claims.tsv"
    conda:
        ENV
    params:
        methods=SSL_METHODS,
        gates={
            k: config["gates"][k]
            for k in ("min_loss_drop", "eigenmaps_min_probe_over_random_init")
        },
        e2_min_difference=SSL["e2_min_difference"],
        e3_match_ratio=SSL["e3_match_ratio"],
        e3_min_factor=SSL["e3_min_factor"],
        e3_min_margin=SSL["e3_min_margin"],
        levelled_max_share=SSL["levelled_max_share"],
        scale={
            "dataset": EIG["dataset"],
            "arch": SSL["arch"],
            "k": SSL["proj_dim"],
            "max_train": SSL["max_train"],
            "epochs": SSL["epochs"],
            "batch_size": SSL["batch_size"],
            "seeds": len(seeds()),
        },
    script:
        "../scripts/eigenmaps_claims_ssl.py"


register_targets(
    "eigenmaps",
    ["results/eigenmaps/claims.csv", *(SSL_FIG.format(n) for n in SSL_FIGS)],
)


# The stage's second part, E1 and E4 (whose claims files eigenmaps_ssl_claims joins);
# last, so that the stage's targets keep their order (theirs after these).
include: "eigenmaps_spectral.smk"


# The pretraining figures and the training curves of every model of the stage (the
# pretraining's, the circle's and the graphs') in one job.
rule eigenmaps_figures:
    input:
        metrics="results/eigenmaps/ssl/metrics.csv",
        curves=expand(
            "results/eigenmaps/ssl/pretrain/{method}/seed{seed}_curves.csv",
            method=SSL_METHODS,
            seed=seeds(),
        ),
        toy_curves=expand("results/eigenmaps/toy/seed{seed}_curves.csv", seed=seeds()),
        graph_curves=expand(
            "results/eigenmaps/graph/seed{seed}_curves.csv", seed=seeds()
        ),
    output:
        **SSL_FIGS,
    log:
        "logs/eigenmaps/figures.log",
    benchmark:
        "results/benchmarks/eigenmaps/figures.tsv"
    conda:
        ENV
    params:
        plot=PLOT,
    script:
        "../scripts/eigenmaps_figures.py"
