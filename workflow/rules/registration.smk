# Stage registration (Charpiat et al. 2019): generated multimodal scenes, a correlation
# network trained on noisy displacement labels, error against truth; claim R1 and figures.


# Helpers (REG, REG_DATA, REG_MODEL, REG_TRAIN, REG_SIGMAS, REG_NOISES, REG_GATES):
include: "registration_helpers.smk"


REG_METRICS = "results/registration/metrics.csv"
REG_FIG = "results/figures/registration_{}.png"
REG_WILDCARDS = {
    "seed": r"\d+",
    "noise": "iid|building",
    "sigma": "|".join(s.replace(".", r"\.") for s in REG_SIGMAS),
}
# With sigma = 0 both noise modes give the exact labels, hence the same model (same seed,
# same init and batches, deterministic): it is trained once (iid) and copied to "building".
REG_CLEAN = {"noise": "building", "sigma": "0"}


ruleorder: registration_clean_copy > registration_train


rule registration_data:
    output:
        data=REG_DATA,
        samples="results/registration/data/seed{seed}_samples.pt",
        provenance="results/registration/data/seed{seed}.provenance.json",
    log:
        "logs/registration/data_seed{seed}.log",
    benchmark:
        "results/benchmarks/registration/data_seed{seed}.tsv"
    wildcard_constraints:
        **REG_WILDCARDS,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["registration_data"]["mem_mb"],
        runtime=config["resources"]["registration_data"]["runtime"],
    params:
        n_train_scenes=REG["n_train_scenes"],
        n_test_scenes=REG["n_test_scenes"],
        generator=REG["generator"],
        n_samples=REG["n_figure_samples"],
    script:
        "../scripts/registration_data.py"


rule registration_train:
    input:
        data=REG_DATA,
    output:
        model=REG_MODEL,
        metrics=f"{REG_TRAIN}.csv",
        curves=f"{REG_TRAIN}_curves.csv",
        provenance=f"{REG_TRAIN}.provenance.json",
    log:
        "logs/registration/train_{noise}_sigma{sigma}_seed{seed}.log",
    benchmark:
        "results/benchmarks/registration/train_{noise}_sigma{sigma}_seed{seed}.tsv"
    wildcard_constraints:
        **REG_WILDCARDS,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["registration_train"]["mem_mb"],
        runtime=config["resources"]["registration_train"]["runtime"],
        gpu=GPUS,
    params:
        model=REG["model"],
        max_shift=REG["generator"]["max_shift"],
        epochs=REG["train"]["epochs"],
        batch_size=REG["train"]["batch_size"],
        lr=REG["train"]["lr"],
        weight_decay=REG["train"]["weight_decay"],
        taus=REG["taus"],
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/registration_train.py"


rule registration_clean_copy:
    input:
        model=REG_MODEL.format(noise="iid", sigma="0", seed="{seed}"),
        metrics=REG_TRAIN.format(noise="iid", sigma="0", seed="{seed}") + ".csv",
        curves=REG_TRAIN.format(noise="iid", sigma="0", seed="{seed}") + "_curves.csv",
    output:
        model=REG_MODEL.format(**REG_CLEAN, seed="{seed}"),
        metrics=REG_TRAIN.format(**REG_CLEAN, seed="{seed}") + ".csv",
        curves=REG_TRAIN.format(**REG_CLEAN, seed="{seed}") + "_curves.csv",
        provenance=REG_TRAIN.format(**REG_CLEAN, seed="{seed}") + ".provenance.json",
    log:
        "logs/registration/clean_copy_seed{seed}.log",
    benchmark:
        "results/benchmarks/registration/clean_copy_seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    conda:
        ENV
    params:
        noise=REG_CLEAN["noise"],
    script:
        "../scripts/registration_clean_copy.py"


rule registration_claims:
    input:
        metrics=expand(
            f"{REG_TRAIN}.csv",
            noise=REG_NOISES,
            sigma=REG_SIGMAS,
            seed=seeds(),
        ),
        registry=CLAIMS_REGISTRY,
    output:
        claims="results/registration/claims.csv",
        metrics=REG_METRICS,
        provenance="results/registration/claims.provenance.json",
    log:
        "logs/registration/claims.log",
    benchmark:
        "results/benchmarks/registration/claims.tsv"
    conda:
        ENV
    params:
        r1_max_ratio=REG["r1_max_ratio"],
        gates={k: config["gates"][k] for k in REG_GATES},
        scale={
            "n_train_scenes": REG["n_train_scenes"],
            "n_test_scenes": REG["n_test_scenes"],
            "crop_size": REG["generator"]["crop_size"],
            "epochs": REG["train"]["epochs"],
            "sigmas": REG["sigmas"],
            "seeds": len(seeds()),
        },
    script:
        "../scripts/registration_claims.py"


rule registration_figures:
    input:
        metrics=REG_METRICS,
        samples=f"results/registration/data/seed{seeds()[0]}_samples.pt",
        curves=expand(
            f"{REG_TRAIN}_curves.csv", noise=REG_NOISES, sigma=REG_SIGMAS, seed=seeds()
        ),
    output:
        accuracy=report(
            REG_FIG.format("accuracy"),
            caption="../report/registration_accuracy.rst",
            **report_section("registration"),
        ),
        tau_curves=report(
            REG_FIG.format("tau_curves"),
            caption="../report/registration_tau_curves.rst",
            **report_section("registration"),
        ),
        curves=report(
            REG_FIG.format("curves"),
            caption="../report/registration_curves.rst",
            **report_section("registration"),
        ),
        samples=report(
            REG_FIG.format("samples"),
            caption="../report/registration_samples.rst",
            **report_section("registration"),
        ),
    log:
        "logs/registration/figures.log",
    benchmark:
        "results/benchmarks/registration/figures.tsv"
    conda:
        ENV
    params:
        plot=PLOT,
        figure_taus=REG["figure_taus"],
    script:
        "../scripts/registration_figures.py"


register_targets(
    "registration",
    ["results/registration/claims.csv", *rules.registration_figures.output],
)
