"""Rule adversarial_eval: one isometry model under every attack -> tidy accuracy rows."""

from repgeom.adversarial.evaluate import AttackSettings, evaluate_model
from repgeom.data import load_dataset
from repgeom.isometry.models import load_model
from repgeom.metrics import write_metrics
from repgeom.smk import rule_run

with rule_run(snakemake) as run:
    inp, out = snakemake.input, snakemake.output
    model, meta = load_model(inp.model, run.device)
    data = load_dataset(inp.data, run.device)
    run.extra["model_meta"] = meta
    rows = evaluate_model(
        model,
        meta,
        data["test_images"],
        data["test_labels"],
        AttackSettings.from_params(run.params),
        seed=run.seed,
        logger=run.log,
    )
    write_metrics(rows, out.metrics)
