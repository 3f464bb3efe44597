"""Graphs (claim E4): neural eigenfunctions of the normalised adjacency, against the exact
eigenvectors and scikit-learn's spectral clustering.

Views: an edge (u, v) drawn with probability A_uv / vol (both directions, vol = sum A),
view 1 = u, view 2 = v. Their joint is p(u, v) = A_uv / vol with marginal p(u) = d_u / vol,
so the kernel the loss sees is K(u, v) = p(u, v) / (p(u) p(v)) = vol A_uv / (d_u d_v), and
its eigenfunctions under p solve D^-1 A f = lambda f; g = D^(1/2) f are the eigenvectors
of the symmetric normalised adjacency N = D^(-1/2) A D^(-1/2), with the same eigenvalues.
This is the same construction as two augmentations of one image: two random-walk
neighbours of each other. The top eigenvector (lambda = 1, f constant) is the trivial one,
as is the constant eigenfunction of an augmentation kernel. scikit-learn's
SpectralClustering (affinity precomputed) embeds nodes with the same f (the spectral
embedding of the normalised Laplacian I - N, rescaled by D^(-1/2)) and runs k-means on it.
"""

from __future__ import annotations

import logging
import math

import networkx as nx
import numpy as np
import torch
from scipy.linalg import subspace_angles
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.metrics import adjusted_rand_score
from torch import nn

from repgeom.claims import evaluate_claim
from repgeom.eigenmaps.gates import models_training_gate, step_loss_rows
from repgeom.eigenmaps.toy import projector, step_curve_rows, train_views
from repgeom.training import Progress

LOG = logging.getLogger("repgeom.eigenmaps.graph")
GRAPHS = ("sbm", "karate")
LR_KEY = "eigenmaps.graph.lr"  # the config key of the node network's learning rate


def build_graph(name: str, seed: int, sbm: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unweighted adjacency [n, n] and integer labels [n]: for ``sbm`` the blocks of
    networkx's stochastic block model (``sbm``: block_sizes, p_in, p_out; seeded), for
    ``karate`` Zachary's karate club (unweighted) with the two factions ('club')."""
    if name == "sbm":
        if not sbm:
            raise ValueError("graph 'sbm' needs the sbm settings (block_sizes, p_in, p_out)")
        sizes = [int(s) for s in sbm["block_sizes"]]
        probs = [
            [sbm["p_in"] if i == j else sbm["p_out"] for j in range(len(sizes))]
            for i in range(len(sizes))
        ]
        g = nx.stochastic_block_model(sizes, probs, seed=int(seed))
        labels = {u: d["block"] for u, d in g.nodes(data=True)}
    elif name == "karate":
        g = nx.karate_club_graph()
        labels = {u: int(d["club"] != "Mr. Hi") for u, d in g.nodes(data=True)}
    else:
        raise ValueError(f"unknown graph {name!r}; choose one of {GRAPHS}")
    if not nx.is_connected(g):
        keep = max(nx.connected_components(g), key=len)
        LOG.warning(
            "%s: not connected, keeping the largest component (%d of %d nodes)",
            name,
            len(keep),
            g.number_of_nodes(),
        )
        g = g.subgraph(keep).copy()
    nodes = sorted(g.nodes())
    adj = nx.to_numpy_array(g, nodelist=nodes, weight=None)
    return adj, np.array([labels[u] for u in nodes], dtype=np.int64)


def exact_spectrum(adj: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k eigenvalues (descending) and eigenvectors [n, k] of N = D^-1/2 A D^-1/2."""
    if k > adj.shape[0]:
        raise ValueError(f"n_outputs={k} exceeds the number of nodes {adj.shape[0]}")
    d = adj.sum(1)
    inv = 1.0 / np.sqrt(d)
    vals, vecs = np.linalg.eigh(adj * inv[:, None] * inv[None, :])
    order = np.argsort(vals)[::-1][:k]
    return vals[order], vecs[:, order]


def node_net(n_nodes: int, hidden: int, n_outputs: int) -> nn.Sequential:
    """Free node embeddings (a linear layer on one-hot ids) followed by the projector."""
    return nn.Sequential(nn.Embedding(n_nodes, hidden), projector(hidden, hidden, n_outputs))


def edge_sampler(adj: np.ndarray, batch_size: int, generator: torch.Generator, device):
    """Closure drawing batch_size directed edges (u, v) with probability A_uv / vol."""
    src, dst = np.nonzero(adj)
    weights = torch.as_tensor(adj[src, dst], dtype=torch.float64)
    src_t, dst_t = torch.as_tensor(src), torch.as_tensor(dst)

    def sample(_step):
        idx = torch.multinomial(weights, batch_size, replacement=True, generator=generator)
        return src_t[idx].to(device), dst_t[idx].to(device)

    return sample


def rayleigh_quotients(adj: np.ndarray, psi: np.ndarray) -> np.ndarray:
    """Exact expected agreement of each output under edge sampling: f'Af / f'Df."""
    d = adj.sum(1)
    return np.einsum("nk,nm,mk->k", psi, adj, psi) / np.einsum("nk,n,nk->k", psi, d, psi)


def subspace_scores(adj: np.ndarray, psi: np.ndarray, exact_vecs: np.ndarray) -> dict:
    """Principal angles between span(D^1/2 psi) and the exact top-k eigenvectors of N."""
    angles = subspace_angles(np.sqrt(adj.sum(1))[:, None] * psi, exact_vecs)
    return {
        "subspace_alignment": float(np.mean(np.cos(angles) ** 2)),
        "max_angle_deg": float(np.degrees(angles.max())),
    }


def cluster_scores(adj, psi, exact_vecs, labels, seed: int) -> dict:
    """ARI of k-means on the first n_clusters learned outputs, of k-means on the exact
    eigenfunctions, and of scikit-learn's SpectralClustering, against the true labels
    and against each other; n_clusters = number of distinct labels."""
    c = int(np.unique(labels).size)
    kmeans = KMeans(n_clusters=c, n_init=10, random_state=seed)
    learned = kmeans.fit_predict(psi[:, :c])
    exact_f = exact_vecs[:, :c] / np.sqrt(adj.sum(1))[:, None]
    exact = KMeans(n_clusters=c, n_init=10, random_state=seed).fit_predict(exact_f)
    spectral = SpectralClustering(
        n_clusters=c, affinity="precomputed", random_state=seed
    ).fit_predict(adj)
    return {
        "ari_learned_truth": adjusted_rand_score(labels, learned),
        "ari_exact_truth": adjusted_rand_score(labels, exact),
        "ari_spectral_truth": adjusted_rand_score(labels, spectral),
        "ari_learned_spectral": adjusted_rand_score(spectral, learned),
        "clusters": learned,
    }


def run_graph(
    name: str,
    *,
    seed: int,
    sbm: dict | None,
    n_outputs: int,
    hidden: int,
    batch_size: int,
    generator: torch.Generator,
    device: torch.device,
    logger: logging.Logger | None = None,
    progress: Progress | None = None,
    **train,
) -> dict:
    """Train the node network on one graph and score it; returns metrics and the
    learned/exact embeddings (for figures). ``train``: the settings of
    :func:`repgeom.eigenmaps.toy.train_views` (steps, lr, alpha, t). ``progress``: one
    shared over the job's graphs (``steps`` units each), else one for this graph."""
    adj, labels = build_graph(name, seed, sbm)
    if n_outputs < np.unique(labels).size:
        raise ValueError(
            f"{name}: n_outputs={n_outputs} is below the number of clusters "
            f"{np.unique(labels).size} (k-means runs on the first n_clusters outputs)"
        )
    vals, vecs = exact_spectrum(adj, n_outputs)
    torch.manual_seed(seed)
    model = node_net(adj.shape[0], hidden, n_outputs).to(device)
    sample = edge_sampler(adj, batch_size, generator, device)
    aligned = {}

    def monitor(step):
        psi = node_eigenfunctions(model, adj)
        aligned[step] = subspace_scores(adj, psi, vecs)["subspace_alignment"]

    losses = train_views(
        model,
        sample,
        stop_grad=True,
        setting=LR_KEY,
        **train,
        logger=logger,
        progress=progress,
        on_bucket=monitor,
    )
    psi = node_eigenfunctions(model, adj)
    scores = {**subspace_scores(adj, psi, vecs), **cluster_scores(adj, psi, vecs, labels, seed)}
    d = adj.sum(1)
    exact_f = vecs / np.sqrt(d)[:, None] * math.sqrt(d.sum())
    return {
        "adjacency": adj,
        "labels": labels,
        "psi": psi,
        "exact": exact_f,
        "eigenvalues": rayleigh_quotients(adj, psi),
        "exact_eigenvalues": vals,
        "losses": losses,
        "alignment_curve": aligned,
        **scores,
    }


@torch.no_grad()
def node_eigenfunctions(model: nn.Module, adj: np.ndarray) -> np.ndarray:
    """The trained network's outputs on every node [n, k], scaled to unit second moment
    under p(u) = d_u / vol (the normalisation the loss imposes)."""
    model.eval()
    device = next(model.parameters()).device
    psi = model(torch.arange(adj.shape[0], device=device)).double().cpu().numpy()
    d = adj.sum(1)
    return psi / np.sqrt((d[:, None] * psi**2).sum(0) / d.sum())


def graph_curve_rows(name: str, res: dict, seed: int) -> list[dict]:
    """The graph network's curve: loss per step bucket and, after each, the subspace
    alignment with the exact eigenvectors (repgeom.curves rows, unit step)."""
    base = {"stage": "eigenmaps", "part": "graph", "method": "neuralef", "seed": seed}
    return step_curve_rows(
        res["losses"], res["alignment_curve"], {**base, "graph": name}, "subspace_alignment"
    )


def graph_metric_rows(name: str, res: dict, seed: int) -> list[dict]:
    base = {"stage": "eigenmaps", "part": "graph", "method": "neuralef", "seed": seed}
    base["graph"] = name
    keys = ("subspace_alignment", "max_angle_deg", "ari_learned_truth", "ari_exact_truth")
    keys += ("ari_spectral_truth", "ari_learned_spectral")
    rows = [{**base, "metric": k, "value": float(res[k])} for k in keys]
    pairs = zip(res["eigenvalues"], res["exact_eigenvalues"], strict=True)
    for j, (est, exact) in enumerate(pairs):
        rows.append({**base, "output": j + 1, "metric": "eigenvalue", "value": float(est)})
        rows.append({**base, "output": j + 1, "metric": "exact_eigenvalue", "value": float(exact)})
    return rows + step_loss_rows(res["losses"], **base)


def graph_embedding_rows(name: str, res: dict, seed: int) -> list[dict]:
    """Long table: per node and output, the learned and exact eigenfunction values (the
    exact one's sign flipped to agree with the learned one), the node's true label and
    its learned cluster."""
    psi, exact = res["psi"], res["exact"]
    signs = np.sign(np.sum(psi * exact, axis=0))
    signs[signs == 0] = 1.0
    rows = []
    for u in range(psi.shape[0]):
        for j in range(psi.shape[1]):
            rows.append(
                {
                    "graph": name,
                    "seed": seed,
                    "node": u,
                    "label": int(res["labels"][u]),
                    "cluster": int(res["clusters"][u]),
                    "output": j + 1,
                    "learned": float(psi[u, j]),
                    "exact": float(signs[j] * exact[u, j]),
                }
            )
    return rows


def graph_claims(
    metrics, *, min_alignment: float, min_ari: float, min_loss_drop: float, scale
) -> list[dict]:
    """E4 rows per graph: the learned span against the exact top eigenvectors of the
    normalised adjacency, and k-means on the learned outputs against SpectralClustering.
    Gate ``training``: the loss of every seed's network on that graph fell."""
    specs = [
        (
            "subspace",
            "NeuralEF trained on edge pairs recovers the top eigenvectors of the normalised "
            "adjacency (mean cos^2 of the principal angles)",
            "subspace_alignment",
            min_alignment,
        ),
        (
            "clusters",
            "k-means on the learned eigenfunctions reproduces spectral clustering "
            "(ARI against scikit-learn's SpectralClustering)",
            "ari_learned_spectral",
            min_ari,
        ),
    ]
    rows = []
    for name in dict.fromkeys(metrics["graph"]):
        sub = metrics[metrics.graph == name]
        trained = models_training_gate(sub, ["neuralef"], min_loss_drop)
        for variant, statement, metric, threshold in specs:
            vals = sub[sub.metric == metric].sort_values("seed")["value"].to_numpy()
            row = evaluate_claim(
                claim_id="E4",
                statement=statement,
                metric=metric,
                values=vals,
                threshold=threshold,
                direction=">",
                scale=scale,
                gates=[trained],
            )
            rows.append({**row, "dataset": name, "variant": variant})
    return rows
