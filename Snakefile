# repgeom: one DAG from data to paper figures and a scorecard of claims.
# Layout and conventions: README.md; stage rules live in workflow/rules/<stage>.smk.
from snakemake.utils import min_version

min_version("9.0")


# Anchored to this folder so runs with --directory find it too.
configfile: f"{workflow.basedir}/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/registration.smk"
include: "workflow/rules/similarity.smk"
include: "workflow/rules/eigenmaps.smk"
include: "workflow/rules/eigenmaps_spectral.smk"
include: "workflow/rules/isometry.smk"
include: "workflow/rules/adversarial.smk"
include: "workflow/rules/lsh.smk"


rule all:
    default_target: True
    input:
        all_targets(),
