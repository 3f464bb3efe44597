# Helpers of the adversarial stage (included by adversarial.smk): its inputs and params
# derive from the isometry stage's runs and settings.
import numpy as np


include: "isometry_helpers.smk"


ADV = config["adversarial"]
ADV_OUT = "results/adversarial/{dataset}/beta{beta}/seed{seed}"


def adversarial_reference_beta(dataset):
    return float(isometry_settings(dataset)["reference_beta"])


def adversarial_eps():
    grid = ADV["eps_logspace"]
    return [float(e) for e in np.logspace(grid["start"], grid["stop"], grid["num"])]


def adversarial_strong(wildcards):
    """AutoAttack and Square run on every beta, or on beta 0 and the reference beta."""
    beta = float(wildcards.beta)
    ref = adversarial_reference_beta(wildcards.dataset)
    return (
        ADV["autoattack"]["all_betas"] or np.isclose(beta, 0) or np.isclose(beta, ref)
    )


def adversarial_aa(key):
    """An AutoAttack parameter, None for the models AutoAttack does not attack (so
    changing it reruns only the jobs that use it)."""

    def value(wildcards):
        on = ADV["autoattack"]["enabled"] and adversarial_strong(wildcards)
        return ADV["autoattack"][key] if on else None

    return value


def adversarial_square(wildcards):
    on = ADV["square"]["enabled"] and adversarial_strong(wildcards)
    return ADV["square"]["n_queries"] if on else None


def adversarial_datasets():
    return list(dict.fromkeys(dataset for dataset, _ in isometry_runs()))


def adversarial_eval_outputs():
    return [
        f"{ADV_OUT}/metrics.csv".format(dataset=dataset, beta=beta, seed=seed)
        for dataset, beta in isometry_runs()
        for seed in seeds()
    ]


def adversarial_scale(dataset):
    """The isometry models' scale plus the attacks' (recorded with the claims)."""
    aa = ADV["autoattack"]
    return {
        **isometry_scales()[dataset],
        "attacked_points": ADV["n_points"],
        "pgd_steps": ADV["pgd"]["steps"],
        "autoattack": (
            f"{'+'.join(aa['parts'])} steps={aa['steps']} on {aa['n_points']} points, "
            + ("all betas" if aa["all_betas"] else "beta 0 and reference")
            if aa["enabled"]
            else "off"
        ),
    }
