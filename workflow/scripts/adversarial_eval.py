"""Rule adversarial_eval: the isometry models of one dataset and seed (every beta) under
every attack -> one tidy accuracy table."""

import numpy as np

from repgeom.adversarial.evaluate import AttackSettings, evaluate_model
from repgeom.data import load_dataset
from repgeom.isometry.models import load_model
from repgeom.metrics import write_metrics
from repgeom.runtime import seed_everything
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out = snakemake.input, snakemake.output
    data = load_dataset(inp.data, run.device)
    rows, metas = [], []
    for path in inp.models:
        model, meta = load_model(path, run.device)
        metas.append(meta)
        # AutoAttack and Square attack only the strong betas (beta 0 and the reference).
        strong = any(np.isclose(float(meta["beta"]), b) for b in run.params["strong_betas"])
        params = {**run.params}
        params["run_autoattack"] = params["run_autoattack"] and strong
        params["run_square"] = params["run_square"] and strong
        run.log.info("model %s (beta %g)", path, float(meta["beta"]))
        # Each model's attacks draw from the run seed afresh, as in a job of its own.
        seed_everything(run.seed, run.params["deterministic"])
        rows += evaluate_model(
            model,
            meta,
            data["test_images"],
            data["test_labels"],
            AttackSettings.from_params(params),
            seed=run.seed,
            logger=run.log,
        )
    run.extra["model_meta"] = metas
    write_metrics(rows, out.metrics)
