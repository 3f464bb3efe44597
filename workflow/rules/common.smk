# Helpers shared by every stage: config checking, paths, resources.
import sys
from pathlib import Path

# The library is importable here and in every job from a bare checkout too.
SRC = Path(workflow.basedir) / "src"
sys.path.insert(0, str(SRC))

from repgeom.config import (  # noqa: E402
    expose_to_jobs,
    load_schema,
    validate_config,
)
from repgeom.registry import REGISTRY_PATH, expected_rows  # noqa: E402

from repgeom.report_html import report_section  # noqa: E402 (report categories)

expose_to_jobs(SRC)

validate_config(
    config, load_schema(workflow.source_path("../schemas/config.schema.yaml"))
)

ENV = "../../envs/repgeom.yaml"
# The claims registry: every claims rule reads it (paper, gates, cases).
CLAIMS_REGISTRY = str(REGISTRY_PATH)
DATASETS = ("mnist", "fashion-mnist", "cifar10")
# A rule asks for a GPU only when the config sends work to CUDA, so a cluster
# executor schedules it on a GPU node; CPU runs request none.
GPUS = 1 if config["device"].startswith("cuda") else 0
# Figure rules get the plot settings as a param, so changing one reruns only them.
PLOT = config["figures"]


def stage_datasets(stage):
    """Datasets a stage reads; stages on generated data read none."""
    return {
        "similarity": [config["similarity"]["dataset"]],
        "eigenmaps": [config["eigenmaps"]["dataset"]],
        "isometry": config["isometry"]["datasets"],
        "adversarial": config["isometry"]["datasets"],
    }.get(stage, [])


def needed_datasets():
    needed = {d for stage in config["stages"] for d in stage_datasets(stage)}
    return [d for d in DATASETS if d in needed]


def dataset_file(name):
    return f"results/data/{name}.pt"


# The final outputs of each stage (its claims and figures); `rule all` asks for those of
# the selected stages. Stage files add theirs with register_targets, never directly.
STAGE_TARGETS = {}


def register_targets(stage, targets):
    """Add final outputs of `stage` (eigenmaps, in two files, calls it from each)."""
    STAGE_TARGETS.setdefault(stage, []).extend(targets)


def seeds():
    return config["seeds"]


def stage_outputs():
    """Final outputs of the selected stages (and the datasets they read)."""
    targets = [dataset_file(d) for d in needed_datasets()]
    for stage in config["stages"]:
        targets += STAGE_TARGETS.get(stage, [])
    return targets


REPORT_TABLES = [
    "results/scorecard.csv",
    "results/scorecard.md",
    "results/stage_times.csv",
    "results/provenance.csv",
]


def all_targets():
    return [*stage_outputs(), *REPORT_TABLES]


def summarised_targets():
    """The files whose jobs the run summary times and traces: every job of this
    configuration's DAG (all of it, not only what must run now) but the summary itself,
    whose benchmark is written after it ends."""
    return [*stage_outputs(), "results/scorecard.csv"]


def stage_claims():
    """Claims file of each selected stage that has one, in stage order."""
    claims = {}
    for stage in config["stages"]:
        path = f"results/{stage}/claims.csv"
        if path in STAGE_TARGETS.get(stage, []):
            claims[stage] = path
    return claims


def stage_figures():
    """Every figure of the selected stages."""
    return [
        str(target)
        for stage in config["stages"]
        for target in STAGE_TARGETS.get(stage, [])
        if str(target).startswith("results/figures/")
    ]
