# Stage similarity (Charpiat et al. 2019): gradient kernel, density N_S, retrieval,
# predicted vs measured denoising, toy, similarity-enforcing MNIST training; S1-S4.


# The registration stage's data, models and sweep (REG_DATA, REG_MODEL, REG_TRAIN, ...):
include: "registration_helpers.smk"


SIM = config["similarity"]
SIM_TOY = SIM["toy"]
SIM_REG = SIM["registration"]
SIM_ENF = SIM["enforce"]
SIM_SIGMAS = [f"{s:g}" for s in SIM_REG["sigmas"]]
SIM_NOISES = list(SIM_REG["noises"])
for _key, _mine, _theirs in (
    ("noises", SIM_NOISES, REG_NOISES),
    ("sigmas", SIM_SIGMAS, REG_SIGMAS),
):
    if not set(_mine) <= set(_theirs):
        raise ValueError(
            f"invalid configuration:\n  key 'similarity.registration.{_key}': "
            f"{sorted(set(_mine) - set(_theirs))} not among registration.{_key} {_theirs}"
        )
if SIM_SIGMAS and "0" not in REG_SIGMAS:
    # S2/S3 measure the noise-induced error against the sigma = 0 model of each seed.
    raise ValueError(
        "invalid configuration:\n  key 'registration.sigmas': must contain 0 (the floor "
        f"model f_0 of S2/S3's noise-induced error), got {REG_SIGMAS}"
    )
SIM_FIG = "results/figures/similarity_{}.png"
SIM_REG_OUT = "results/similarity/registration/{noise}/sigma{sigma}/seed{seed}"
SIM_WILDCARDS = {
    "seed": r"\d+",
    "noise": "|".join(SIM_NOISES),
    "sigma": "|".join(s.replace(".", r"\.") for s in SIM_SIGMAS),
}
SIM_REG_ALL = dict(noise=SIM_NOISES, sigma=SIM_SIGMAS, seed=seeds())
SIM_FIRST = dict(noise=SIM_NOISES[0], sigma=SIM_SIGMAS[0], seed=seeds()[0])
# The registration models' own tables (training losses; held-out error of the sigma = 0
# models): the gates of S2 and S3.
SIM_REG_MODELS = expand(
    f"{REG_TRAIN}.csv", noise=SIM_NOISES, sigma=[*SIM_SIGMAS, "0"], seed=seeds()
)
SIM_GATES = (
    *REG_GATES,
    "min_accuracy_over_chance",
    "similarity_max_density_error",
    "similarity_min_cosine_shift",
)


rule similarity_toy:
    output:
        metrics="results/similarity/toy/seed{seed}.csv",
        samples="results/similarity/toy/seed{seed}_samples.csv",
        curves="results/similarity/toy/seed{seed}_curves.csv",
        provenance="results/similarity/toy/seed{seed}.provenance.json",
    log:
        "logs/similarity/toy_seed{seed}.log",
    benchmark:
        "results/benchmarks/similarity/toy_seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["similarity_toy"]["mem_mb"],
        runtime=config["resources"]["similarity_toy"]["runtime"],
        gpu=GPUS,
    params:
        frequencies=SIM_TOY["frequencies"],
        n=SIM_TOY["n"],
        distribution=SIM_TOY["distribution"],
        hidden=SIM_TOY["hidden"],
        depth=SIM_TOY["depth"],
        epochs=SIM_TOY["epochs"],
        batch_size=SIM_TOY["batch_size"],
        lr=SIM_TOY["lr"],
        thresholds=SIM_TOY["thresholds"],
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/similarity_toy.py"


rule similarity_enforce:
    input:
        data=dataset_file(SIM["dataset"]),
    output:
        metrics="results/similarity/enforce/seed{seed}.csv",
        curves="results/similarity/enforce/seed{seed}_curves.csv",
        provenance="results/similarity/enforce/seed{seed}.provenance.json",
    log:
        "logs/similarity/enforce_seed{seed}.log",
    benchmark:
        "results/benchmarks/similarity/enforce_seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["similarity_enforce"]["mem_mb"],
        runtime=config["resources"]["similarity_enforce"]["runtime"],
        gpu=GPUS,
    params:
        variants=SIM_ENF["variants"],
        steps=SIM_ENF["steps"],
        batch_size=SIM_ENF["batch_size"],
        lr=SIM_ENF["lr"],
        eval_every=SIM_ENF["eval_every"],
        val_size=SIM_ENF["val_size"],
        target_accuracy=SIM_ENF["target_accuracy"],
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/similarity_enforce.py"


rule similarity_registration:
    input:
        data=REG_DATA,
        model=REG_MODEL,
        # f_0: the sigma = 0 model of the same seed (same init and batch order).
        floor_model=REG_MODEL.format(noise="{noise}", sigma="0", seed="{seed}"),
    output:
        metrics=f"{SIM_REG_OUT}.csv",
        bins=f"{SIM_REG_OUT}_bins.csv",
        samples=f"{SIM_REG_OUT}_samples.csv",
        retrieval=f"{SIM_REG_OUT}_retrieval.csv",
        images=f"{SIM_REG_OUT}_retrieval.pt",
        provenance=f"{SIM_REG_OUT}.provenance.json",
    log:
        "logs/similarity/registration_{noise}_sigma{sigma}_seed{seed}.log",
    benchmark:
        "results/benchmarks/similarity/registration_{noise}_sigma{sigma}_seed{seed}.tsv"
    wildcard_constraints:
        **SIM_WILDCARDS,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["similarity_registration"]["mem_mb"],
        runtime=config["resources"]["similarity_registration"]["runtime"],
        gpu=GPUS,
    params:
        max_samples=SIM_REG["max_samples"],
        thresholds=SIM_REG["thresholds"],
        n_bins=SIM_REG["n_bins"],
        n_queries=SIM_REG["n_queries"],
        top_k=SIM_REG["top_k"],
        chunk_size=SIM_REG["chunk_size"],
        density_check_samples=config["gates"]["similarity_density_check_samples"],
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/similarity_registration.py"


rule similarity_claims:
    input:
        toy=expand("results/similarity/toy/seed{seed}.csv", seed=seeds()),
        enforce=expand(
            "results/similarity/enforce/seed{seed}.csv", seed=SIM_ENF["seeds"]
        ),
        registration=expand(f"{SIM_REG_OUT}.csv", **SIM_REG_ALL),
        registration_models=SIM_REG_MODELS,
        registry=CLAIMS_REGISTRY,
    output:
        claims="results/similarity/claims.csv",
        metrics="results/similarity/metrics.csv",
        provenance="results/similarity/claims.provenance.json",
    log:
        "logs/similarity/claims.log",
    benchmark:
        "results/benchmarks/similarity/claims.tsv"
    conda:
        ENV
    params:
        s1_max_slope=SIM["s1_max_slope"],
        s2_max_spearman=SIM["s2_max_spearman"],
        s3_min_spearman=SIM["s3_min_spearman"],
        s4_min_speedup=SIM["s4_min_speedup"],
        target_accuracy=SIM_ENF["target_accuracy"],
        gates={k: config["gates"][k] for k in SIM_GATES},
        scale={
            "toy_frequencies": SIM_TOY["frequencies"],
            "toy_n": SIM_TOY["n"],
            "toy_epochs": SIM_TOY["epochs"],
            "toy_seeds": len(seeds()),
            "registration_samples": SIM_REG["max_samples"],
            "registration_seeds": len(seeds()),
            "enforce_dataset": SIM["dataset"],
            "enforce_steps": SIM_ENF["steps"],
            "enforce_batch_pairs": SIM_ENF["batch_size"],
            "enforce_val_size": SIM_ENF["val_size"],
            "enforce_seeds": len(SIM_ENF["seeds"]),
        },
    script:
        "../scripts/similarity_claims.py"


rule similarity_figures:
    input:
        metrics="results/similarity/metrics.csv",
        toy_samples=expand(
            "results/similarity/toy/seed{seed}_samples.csv", seed=seeds()
        ),
        reg_samples=expand(f"{SIM_REG_OUT}_samples.csv", **SIM_REG_ALL),
        reg_bins=expand(f"{SIM_REG_OUT}_bins.csv", **SIM_REG_ALL),
        retrieval=f"{SIM_REG_OUT}_retrieval.csv".format(**SIM_FIRST),
        retrieval_images=f"{SIM_REG_OUT}_retrieval.pt".format(**SIM_FIRST),
        curves=expand(
            "results/similarity/enforce/seed{seed}_curves.csv", seed=SIM_ENF["seeds"]
        ),
        toy_curves=expand("results/similarity/toy/seed{seed}_curves.csv", seed=seeds()),
    output:
        toy_density=report(
            SIM_FIG.format("toy_density"),
            caption="../report/similarity_toy_density.rst",
            **report_section("similarity"),
        ),
        density_hist=report(
            SIM_FIG.format("density_hist"),
            caption="../report/similarity_density_hist.rst",
            **report_section("similarity"),
        ),
        retrieval=report(
            SIM_FIG.format("retrieval"),
            caption="../report/similarity_retrieval.rst",
            **report_section("similarity"),
        ),
        denoising=report(
            SIM_FIG.format("denoising"),
            caption="../report/similarity_denoising.rst",
            **report_section("similarity"),
        ),
        training=report(
            SIM_FIG.format("training"),
            caption="../report/similarity_training.rst",
            **report_section("similarity"),
        ),
        curves=report(
            SIM_FIG.format("curves"),
            caption="../report/similarity_curves.rst",
            **report_section("similarity"),
        ),
    log:
        "logs/similarity/figures.log",
    benchmark:
        "results/benchmarks/similarity/figures.tsv"
    conda:
        ENV
    params:
        plot=PLOT,
        target_accuracy=SIM_ENF["target_accuracy"],
    script:
        "../scripts/similarity_figures.py"


register_targets(
    "similarity", ["results/similarity/claims.csv", *rules.similarity_figures.output]
)
