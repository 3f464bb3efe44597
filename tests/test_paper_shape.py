"""The paper preset, executed: the whole paper-preset DAG with the paper-shaped counts of
workflow/configs/paper_shape.yaml (ResNet-18 and the 2048-2048 projector on CIFAR-10 read
from a generated archive in the official layout, all four SSL methods, AutoAttack on
every beta, the 1000-class LSH point, ...) under the GPU profile, on the CPU, once per
module; and the checks on the paper preset's settings that need no run."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from cifar_fixture import CLASSES, write_mirror
from conftest import REPO, merged_config, run_snakemake
from test_workflow import STAGE_CLAIMS, VERDICTS

from repgeom.data import load_dataset
from repgeom.eigenmaps.models import load_model
from repgeom.registry import expected_rows
from repgeom.scorecard import missing_cases

PAPER = str(REPO / "workflow" / "configs" / "paper.yaml")
SHAPE = str(REPO / "workflow" / "configs" / "paper_shape.yaml")
GPU_PROFILE = str(REPO / "profiles" / "gpu")
PER_CLASS = 10  # fixture images per class in each CIFAR batch file


def leaves(tree: dict, path: tuple[str, ...] = ()):
    """(dotted key, value) of every non-mapping value of a nested config."""
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from leaves(value, (*path, key))
        else:
            yield ".".join((*path, key)), value


# Where paper_shape departs from the paper preset other than by a smaller count, and why.
NOT_A_COUNT = {
    "device": "cuda -> cpu: CI has no GPU (the CUDA path runs in the GPU device check)",
    "data.download": "true -> false: CI is offline; CIFAR-10 comes from the fixture mirror",
    "eigenmaps.ssl.max_train": "0 (all) -> 32 images; the all-images path runs on MNIST",
    "isometry.per_dataset.fashion-mnist.max_train": "0 (all) -> 500, as above",
    "isometry.per_dataset.mnist.steps": "authors (3,000 steps by the rule) -> 80 (a count)",
    "isometry.per_dataset.fashion-mnist.steps": "authors (6,000 steps) -> 5 (a count)",
}


def is_smaller_count(shape, paper) -> bool:
    """A count shrunk: an integer not above the paper's (a rate or weight, a float, may
    not change), a list that is a subset of the paper's, or a list of as many counts
    none above the paper's."""
    if isinstance(paper, bool) or isinstance(shape, bool):
        return False
    if isinstance(paper, int) and isinstance(shape, int):
        return shape <= paper
    if isinstance(paper, list) and isinstance(shape, list):
        if set(shape) <= set(paper):
            return True
        return len(shape) == len(paper) and all(map(is_smaller_count, shape, paper))
    return False


def test_paper_shape_changes_only_counts():
    # Every other setting of the paper preset (architecture, widths, datasets, methods,
    # attacks, samplers, learning rates, alpha) reaches the paper-shaped run unchanged.
    paper, shape = merged_config(PAPER), merged_config(PAPER, SHAPE)
    paper_leaves = dict(leaves(paper))
    changed = {k: v for k, v in leaves(shape) if paper_leaves.get(k) != v}
    assert set(changed) <= set(paper_leaves), "paper_shape adds a key the paper preset lacks"
    odd = {
        k: (paper_leaves[k], v)
        for k, v in changed.items()
        if k not in NOT_A_COUNT and not is_smaller_count(v, paper_leaves[k])
    }
    assert odd == {}, "paper_shape changes more than counts"
    assert set(NOT_A_COUNT) <= set(changed)  # no stale exception


def test_paper_alpha_keeps_the_authors_penalty_noise():
    # NeuralEF's penalty noise ~ alpha * k * t^2 / B; the authors' pairs (alpha 0.01 at
    # k = 2048, 0.0025 at 8192; t = 10, B = 2048) give 1.0. At alpha 0.01 and B = 512: 4.
    ssl = merged_config(PAPER)["eigenmaps"]["ssl"]
    noise = ssl["alpha"] * ssl["proj_dim"] * ssl["t"] ** 2 / ssl["batch_size"]
    assert noise == pytest.approx(1.0, rel=0.05)


def job_resources(dry_run_stdout: str, rule: str) -> dict[str, str]:
    """The resources line of the first planned job of ``rule`` in a dry run."""
    block = dry_run_stdout[dry_run_stdout.index(f"rule {rule}:") :]
    line = re.search(r"^\s*resources: (.*)$", block, flags=re.M).group(1)
    return dict(item.split("=", 1) for item in line.split(", "))


def test_paper_preset_sizes_its_jobs_from_its_config(tmp_path):
    # The rules' mem_mb and runtime come from config key `resources`: the paper preset's
    # estimate reaches a cluster executor, the default config keeps its own.
    target = "results/eigenmaps/ssl/models/neuralef/seed0.pt"
    paper = run_snakemake(tmp_path, "-n", "--cores", "2", target, "--configfile", PAPER).stdout
    expected = merged_config(PAPER)["resources"]["eigenmaps_pretrain"]
    got = job_resources(paper, "eigenmaps_pretrain")
    assert (int(got["mem_mb"]), int(got["runtime"])) == (
        expected["mem_mb"],
        expected["runtime"],
    )
    assert got["gpu"] == "1"  # device cuda
    default = run_snakemake(tmp_path, "-n", "--cores", "2", target).stdout
    got = job_resources(default, "eigenmaps_pretrain")
    assert (got["mem_mb"], got["runtime"]) == ("3000", "30")
    assert expected["runtime"] > 30


@pytest.fixture(scope="module")
def paper_shape(tmp_path_factory, mirror):
    """(run folder, Snakemake's output) of the paper-preset DAG at paper-shaped counts,
    under the GPU profile, with CIFAR-10 from a generated official-layout archive."""
    fixture_mirror = write_mirror(tmp_path_factory.mktemp("mirror"), mirror, PER_CLASS)
    workdir = tmp_path_factory.mktemp("paper_shape")
    proc = run_snakemake(
        workdir, "--profile", GPU_PROFILE, "--cores", "2",
        "--configfile", PAPER, SHAPE, mirror=fixture_mirror,
    )  # fmt: skip
    return workdir, proc.stdout + proc.stderr, fixture_mirror


@pytest.mark.slow
def test_cifar10_read_from_the_official_layout(paper_shape):
    workdir, _, fixture_mirror = paper_shape
    data = load_dataset(workdir / "results" / "data" / "cifar10.pt")
    assert tuple(data["train_images"].shape) == (5 * 10 * PER_CLASS, 3, 32, 32)
    assert tuple(data["test_images"].shape) == (10 * PER_CLASS, 3, 32, 32)
    assert data["classes"] == list(CLASSES)
    assert data["train_labels"].bincount().tolist() == [5 * PER_CLASS] * 10
    prov = json.loads((workdir / "results/data/cifar10.provenance.json").read_text())
    assert prov["data"]["source"] == "mirror" and prov["fetch"]["mirror"] == str(fixture_mirror)
    (archive,) = prov["data"]["files"]
    assert archive["name"] == "cifar-10-python.tar.gz" and archive["official"] is False


@pytest.mark.slow
def test_every_expected_claim_case_and_verdict(paper_shape):
    workdir, _, _ = paper_shape
    config = merged_config(PAPER, SHAPE)
    card = pd.read_csv(workdir / "results" / "scorecard.csv", keep_default_na=False)
    rows = list(zip(card["stage"], card["claim_id"], card["case"], strict=True))
    assert rows == expected_rows(config, config["stages"])
    assert missing_cases(card) == []
    assert set(card["verdict"]) <= VERDICTS
    decided = card[card["verdict"] != "invalid"]
    assert (decided["gate_status"] == "pass").all()
    # Two seeds: an interval wherever the statistic is defined.
    finite = card[pd.to_numeric(card["mean"], errors="coerce").notna()]
    assert (finite["n_seeds"].astype(int) >= 2).any()


@pytest.mark.slow
def test_figures_of_every_stage(paper_shape):
    workdir, _, _ = paper_shape
    figures = workdir / "results" / "figures"
    for stage in STAGE_CLAIMS:
        drawn = sorted(figures.glob(f"{stage}_*.png"))
        assert drawn, f"no figure of stage {stage}"
        for png in drawn:
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    for dataset in ("mnist", "fashion-mnist"):
        assert (figures / f"adversarial_robustness_{dataset}.png").exists()


@pytest.mark.slow
def test_paper_scale_code_paths_ran(paper_shape):
    workdir, _, _ = paper_shape
    res = workdir / "results"
    config = merged_config(PAPER, SHAPE)
    # ResNet-18 with the 2048-2048 projector, every method and seed, on CIFAR-10.
    ssl = config["eigenmaps"]["ssl"]
    for method in ("neuralef", "barlow", "simclr", "spectral"):
        for seed in config["seeds"]:
            model, meta = load_model(res / f"eigenmaps/ssl/models/{method}/seed{seed}.pt")
            assert meta["arch"] == "resnet18" and meta["in_channels"] == 3
            assert model.projector[-1].out_features == ssl["proj_dim"] == 2048
            metrics = pd.read_csv(res / f"eigenmaps/ssl/pretrain/{method}/seed{seed}.csv")
            assert metrics["epoch"].dropna().nunique() == ssl["epochs"]
    # The spectral baseline's codes at norm sqrt(t): its loss lies in [-2t, t^2].
    spectral = pd.read_csv(res / "eigenmaps/ssl/pretrain/spectral/seed0.csv")
    losses = spectral.loc[spectral["metric"] == "pretrain_loss", "value"]
    assert losses.between(-2 * ssl["t"], ssl["t"] ** 2).all()
    # AutoAttack's whole ensemble on every beta; the isometry-term FGSM and PGD.
    adv = pd.read_csv(res / "adversarial/metrics.csv")
    acc = adv[adv["metric"] == "accuracy"]
    assert {"fgsm", "pgd", "fgsm_isometry", "pgd_isometry", "autoattack", "square"} <= set(
        acc["method"]
    )
    for dataset, settings in config["isometry"]["per_dataset"].items():
        attacked = acc[(acc["method"] == "autoattack") & (acc["dataset"] == dataset)]
        assert sorted(attacked["beta"].unique()) == sorted(settings["betas"])
    # The 1000-class LSH point, both generators.
    lsh = pd.read_csv(res / "lsh/metrics.csv")
    assert {5, 1000} <= set(lsh["C"].dropna().astype(int))
    # Similarity on both label-noise modes and both sigmas, every training sample.
    sim = pd.read_csv(res / "similarity/claims.csv")
    s2 = sim[sim["claim_id"] == "S2"]
    assert {(n, float(s)) for n, s in zip(s2["noise"], s2["sigma"], strict=True)} == {
        (n, s) for n in ("iid", "building") for s in (1.0, 2.0)
    }
    provenance = pd.read_csv(res / "provenance.csv")
    assert len(provenance) > 0 and provenance["device"].eq("cpu").all()


@pytest.mark.slow
def test_gpu_profile_limits_the_gpu_and_the_run_is_complete(paper_shape):
    workdir, output, fixture_mirror = paper_shape
    # Snakemake 9 prints the limit as gpu=Resource("gpu", 1)
    assert re.search(r"Provided resources: .*\bgpu=(1\b|Resource\(\"gpu\", 1\))", output)
    again = run_snakemake(
        workdir, "-n", "--profile", GPU_PROFILE, "--cores", "2",
        "--configfile", PAPER, SHAPE, mirror=fixture_mirror,
    )  # fmt: skip
    assert "Nothing to be done" in again.stdout + again.stderr
