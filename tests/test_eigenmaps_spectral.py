"""Stage eigenmaps, spectral part: the circle toy (exact eigenvalues exp(-m^2 s^2) for two
jittered views, mode alignment, recovery of the ordered modes on a tiny budget), the
graphs (exact spectrum of the normalised adjacency, edge sampling, scores), the claims,
and the smoke run of the rules."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import SMOKE, run_snakemake

from repgeom.eigenmaps.gates import models_training_gate, step_loss_rows
from repgeom.eigenmaps.graph import (
    build_graph,
    cluster_scores,
    edge_sampler,
    exact_spectrum,
    graph_claims,
    graph_metric_rows,
    rayleigh_quotients,
    run_graph,
    subspace_scores,
)
from repgeom.eigenmaps.toy import (
    bucket_ends,
    circle_net,
    evaluate_circle,
    exact_eigenvalues,
    fourier_basis,
    group_alignment,
    mode_of_output,
    run_circle,
    sample_views,
    toy_claims,
    train_views,
)
from repgeom.gate_inputs import first_last_tenth

CPU = torch.device("cpu")


@pytest.fixture
def one_thread():
    """Small training loops: one intra-op thread, as the rules run them (threads: 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_modes_and_exact_eigenvalues_of_the_output_slots():
    assert mode_of_output(6).tolist() == [0, 1, 1, 2, 2, 3]
    np.testing.assert_allclose(exact_eigenvalues(5, 0.5), np.exp(-np.array([0, 1, 1, 4, 4]) * 0.25))


def test_two_jittered_views_have_eigenvalues_exp_minus_m2_s2():
    """Monte Carlo check of the derivation: E[cos(m (a - b))] over view pairs is the
    eigenvalue of Fourier mode m; with both views jittered by s it is exp(-m^2 s^2), not
    exp(-m^2 s^2 / 2) (one jittered view)."""
    s = 0.5
    x1, x2 = sample_views(200_000, s, torch.Generator().manual_seed(0), CPU)
    delta = torch.atan2(x1[:, 1], x1[:, 0]) - torch.atan2(x2[:, 1], x2[:, 0])
    for m in (1, 2, 3):
        measured = torch.cos(m * delta.double()).mean().item()
        assert measured == pytest.approx(math.exp(-(m**2) * s**2), abs=0.01)
        assert abs(measured - math.exp(-(m**2) * s**2 / 2)) > 0.05


def test_group_alignment_scores_spans_not_individual_functions():
    theta = np.linspace(0, 2 * np.pi, 256, endpoint=False)
    exact = np.concatenate([fourier_basis(theta, m) for m in (0, 1, 2)], axis=1)
    assert [g["alignment"] for g in group_alignment(exact, theta)] == pytest.approx([1, 1, 1])
    # any rotation (and scaling) inside a degenerate pair is still a perfect match
    rot = np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    rotated = exact.copy()
    rotated[:, 1:3] = 3.0 * exact[:, 1:3] @ rot
    assert [g["alignment"] for g in group_alignment(rotated, theta)] == pytest.approx([1, 1, 1])
    # the right functions in the wrong order are not: [cos1, 1, cos2, sin1, sin2]
    swapped = exact[:, [1, 0, 3, 2, 4]]
    scores = [g["alignment"] for g in group_alignment(swapped, theta)]
    assert scores == pytest.approx([0, 0, 0.5], abs=1e-12)


def test_toy_recovers_ordered_fourier_modes_on_a_tiny_budget(one_thread):
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = circle_net(32, 3)
    losses = train_views(
        model,
        lambda _s: sample_views(128, 0.5, gen, CPU),
        steps=200,
        lr=3e-3,
        alpha=1.0,
        t=10.0,
        stop_grad=True,
    )
    res = evaluate_circle(model, jitter=0.5, grid=256, n_pairs=8192, generator=gen, device=CPU)
    assert [g["alignment"] for g in res["groups"]] == pytest.approx([1, 1], abs=0.05)
    # every step's loss comes back; the (negative) NeuralEF loss fell: the training gate
    first, last = first_last_tenth(losses).values()
    assert len(losses) == 200 and last < first < 0
    np.testing.assert_allclose(res["eigenvalues"], res["exact_eigenvalues"], atol=0.05)


TINY_CIRCLE = dict(
    seed=1,
    n_outputs=3,
    jitter=0.5,
    hidden=16,
    steps=5,
    batch_size=32,
    lr=1e-3,
    alpha=1.0,
    t=10.0,
    grid=64,
    eval_pairs=256,
    figure_points=16,
    device=CPU,
)


def test_run_circle_tables_and_bad_input(one_thread):
    metrics, functions, curves = run_circle(**TINY_CIRCLE)
    df = pd.DataFrame(metrics)
    assert set(df.method) == {"neuralef", "neuralef_no_stop_grad"}
    assert (df.metric == "eigenvalue").sum() == 2 * 3
    assert len(functions) == 2 * 3 * 16
    steps = df[df.metric == "step_loss"]  # the training gate's curves: every step, per method
    assert steps.groupby("method")["step"].apply(list).to_dict() == {
        m: [1, 2, 3, 4, 5] for m in ("neuralef", "neuralef_no_stop_grad")
    }
    final = df[df.metric == "final_loss"].set_index("method")["value"]
    assert steps[steps.step == 5].set_index("method")["value"].to_dict() == final.to_dict()
    # the curve: 5 steps in 5 buckets, the loss of each and the span alignment after it
    c = pd.DataFrame(curves)
    loss = c[(c.metric == "neuralef_loss") & (c.split == "train")]
    assert loss.groupby("method")["epoch"].apply(list).to_dict() == {
        m: [1, 2, 3, 4, 5] for m in ("neuralef", "neuralef_no_stop_grad")
    }
    step_values = steps.set_index(["method", "step"])["value"]
    assert loss.set_index(["method", "epoch"])["value"].to_dict() == step_values.to_dict()
    aligned = c[(c.metric == "span_alignment") & (c.split == "heldout")]
    assert len(aligned) == 10 and aligned["value"].between(0, 1).all()
    assert set(c["unit"]) == {"step"}
    with pytest.raises(ValueError, match="jitter"):
        run_circle(**{**TINY_CIRCLE, "jitter": 0.0})


def test_graphs_are_seeded_and_labelled():
    sbm = {"block_sizes": [20, 20, 20], "p_in": 0.4, "p_out": 0.02}
    a, la = build_graph("sbm", 3, sbm)
    b, _ = build_graph("sbm", 3, sbm)
    c, _ = build_graph("sbm", 4, sbm)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.bincount(la).tolist() == [20, 20, 20] and np.array_equal(a, a.T)
    k, lk = build_graph("karate", 0)
    assert k.shape == (34, 34) and k.sum() == 2 * 78 and np.bincount(lk).tolist() == [17, 17]
    with pytest.raises(ValueError, match="unknown graph"):
        build_graph("cora", 0)


def test_exact_spectrum_and_rayleigh_quotients():
    adj, _ = build_graph("karate", 0)
    vals, vecs = exact_spectrum(adj, 4)
    assert vals[0] == pytest.approx(1.0) and np.all(np.diff(vals) <= 0)
    f = vecs / np.sqrt(adj.sum(1))[:, None]  # eigenfunctions of D^-1 A
    np.testing.assert_allclose(rayleigh_quotients(adj, f), vals, atol=1e-10)
    np.testing.assert_allclose(adj @ f / adj.sum(1)[:, None], f * vals, atol=1e-10)
    scores = subspace_scores(adj, f @ np.triu(np.ones((4, 4))), vecs)  # any basis of the span
    assert scores["subspace_alignment"] == pytest.approx(1.0)
    assert scores["max_angle_deg"] == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(ValueError, match="exceeds"):
        exact_spectrum(adj, 35)


def test_edge_sampler_draws_edges_in_proportion_to_weight():
    adj = np.array([[0, 3, 1], [3, 0, 0], [1, 0, 0]], dtype=float)
    sample = edge_sampler(adj, 40_000, torch.Generator().manual_seed(0), CPU)
    u, v = sample(0)
    assert bool((torch.as_tensor(adj)[u, v] > 0).all())
    freq = np.zeros((3, 3))
    np.add.at(freq, (u.numpy(), v.numpy()), 1)
    np.testing.assert_allclose(freq / freq.sum(), adj / adj.sum(), atol=0.01)


def test_exact_eigenfunctions_reproduce_spectral_clustering():
    sbm = {"block_sizes": [25, 25, 25], "p_in": 0.4, "p_out": 0.02}
    adj, labels = build_graph("sbm", 0, sbm)
    _, vecs = exact_spectrum(adj, 3)
    s = cluster_scores(adj, vecs / np.sqrt(adj.sum(1))[:, None], vecs, labels, seed=0)
    assert s["ari_learned_spectral"] == pytest.approx(1.0)
    assert s["ari_learned_truth"] == pytest.approx(1.0)


KARATE = dict(
    seed=0,
    sbm=None,
    n_outputs=3,
    hidden=32,
    steps=300,
    batch_size=256,
    lr=3e-3,
    alpha=1.0,
    t=10.0,
    device=CPU,
)


def test_run_graph_recovers_karate_eigenvectors(one_thread):
    res = run_graph("karate", **KARATE, generator=torch.Generator().manual_seed(0))
    assert res["subspace_alignment"] > 0.95
    assert res["ari_learned_spectral"] == pytest.approx(1.0)
    np.testing.assert_allclose(res["eigenvalues"], res["exact_eigenvalues"], atol=0.03)
    rows = pd.DataFrame(graph_metric_rows("karate", res, 0))
    assert (rows.metric == "step_loss").sum() == KARATE["steps"]
    assert models_training_gate(rows, ["neuralef"], 0.0).passed
    with pytest.raises(ValueError, match="number of clusters"):
        tiny = {**KARATE, "n_outputs": 1, "hidden": 8, "steps": 1, "batch_size": 8, "lr": 1e-3}
        run_graph("karate", **tiny, generator=torch.Generator().manual_seed(0))


FALLING, FLAT = [-1.0] * 5 + [-3.0] * 5, [-1.0] * 10  # NeuralEF losses are negative


def _curves(curve, **base):
    """step_loss rows of one model (10 steps)."""
    return step_loss_rows(curve, stage="eigenmaps", **base)


def _toy_table(ordered, unordered, errors, no_stop_grad_curve=FALLING):
    rows = []
    for seed, (a, b, e) in enumerate(zip(ordered, unordered, errors, strict=True)):
        rows += [
            {"method": "neuralef", "seed": seed, "metric": "ordered_alignment", "value": a},
            {
                "method": "neuralef_no_stop_grad",
                "seed": seed,
                "metric": "ordered_alignment",
                "value": b,
            },
            {"method": "neuralef", "seed": seed, "metric": "eigenvalue_max_error", "value": e},
        ]
        rows += _curves(FALLING, method="neuralef", seed=seed)
        rows += _curves(no_stop_grad_curve, method="neuralef_no_stop_grad", seed=seed)
    return pd.DataFrame(rows)


def _toy_claims(table):
    rows = toy_claims(
        table, min_alignment=0.9, max_eigenvalue_error=0.05, min_loss_drop=0.0, scale="test"
    )
    return {r["variant"]: r for r in rows}


def test_toy_claims_verdicts():
    rows = _toy_claims(_toy_table([0.99, 0.98, 0.995], [0.3, 0.5, 0.4], [0.01, 0.02, 0.015]))
    assert {v: r["verdict"] for v, r in rows.items()} == {
        "ordered_modes": "reproduced",
        "eigenvalues": "reproduced",
        "no_stop_grad": "reproduced",
    }
    assert all(r["claim_id"] == "E1" and r["n_seeds"] == 3 for r in rows.values())
    # (-1 - -3) / |-1| = 2 for every model; the gate is reported with the verdict
    assert all(r["gate_status"] == "pass" for r in rows.values())
    assert "training (relative loss drop" in rows["eigenvalues"]["gates"]
    assert "= 2, needs > 0: pass" in rows["eigenvalues"]["gates"]
    rows = _toy_claims(_toy_table([0.5, 0.45, 0.52], [0.95, 0.97, 0.96], [0.2, 0.25, 0.3]))
    assert {r["verdict"] for r in rows.values()} == {"not reproduced"}


def test_toy_claims_of_an_untrained_network_are_invalid():
    # The no-stop-gradient networks' loss did not fall: the ablation's "order lost" would
    # measure an untrained network, so that row is invalid; the others keep their verdicts.
    table = _toy_table([0.99, 0.98, 0.995], [0.3, 0.5, 0.4], [0.01, 0.02, 0.015], FLAT)
    rows = _toy_claims(table)
    assert rows["no_stop_grad"]["verdict"] == "invalid"
    assert rows["no_stop_grad"]["reason"].startswith("training (")
    assert "= 0, needs > 0: FAIL" in rows["no_stop_grad"]["reason"]
    assert rows["ordered_modes"]["verdict"] == rows["eigenvalues"]["verdict"] == "reproduced"
    # No loss rows at all: the gate is not measured, never passed
    rows = _toy_claims(table[table.metric != "step_loss"])
    assert {r["verdict"] for r in rows.values()} == {"invalid"}
    assert all("= nan" in r["reason"] for r in rows.values())


def _graph_table(karate_curve=FALLING):
    rows = []
    for g, (sub, ari) in {"sbm": (0.99, 1.0), "karate": (0.5, 0.2)}.items():
        for seed, noise in enumerate([0.0, 0.01, -0.01]):
            base = {"graph": g, "method": "neuralef", "seed": seed}
            rows += [
                {**base, "metric": "subspace_alignment", "value": sub + noise},
                {**base, "metric": "ari_learned_spectral", "value": ari - abs(noise)},
            ]
            rows += _curves(karate_curve if g == "karate" else FALLING, **base)
    return pd.DataFrame(rows)


def _graph_verdicts(table):
    claims = graph_claims(table, min_alignment=0.9, min_ari=0.9, min_loss_drop=0.0, scale="t")
    return {(r["dataset"], r["variant"]): r for r in claims}


def test_graph_claims_per_graph():
    verdicts = {k: r["verdict"] for k, r in _graph_verdicts(_graph_table()).items()}
    assert verdicts == {
        ("sbm", "subspace"): "reproduced",
        ("sbm", "clusters"): "reproduced",
        ("karate", "subspace"): "not reproduced",
        ("karate", "clusters"): "not reproduced",
    }


def test_graph_claims_of_an_untrained_network_are_invalid():
    # karate's networks got worse (loss rose): its rows are invalid, sbm's keep verdicts
    rows = _graph_verdicts(_graph_table(karate_curve=[-3.0] * 5 + [-1.0] * 5))
    assert {k: r["verdict"] for k, r in rows.items()} == {
        ("sbm", "subspace"): "reproduced",
        ("sbm", "clusters"): "reproduced",
        ("karate", "subspace"): "invalid",
        ("karate", "clusters"): "invalid",
    }
    reason = rows[("karate", "clusters")]["reason"]
    assert "training (" in reason and "worst of 3 models" in reason
    assert "= -0.6667, needs > 0: FAIL" in reason  # (-3 - -1) / |-3|


@pytest.mark.slow
def test_smoke_workflow_spectral(smoke_dag, tmp_path):
    targets = [
        "results/eigenmaps/toy/claims.csv",
        "results/eigenmaps/graph/claims.csv",
        "results/figures/eigenmaps_toy_functions.png",
        "results/figures/eigenmaps_spectrum.png",
        "results/figures/eigenmaps_graph_embeddings.png",
    ]
    # The toy and the graphs need no dataset: planning them alone prepares none.
    planned = run_snakemake(tmp_path, *targets, "-n", "--cores", "2", "--configfile", SMOKE)
    assert "eigenmaps_toy_train" in planned.stdout and "prepare_dataset" not in planned.stdout
    tmp_path = smoke_dag
    toy = pd.read_csv(tmp_path / "results/eigenmaps/toy/claims.csv")
    assert sorted(toy["variant"]) == ["eigenvalues", "no_stop_grad", "ordered_modes"]
    assert (toy["claim_id"] == "E1").all() and toy["mean"].notna().all()
    assert toy["gates"].str.startswith("training (").all()  # measured, pass or fail
    graph = pd.read_csv(tmp_path / "results/eigenmaps/graph/claims.csv")
    assert (graph["claim_id"] == "E4").all() and set(graph["dataset"]) == {"sbm", "karate"}
    assert graph["gates"].str.startswith("training (").all()
    metrics = pd.read_csv(tmp_path / "results/eigenmaps/toy/metrics.csv")
    eig = metrics[(metrics.metric == "eigenvalue") & (metrics.method == "neuralef")]
    assert sorted(eig["output"]) == [1, 2, 3, 4, 5] and eig["value"].between(-1, 1.01).all()
    gm = pd.read_csv(tmp_path / "results/eigenmaps/graph/metrics.csv")
    assert gm.loc[gm.metric.str.startswith("ari"), "value"].between(-1, 1).all()
    for name in ("toy_functions", "spectrum", "graph_embeddings"):
        assert (tmp_path / f"results/figures/eigenmaps_{name}.png").stat().st_size > 10_000
    assert (tmp_path / "results/eigenmaps/toy/seed0.provenance.json").exists()


def test_bucket_ends_cover_every_step_once():
    assert bucket_ends(600) == list(range(30, 601, 30))
    assert bucket_ends(5) == [1, 2, 3, 4, 5]
    assert bucket_ends(150, 20)[-1] == 150 and len(bucket_ends(150, 20)) == 20
