"""Shared fixtures: the repository, the offline data mirror, a Snakemake runner, and the
whole DAG on the smoke preset run once per test session (the stage tests read it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
SMOKE = str(REPO / "workflow" / "configs" / "smoke.yaml")


def find_mirror() -> Path | None:
    """REPGEOM_DATA_MIRROR, else the shared mirror beside the checkout."""
    env = os.environ.get("REPGEOM_DATA_MIRROR")
    candidates = [Path(env)] if env else [REPO.parent / "shared" / "data"]
    return next((p.resolve() for p in candidates if (p / "mnist").is_dir()), None)


@pytest.fixture(scope="session")
def mirror() -> Path:
    found = find_mirror()
    if found is None:
        pytest.skip("no data mirror: set REPGEOM_DATA_MIRROR to a folder with mnist/")
    return found


def run_snakemake(workdir: Path, *args: str, mirror: Path | None = None, check=True):
    """Run the repository's Snakefile in ``workdir``; returns the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k != "REPGEOM_DATA_MIRROR"}
    if mirror is not None:
        env["REPGEOM_DATA_MIRROR"] = str(mirror)
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=workdir)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def smoke_dag(tmp_path_factory, mirror) -> Path:
    """The whole DAG on the smoke preset, run once: its folder. Tests may add files and
    redraw figures in it, but must leave its results as they are."""
    workdir = tmp_path_factory.mktemp("smoke")
    run_snakemake(workdir, "--cores", "2", "--configfile", SMOKE, mirror=mirror)
    return workdir


# A small claims registry for library tests (the real one: src/repgeom/claims_registry.yaml).
TOY_REGISTRY = {
    "papers": {
        "p1": {"citation": "First, A. A paper. 2020", "short": "First 2020"},
        "p2": {"citation": "Second, B. Another. 2021", "short": "Second 2021"},
    },
    "claims": {
        "X1": {
            "paper": "p1",
            "stage": "alpha",
            "claim": "x rises",
            "direction": ">",
            "threshold": "alpha.x_min",
            "cases": {"dataset": [{"config": "alpha.datasets"}]},
            "gates": ["training"],
            "paper_value": "0.9",
            "paper_source": "Fig. 1",
        },
        "X2": {
            "paper": "p1",
            "stage": "alpha",
            "claim": "a correlation is negative",
            "direction": "<",
            "threshold": "alpha.x2_max",
            "bounds": [-1, 1],
            "cases": {
                "dataset": [{"config": "alpha.datasets"}],
                "sigma": [{"config": "alpha.sigmas", "positive": True}],
            },
        },
        "W1": {
            "paper": "p2",
            "stage": "beta",
            "claim": "w per variant (the row gives the direction)",
            "direction": None,
            "threshold": None,
        },
        "Y1": {
            "paper": "p2",
            "stage": "beta",
            "claim": "y holds",
            "direction": ">",
            "threshold": "beta.y_min",
        },
    },
}
TOY_CONFIG = {"alpha": {"datasets": ["mnist", "fashion"], "sigmas": [0, 0.5, 2]}, "beta": {}}


@pytest.fixture
def toy_registry():
    from repgeom.registry import parse_registry

    return parse_registry(TOY_REGISTRY)


def merged_config(*presets) -> dict:
    """config.yaml with the given preset files merged on top, schema defaults filled: the
    configuration a run with ``--configfile <presets>`` sees."""
    import yaml
    from snakemake.utils import update_config

    from repgeom.config import fill_defaults, load_schema

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for preset in presets:
        update_config(config, yaml.safe_load(Path(preset).read_text()))
    fill_defaults(config, load_schema(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config
