# Stage lsh (Dikkala, Kaplun, Panigrahy 2021): manifold data x = G(gamma, theta) from the
# seed, classifiers on C seen manifolds, their embeddings as LSH of gamma, one-shot
# learning of unseen manifolds; claims L1-L3 and figures. Jobs: data per generator and
# seed; training of every C per generator and seed (every C shares every setting, so a
# change reruns them all anyway); evaluation per generator (all seeds); claims and
# figures one job each (about 4 s of every job is start-up).

LSH = config["lsh"]
LSH_GENS = LSH["generators"]
LSH_C = sorted(LSH["n_classes"])
LSH_FIG = "results/figures/lsh_{}.png"
# Figures wrapped for the HTML report (`snakemake --report`).
LSH_FIGS = {
    name: report(
        LSH_FIG.format(name),
        caption=f"../report/lsh_{name}.rst",
        **report_section("lsh"),
    )
    for name in ("samples", "collision", "invariance", "oneshot", "curves")
}

if max(LSH["n_way"]) > LSH["n_unseen"]:
    raise ValueError(
        f"invalid configuration:\n  key 'lsh.n_way': {max(LSH['n_way'])}-way episodes need "
        f"at least that many unseen manifolds, but 'lsh.n_unseen' is {LSH['n_unseen']}"
    )
if not {1.0, 0.0} <= set(map(float, LSH["rho_levels"])):
    raise ValueError(
        "invalid configuration:\n  key 'lsh.rho_levels': the L2 collision gap compares "
        f"rho = 1 (same manifold) with rho = 0 (independent), got {LSH['rho_levels']}"
    )
LSH_WILDCARDS = {"gen": "|".join(LSH_GENS) or "none", "C": r"\d+", "seed": r"\d+"}


rule lsh_data:
    output:
        data="results/lsh/data/{gen}/seed{seed}.pt",
        provenance="results/lsh/data/{gen}/seed{seed}.provenance.json",
    log:
        "logs/lsh/data_{gen}_seed{seed}.log",
    benchmark:
        "results/benchmarks/lsh/data_{gen}_seed{seed}.tsv"
    wildcard_constraints:
        **LSH_WILDCARDS,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["lsh_data"]["mem_mb"],
        runtime=config["resources"]["lsh_data"]["runtime"],
    params:
        n_classes=max(LSH_C),
        samples_per_class=LSH["samples_per_class"],
        heldout_per_class=LSH["heldout_per_class"],
        n_unseen=LSH["n_unseen"],
        samples_per_unseen=LSH["samples_per_unseen"],
        rho_levels=LSH["rho_levels"],
        pairs_per_level=LSH["pairs_per_level"],
        samples_per_pair=LSH["samples_per_pair"],
        generator=lambda w: LSH[w.gen],
    script:
        "../scripts/lsh_data.py"


rule lsh_train:
    input:
        data="results/lsh/data/{gen}/seed{seed}.pt",
    output:
        models=expand("results/lsh/models/{{gen}}/C{C}/seed{{seed}}.pt", C=LSH_C),
        metrics="results/lsh/train/{gen}/seed{seed}.csv",
        curves="results/lsh/train/{gen}/seed{seed}_curves.csv",
        provenance="results/lsh/train/{gen}/seed{seed}.provenance.json",
    log:
        "logs/lsh/train_{gen}_seed{seed}.log",
    benchmark:
        "results/benchmarks/lsh/train_{gen}_seed{seed}.tsv"
    wildcard_constraints:
        **LSH_WILDCARDS,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["lsh_train"]["mem_mb"],
        runtime=config["resources"]["lsh_train"]["runtime"],
        gpu=GPUS,
    params:
        n_classes=LSH_C,
        hidden=lambda w: LSH["model"][w.gen]["hidden"],
        embed_dim=lambda w: LSH["model"][w.gen]["embed_dim"],
        epochs=LSH["train"]["epochs"],
        batch_size=LSH["train"]["batch_size"],
        lr=LSH["train"]["lr"],
        weight_decay=LSH["train"]["weight_decay"],
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/lsh_train.py"


rule lsh_eval:
    input:
        data=expand("results/lsh/data/{{gen}}/seed{seed}.pt", seed=seeds()),
        # seed-major: the models of one seed, every C in LSH_C order
        models=expand(
            "results/lsh/models/{{gen}}/C{C}/seed{seed}.pt", seed=seeds(), C=LSH_C
        ),
    output:
        metrics="results/lsh/eval/{gen}.csv",
        projection="results/lsh/eval/{gen}_embedding2d.csv",
        provenance="results/lsh/eval/{gen}.provenance.json",
    log:
        "logs/lsh/eval_{gen}.log",
    benchmark:
        "results/benchmarks/lsh/eval_{gen}.tsv"
    wildcard_constraints:
        **LSH_WILDCARDS,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=config["resources"]["lsh_eval"]["mem_mb"],
        runtime=config["resources"]["lsh_eval"]["runtime"],
        gpu=GPUS,
    params:
        seeds=seeds(),
        n_classes=LSH_C,
        hidden=lambda w: LSH["model"][w.gen]["hidden"],
        embed_dim=lambda w: LSH["model"][w.gen]["embed_dim"],
        n_way=LSH["n_way"],
        episodes=LSH["episodes"],
        hyperplanes=LSH["hyperplanes"],
        n_projected=LSH["n_projected"],
        device=config["device"],
        deterministic=config["deterministic"],
    script:
        "../scripts/lsh_eval.py"


rule lsh_claims:
    input:
        eval=expand("results/lsh/eval/{gen}.csv", gen=LSH_GENS),
        train=expand(
            "results/lsh/train/{gen}/seed{seed}.csv", gen=LSH_GENS, seed=seeds()
        ),
        registry=CLAIMS_REGISTRY,
    output:
        claims="results/lsh/claims.csv",
        metrics="results/lsh/metrics.csv",
        detail="results/lsh/claims_detail.csv",
        provenance="results/lsh/claims.provenance.json",
    log:
        "logs/lsh/claims.log",
    benchmark:
        "results/benchmarks/lsh/claims.tsv"
    conda:
        ENV
    params:
        l1_min_margin=LSH["l1_min_margin"],
        l2_min_margin=LSH["l2_min_margin"],
        l3_min_margin=LSH["l3_min_margin"],
        gates={
            k: config["gates"][k] for k in ("min_loss_drop", "lsh_min_train_accuracy")
        },
        scale={
            "C": LSH_C,
            "samples_per_class": LSH["samples_per_class"],
            "epochs": LSH["train"]["epochs"],
            "n_unseen": LSH["n_unseen"],
            "n_way": LSH["n_way"],
            "episodes": LSH["episodes"],
        },
    script:
        "../scripts/lsh_claims.py"


rule lsh_figures:
    input:
        **(
            {
                "projection": "results/lsh/eval/image_embedding2d.csv",
                "data": f"results/lsh/data/image/seed{seeds()[0]}.pt",
            }
            if "image" in LSH_GENS
            else {}
        ),
        metrics="results/lsh/metrics.csv",
        detail="results/lsh/claims_detail.csv",
        curves=expand(
            "results/lsh/train/{gen}/seed{seed}_curves.csv", gen=LSH_GENS, seed=seeds()
        ),
    output:
        **({"samples": LSH_FIGS["samples"]} if "image" in LSH_GENS else {}),
        collision=LSH_FIGS["collision"],
        invariance=LSH_FIGS["invariance"],
        oneshot=LSH_FIGS["oneshot"],
        curves=LSH_FIGS["curves"],
    log:
        "logs/lsh/figures.log",
    benchmark:
        "results/benchmarks/lsh/figures.tsv"
    conda:
        ENV
    params:
        plot=PLOT,
    script:
        "../scripts/lsh_figures.py"


register_targets(
    "lsh",
    [
        "results/lsh/claims.csv",
        "results/lsh/claims_detail.csv",
        *rules.lsh_figures.output,
    ],
)
