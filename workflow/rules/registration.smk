# Stage registration (Charpiat et al. 2019): generated multimodal scenes, a correlation
# network trained on noisy displacement labels, error against truth; claim R1 and figures.


# Helpers (REG, REG_DATA, REG_MODEL, REG_TRAIN, REG_SIGMAS, REG_NOISES, REG_GATES,
# REG_RUNS, reg_seed_files):
include: "registration_helpers.smk"


REG_METRICS = "results/registration/metrics.csv"
REG_FIG = "results/figures/registration_{}.png"


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
        seed=r"\d+",
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


# One job per seed trains every (noise, sigma) model of the sweep in one process (a
# stacked model: the same initial weights and batches as separate runs); the outputs stay
# one file per model. A change to the sweep or the training settings reruns the seed's
# job. With sigma = 0 both noise modes give the exact labels, hence the same model: it is
# trained once and written for each mode.
rule registration_train:
    input:
        data=REG_DATA,
    output:
        model=reg_seed_files(REG_MODEL),
        metrics=reg_seed_files(f"{REG_TRAIN}.csv"),
        curves=reg_seed_files(f"{REG_TRAIN}_curves.csv"),
        provenance="results/registration/train/seed{seed}.provenance.json",
    log:
        "logs/registration/train_seed{seed}.log",
    benchmark:
        "results/benchmarks/registration/train_seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["registration_train"]["mem_mb"],
        runtime=config["resources"]["registration_train"]["runtime"],
        gpu=GPUS,
    params:
        runs=REG_RUNS,
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
