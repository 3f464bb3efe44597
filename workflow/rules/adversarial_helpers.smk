# Helpers of the adversarial stage (included by adversarial.smk): its inputs and params
# derive from the isometry stage's runs and settings.
import numpy as np

from repgeom.adversarial.grid import crossing_grid


include: "isometry_helpers.smk"


ADV = config["adversarial"]
# One job per dataset and seed attacks all betas of that seed (start-up paid once).
ADV_OUT = "results/adversarial/{dataset}/seed{seed}"


def adversarial_reference_beta(dataset):
    return float(isometry_settings(dataset)["reference_beta"])


def adversarial_eps():
    """The paper's FGSM grid (I3)."""
    grid = ADV["eps_logspace"]
    return [float(e) for e in np.logspace(grid["start"], grid["stop"], grid["num"])]


def adversarial_crossing_eps():
    """The PGD/AutoAttack grid (I4), by the config's rule (crossing_eps)."""
    grid = ADV["crossing_eps"]
    return crossing_grid(grid["crossings"], grid["span"], grid["num"])


def adversarial_seeds(dataset):
    """The seeds of a dataset's isometry models (the isometry stage's per-dataset seeds
    where its helpers define them, else the run's seeds)."""
    per_dataset = globals().get("isometry_seeds")
    return list(per_dataset(dataset)) if per_dataset else list(seeds())


def adversarial_strong_betas(dataset):
    """The betas AutoAttack and Square attack: every beta, or beta 0 and the reference."""
    betas = [float(b) for b in isometry_betas(dataset)]
    if ADV["autoattack"]["all_betas"]:
        return betas
    ref = adversarial_reference_beta(dataset)
    return [b for b in betas if np.isclose(b, 0) or np.isclose(b, ref)]


def adversarial_models(wildcards):
    """The models one job attacks: every beta of a dataset and seed."""
    return [
        isometry_model(wildcards.dataset, beta, wildcards.seed)
        for beta in isometry_betas(wildcards.dataset)
    ]


def adversarial_datasets():
    return list(dict.fromkeys(dataset for dataset, _ in isometry_runs()))


def adversarial_eval_outputs():
    return [
        f"{ADV_OUT}/metrics.csv".format(dataset=dataset, seed=seed)
        for dataset in adversarial_datasets()
        for seed in adversarial_seeds(dataset)
    ]


def adversarial_scale(dataset):
    """The isometry models' scale plus the attacks' (recorded with the claims)."""
    aa = ADV["autoattack"]
    return {
        **isometry_scales()[dataset],
        "seeds": len(adversarial_seeds(dataset)),
        "attacked_points": ADV["n_points"],
        "pgd_steps": ADV["pgd"]["steps"],
        "autoattack": (
            f"{'+'.join(aa['parts'])} steps={aa['steps']} on {aa['n_points']} points, "
            + ("all betas" if aa["all_betas"] else "beta 0 and reference")
            + (", at the eps bracketing its crossing" if aa["bracket"] else "")
            if aa["enabled"]
            else "off"
        ),
    }
