# repgeom: one DAG from data to paper figures and a scorecard of claims.
# Layout: README.md. Stage rules live in workflow/rules/<stage>.smk, one include each,
# in any order after common.smk (docs/design.md: Rule files).
import sys

from snakemake.utils import min_version

min_version("9.0")


report: "workflow/report/workflow.rst"


# Snakemake reports a YAML syntax error in a config file without file or line: the
# library checks config.yaml first and names both. (A --configfile is read by
# Snakemake's command line before this file runs, out of the workflow's reach.)
sys.path.insert(0, f"{workflow.basedir}/src")
from repgeom.config import check_yaml_syntax

check_yaml_syntax(f"{workflow.basedir}/config.yaml")


# Anchored to this folder so runs with --directory find it too.
configfile: f"{workflow.basedir}/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/registration.smk"
include: "workflow/rules/similarity.smk"
include: "workflow/rules/eigenmaps.smk"
include: "workflow/rules/isometry.smk"
include: "workflow/rules/adversarial.smk"
include: "workflow/rules/lsh.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        all_targets(),


# Redraw every figure from the tables, no training:
#     snakemake --cores 2 figures --forcerun $(snakemake --list-rules | grep _figures)
# (`make figures` does that).
rule figures:
    input:
        stage_figures(),
