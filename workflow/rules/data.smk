# Data stage: fetch (mirror first, then official sources), validate, convert
# once to a compact uint8 tensor file that training stages load onto the device.


rule prepare_dataset:
    output:
        data="results/data/{dataset}.pt",
        provenance="results/data/{dataset}.provenance.json",
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "results/benchmarks/data/{dataset}.tsv"
    wildcard_constraints:
        dataset="|".join(DATASETS),
    conda:
        ENV
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        mirror=resolve_mirror(config["data_mirror"]),
        download=config["data"]["download"],
        retries=config["data"]["retries"],
        timeout_s=config["data"]["timeout_s"],
    script:
        "../scripts/prepare_dataset.py"
