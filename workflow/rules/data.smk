# Data stage: fetch (mirror first, then official sources), validate, convert
# once to a compact uint8 tensor file that training stages load onto the device.
# How a dataset is fetched (mirror, download, retries, timeout) is no param: it
# does not change the data, which its sha256 in the provenance identifies, so a
# rerun without the mirror or with other fetch settings keeps finished datasets
# and everything trained on them. The script reads those settings at run time.


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
        mem_mb=config["resources"]["prepare_dataset"]["mem_mb"],
        runtime=config["resources"]["prepare_dataset"]["runtime"],
    script:
        "../scripts/prepare_dataset.py"
