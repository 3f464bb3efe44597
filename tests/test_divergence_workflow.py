"""A training job whose loss or weights blow up while staying finite (an absurd learning
rate) stops with a DivergenceError naming the epoch, the step and the setting to lower,
and leaves no model, metric or provenance file. Two stages: the isometry MLP (its
cross-entropy blows up) and NeuralEF pretraining (its loss is bounded, the weights
explode)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import SMOKE, run_snakemake

STAGES = {
    "isometry": {
        "config": "isometry: {{lr: {lr}}}\n",
        "setting": "isometry.lr",
        "log": "logs/isometry/train/mnist_seed0.log",
        "outputs": [
            f"results/isometry/mnist/beta0/seed0/{name}"
            for name in ("model.pt", "metrics.csv", "pairs.csv", "provenance.json")
        ],
    },
    "eigenmaps": {
        "config": "eigenmaps: {{ssl: {{lr: {lr}}}}}\n",
        "setting": "eigenmaps.ssl.lr",
        "log": "logs/eigenmaps/pretrain_neuralef_seed0.log",
        "outputs": [
            "results/eigenmaps/ssl/models/neuralef/seed0.pt",
            "results/eigenmaps/ssl/pretrain/neuralef/seed0.csv",
            "results/eigenmaps/ssl/pretrain/neuralef/seed0.provenance.json",
        ],
    },
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, mirror) -> Path:
    """One folder for every case: MNIST is prepared by the first run only."""
    return tmp_path_factory.mktemp("diverge")


@pytest.mark.parametrize("lr", ["1.0e+6", "1.0e+30"])
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_absurd_learning_rate_stops_the_job_and_writes_nothing(workdir, mirror, stage, lr):
    case = STAGES[stage]
    config = workdir / f"{stage}_lr{lr}.yaml"
    config.write_text(case["config"].format(lr=lr))
    log = workdir / case["log"]
    log.unlink(missing_ok=True)  # log files are appended to
    proc = run_snakemake(
        workdir, "--cores", "1", "--configfile", SMOKE, str(config), "--", case["outputs"][0],
        mirror=mirror, check=False,
    )  # fmt: skip
    assert proc.returncode != 0, proc.stdout[-2000:]
    text = log.read_text()
    assert "DivergenceError" in text
    setting = re.escape(case["setting"])
    expected = rf"at epoch \d+ step \d+; lower the learning rate \({setting} = 1e\+"
    assert re.search(expected, text), text[-3000:]
    left = [p for p in case["outputs"] if (workdir / p).exists()]
    assert not left, f"written from a diverged run: {left}"
