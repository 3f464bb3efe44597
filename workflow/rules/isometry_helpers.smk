# Helpers of the isometry stage, included at the top of isometry.smk (kept apart from
# the rules, as snakemake --lint asks). The adversarial stage includes them too, for
# isometry_runs(), isometry_models(), isometry_seeds(), isometry_model() and
# isometry_settings().

from repgeom.isometry import budget

ISO = config["isometry"]


def isometry_settings(dataset):
    """Per-dataset settings (K, epochs, steps, betas, reference_beta, max_train, seeds)."""
    try:
        return ISO["per_dataset"][dataset]
    except KeyError:
        raise ValueError(
            f"isometry.datasets has {dataset!r} but isometry.per_dataset has no settings "
            f"for it (known: {', '.join(ISO['per_dataset'])})"
        ) from None


def beta_str(beta):
    """The beta wildcard: 0, 0.01, 0.1, 1, 10 (stable formatting of the config values)."""
    return f"{float(beta):g}"


def isometry_betas(dataset=None):
    """Beta wildcard strings of one dataset's sweep, or of all datasets (sorted union)."""
    datasets = [dataset] if dataset else ISO["datasets"]
    values = {float(b) for d in datasets for b in isometry_settings(d)["betas"]}
    return [beta_str(b) for b in sorted(values)]


def isometry_runs():
    """(dataset, beta wildcard) pairs of every trained sweep point."""
    return [(d, b) for d in ISO["datasets"] for b in isometry_betas(d)]


def isometry_seeds(dataset):
    """The seeds of one dataset's models: isometry.per_dataset.<dataset>.seeds, or the
    top-level seeds when that is null."""
    return budget.isometry_seeds(ISO, dataset, seeds())


def isometry_models():
    """(dataset, beta wildcard, seed) of every trained model: the adversarial stage
    attacks each of them."""
    return [(d, b, s) for d, b in isometry_runs() for s in isometry_seeds(d)]


def isometry_model(dataset, beta, seed):
    return f"results/isometry/{dataset}/beta{beta}/seed{seed}/model.pt"


def isometry_run_files(name, dataset=None):
    """A per-model file of every model (of one dataset)."""
    return [
        f"results/isometry/{d}/beta{b}/seed{s}/{name}"
        for d, b, s in isometry_models()
        if dataset in (None, d)
    ]


def isometry_seed_files(dataset, name):
    """One seed's per-model files of ``dataset``, the seed left as a wildcard: what one
    isometry_train job (all betas of a dataset and seed) writes."""
    return [
        f"results/isometry/{dataset}/beta{b}/seed{{seed}}/{name}"
        for b in isometry_betas(dataset)
    ]


def isometry_steps(dataset):
    """Optimiser steps of a dataset's models, by the budget rule of
    repgeom.isometry.budget (steps: authors = the authors' step count)."""
    return budget.isometry_steps(ISO, dataset)


def _check_isometry_config():
    for d in ISO["datasets"]:
        s = isometry_settings(d)
        betas = [float(b) for b in s["betas"]]
        for needed, key in (
            (0.0, "betas"),
            (float(s["reference_beta"]), "reference_beta"),
        ):
            if needed not in betas:
                raise ValueError(
                    f"isometry.per_dataset.{d}.{key}: beta {needed:g} must be in the sweep "
                    f"isometry.per_dataset.{d}.betas = {s['betas']}"
                )


_check_isometry_config()


def isometry_param(key):
    """A per-dataset setting as a rule param."""
    return lambda wc: isometry_settings(wc.dataset)[key]


def isometry_scales():
    """What each dataset's claims ran at, recorded with the claims. ``train_images`` is
    the configured cap (``all``: the whole split); the claims rules replace it with the
    count the models trained on (repgeom.isometry.summary.measured_scale)."""
    return {
        d: {
            "train_images": isometry_settings(d)["max_train"] or "all",
            "steps": isometry_steps(d),
            "K": isometry_settings(d)["K"],
            "betas": "/".join(isometry_betas(d)),
            "seeds": len(isometry_seeds(d)),
            "eval_points": ISO["eval_points"],
        }
        for d in ISO["datasets"]
    }
