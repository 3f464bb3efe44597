"""Evaluation of embeddings as hashes of the manifold identifier gamma:

* ``invariance_ratio``: mean within-manifold over mean overall pairwise distance;
* ``hyperplane_collision``: Monte-Carlo collision probability of random-hyperplane sign
  hashes (SimHash), whose expectation for two fixed vectors is ``simhash_collision`` =
  1 - angle/pi;
* ``one_shot_accuracy``: N-way episodes on unseen manifolds, one support sample per
  manifold, nearest neighbour (Euclidean) on embeddings;
* ``evaluate_seed`` runs all three for raw inputs, the untrained network and the trained
  ones; ``lsh_claims`` turns the tidy table into the claims L1-L3, one row per generator,
  each comparing the trained nets with the better of the two baselines per seed, and
  gated on the classifiers it uses: their loss fell (``training``) and they fit their
  training manifolds (``lsh_train_accuracy``); ``claims_detail`` lists what the claims
  compare for every embedding, baselines included."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from repgeom.claims import Gate, evaluate_claim
from repgeom.gate_inputs import per_model, training_gate_of
from repgeom.lsh.models import embed_all
from repgeom.stats import spearman


def invariance_ratio(emb: torch.Tensor) -> dict:
    """emb [M, m, d] (M manifolds, m samples each) -> within, overall distances and ratio."""
    n_man, m = emb.shape[:2]
    if m < 2 or n_man < 2:
        raise ValueError(f"need >= 2 manifolds with >= 2 samples each, got {tuple(emb.shape)}")
    emb = emb.double()
    within = torch.cdist(emb, emb).sum() / (n_man * m * (m - 1))
    flat = emb.reshape(n_man * m, -1)
    n = flat.shape[0]
    overall = torch.cdist(flat, flat).sum() / (n * (n - 1))
    return {"within": float(within), "overall": float(overall), "ratio": float(within / overall)}


def simhash_collision(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Closed form Pr[sign(r.u) = sign(r.v)] = 1 - angle(u, v)/pi for r ~ N(0, I); [..., d]."""
    cos = torch.nn.functional.cosine_similarity(u.double(), v.double(), dim=-1)
    return 1 - torch.arccos(cos.clamp(-1, 1)) / math.pi


def hyperplane_collision(
    u: torch.Tensor, v: torch.Tensor, n_planes: int, generator: torch.Generator
) -> torch.Tensor:
    """Monte-Carlo collision probability of sign hashes with ``n_planes`` Gaussian
    hyperplanes (drawn on the CPU generator): u, v [..., d] -> [...] fraction of equal bits."""
    if u.shape != v.shape:
        raise ValueError(
            f"u and v must have the same shape, got {tuple(u.shape)}, {tuple(v.shape)}"
        )
    planes = torch.randn(u.shape[-1], n_planes, generator=generator).to(u.device, u.dtype)
    return ((u @ planes > 0) == (v @ planes > 0)).double().mean(-1)


def one_shot_accuracy(
    emb: torch.Tensor, n_way: int, episodes: int, generator: torch.Generator, chunk: int = 64
) -> float:
    """emb [M, m, d]. Each episode draws ``n_way`` of the M manifolds and one support
    sample per manifold; every other sample of those manifolds is a query, labelled by
    its nearest support sample. Episodes come from ``generator`` alone, so the same
    generator seed gives the same episodes for every embedding."""
    n_man, m, d = emb.shape
    if not 2 <= n_way <= n_man:
        raise ValueError(f"n_way must be in [2, {n_man}], got {n_way}")
    if m < 2:
        raise ValueError("one-shot accuracy needs >= 2 samples per manifold")
    classes = torch.rand(episodes, n_man, generator=generator).argsort(1)[:, :n_way]
    support = torch.randint(m, (episodes, n_way), generator=generator)
    classes, support = classes.to(emb.device), support.to(emb.device)
    flat = emb.reshape(n_man * m, d).double()
    dist = torch.cdist(flat, flat)  # all pairs once; episodes only gather from it
    truth = torch.arange(n_way, device=emb.device).repeat_interleave(m)
    sample = torch.arange(m, device=emb.device)
    correct = total = 0
    for start in range(0, episodes, chunk):
        c, s = classes[start : start + chunk], support[start : start + chunk]
        sup = c * m + s  # [t, N] flat index of each support sample
        queries = (c[:, :, None] * m + sample).reshape(c.shape[0], n_way * m)  # [t, N*m]
        pred = dist[queries[:, :, None], sup[:, None, :]].argmin(-1)  # [t, N*m]
        valid = sample.repeat(n_way)[None] != s.repeat_interleave(m, dim=1)
        correct += int(((pred == truth[None]) & valid).sum())
        total += int(valid.sum())
    return correct / total


def _methods(models: Mapping[int, torch.nn.Module], untrained: torch.nn.Module):
    yield "raw", math.nan, None
    yield "untrained", math.nan, untrained
    for c in sorted(models):
        yield "trained", c, models[c]


def _collision_rows(tag: dict, rho, levels, delta, collision: torch.Tensor) -> list[dict]:
    """One ``collision`` row per rho level: the mean collision probability and the mean
    ||dgamma|| of the pairs of manifolds at that level."""
    rows = []
    for level in levels:
        sel = rho == level
        rows.append(
            {
                **tag,
                "metric": "collision",
                "rho": level,
                "delta_gamma": float(delta[sel].mean()),
                "value": float(collision[sel].mean()),
            }
        )
    return rows


def _invariance_rows(tag: dict, emb3: torch.Tensor) -> list[dict]:
    inv = invariance_ratio(emb3)
    return [
        {**tag, "metric": name, "value": inv[key]}
        for key, name in (
            ("ratio", "invariance_ratio"),
            ("within", "within_distance"),
            ("overall", "overall_distance"),
        )
    ]


def pair_collision(model, center, xa, xb, hyperplanes: int, seed: int) -> torch.Tensor:
    """Per pair of manifolds (xa, xb [P, s, ...]): the sign-hash collision probability of
    the embeddings, centred on ``center``, averaged over the pair's s samples; the
    hyperplanes are drawn from ``seed`` alone (the same for every model)."""
    n_pairs, s = xa.shape[:2]
    ea = embed_all(model, xa.reshape(n_pairs * s, *xa.shape[2:])) - center
    eb = embed_all(model, xb.reshape(n_pairs * s, *xb.shape[2:])) - center
    planes = torch.Generator().manual_seed(int(seed))
    return hyperplane_collision(ea, eb, hyperplanes, planes).reshape(n_pairs, s).mean(1).cpu()


def _oneshot_rows(tag: dict, emb3: torch.Tensor, n_way, episodes: int, seed: int) -> list[dict]:
    rows = []
    for n in n_way:
        episodes_gen = torch.Generator().manual_seed(int(seed))
        acc = one_shot_accuracy(emb3, n, episodes, episodes_gen)
        rows.append({**tag, "metric": "oneshot_accuracy", "n_way": n, "value": acc})
    return rows


@torch.no_grad()
def evaluate_seed(
    data: dict,
    models: Mapping[int, torch.nn.Module],
    untrained: torch.nn.Module,
    *,
    seed: int,
    n_way: Sequence[int],
    episodes: int,
    hyperplanes: int,
    n_projected: int,
    device: torch.device,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tidy metrics (invariance, collision per rho level, one-shot accuracy) for raw
    inputs, the untrained network and each trained model (parameter C), plus a 2-D PCA
    of the first ``n_projected`` unseen manifolds' embeddings."""
    kind = data["kind"]
    x_unseen = data["x_unseen"].to(device)
    n_man, m = x_unseen.shape[:2]
    flat_unseen = x_unseen.reshape(n_man * m, *x_unseen.shape[2:])
    xa, xb = data["x_pair_a"].to(device), data["x_pair_b"].to(device)
    rho = data["pair_rho"]
    levels = torch.unique(rho).flip(0).tolist()  # from identical (rho=1) to far
    ga, gb = data["gamma_pair_a"], data["gamma_pair_b"]
    delta = (ga - gb).norm(dim=1)
    base = {"stage": "lsh", "generator": kind, "seed": seed}
    ideal = {**base, "method": "simhash_gamma"}
    rows = _collision_rows(ideal, rho, levels, delta, simhash_collision(ga, gb))
    proj = []
    for method, c, model in _methods(models, untrained):
        tag = {**base, "method": method, "C": c}
        emb = embed_all(model, flat_unseen)
        emb3 = emb.reshape(n_man, m, -1)
        coll = pair_collision(model, emb.mean(0), xa, xb, hyperplanes, seed)
        rows += _invariance_rows(tag, emb3)
        rows += _collision_rows(tag, rho, levels, delta, coll)
        rows += _oneshot_rows(tag, emb3, n_way, episodes, seed)
        if method != "trained" or c == max(models):
            proj.append(_pca2(emb3[:n_projected], method, c, kind, seed))
    return pd.DataFrame(rows), pd.concat(proj, ignore_index=True)


def _pca2(emb: torch.Tensor, method: str, c: float, kind: str, seed: int) -> pd.DataFrame:
    k, m, d = emb.shape
    flat = emb.reshape(k * m, d).double()
    flat = flat - flat.mean(0)
    _, _, vt = torch.linalg.svd(flat, full_matrices=False)
    xy = (flat @ vt[:2].T).cpu().numpy()
    return pd.DataFrame(
        {
            "generator": kind,
            "seed": seed,
            "method": method,
            "C": c,
            "manifold": np.repeat(np.arange(k), m),
            "sample": np.tile(np.arange(m), k),
            "pc1": xy[:, 0],
            "pc2": xy[:, 1] if xy.shape[1] > 1 else 0.0,
        }
    )


def _per_seed(df: pd.DataFrame, c_max: float, fn) -> list[float]:
    return [fn(g, c_max) for _, g in df.groupby("seed", sort=True)]


BASELINES = ("raw", "untrained")
SAME_RHO, INDEPENDENT_RHO = 1.0, 0.0  # gamma correlations of the L2 gap's two levels


def _by_method(rows: pd.DataFrame, c_max: float) -> pd.DataFrame:
    """``rows`` of one seed restricted to the baselines and the trained net at c_max."""
    return rows[rows.method.isin(BASELINES) | ((rows.method == "trained") & (rows.C == c_max))]


def _trained_and_best(per_method: pd.Series, best) -> tuple[float, float]:
    """(trained value, best baseline value by ``best`` (min or max)) of a series indexed
    by method."""
    return float(per_method["trained"]), float(best(per_method[list(BASELINES)]))


def l1_statistic(g: pd.DataFrame, c_max: float) -> float:
    """The lower of the raw/untrained invariance ratios minus the trained one (C = c_max):
    > 0 when training made the embedding more theta-invariant than either baseline."""
    r = _by_method(g[g.metric == "invariance_ratio"], c_max).set_index("method")["value"]
    trained, best = _trained_and_best(r, min)
    return best - trained


def collision_gap(rows: pd.DataFrame) -> float:
    """Collision probability of pairs on the same manifold (rho = 1, other thetas) minus
    that of independent manifolds (rho = 0): ``rows`` are one embedding's collision rows."""
    same = rows.loc[np.isclose(rows["rho"], SAME_RHO), "value"]
    independent = rows.loc[np.isclose(rows["rho"], INDEPENDENT_RHO), "value"]
    if same.empty or independent.empty:
        raise ValueError(
            f"the collision gap needs rho levels {SAME_RHO} and {INDEPENDENT_RHO} "
            f"(key 'lsh.rho_levels'), got {sorted(rows['rho'].unique())}"
        )
    return float(same.mean() - independent.mean())


def l2_statistic(g: pd.DataFrame, c_max: float) -> float:
    """Trained collision gap (C = c_max) minus the larger of the raw/untrained gaps."""
    rows = _by_method(g[g.metric == "collision"], c_max)
    gaps = pd.Series({method: collision_gap(r) for method, r in rows.groupby("method")})
    trained, best = _trained_and_best(gaps, max)
    return trained - best


def l3_statistic(g: pd.DataFrame, c_max: float) -> float:
    """min(accuracy margin at c_max over the better baseline, Spearman(C, accuracy)), with
    accuracies averaged over the N-way settings."""
    acc = g[g.metric == "oneshot_accuracy"]
    trained = acc[acc.method == "trained"].groupby("C")["value"].mean()
    baseline = max(acc[acc.method == m]["value"].mean() for m in BASELINES)
    # np.minimum, not min(): an undefined Spearman (NaN) must stay NaN (repgeom.stats).
    return float(np.minimum(trained[c_max] - baseline, spearman(trained.index, trained.values)))


def _embedding_detail(g: pd.DataFrame) -> dict:
    """The claims' per-embedding quantities of one (seed, method, C) group."""
    coll = g[g.metric == "collision"]
    return {
        "invariance_ratio": g.loc[g.metric == "invariance_ratio", "value"].mean(),
        "collision_gap": collision_gap(coll),
        "collision_spearman": spearman(coll["delta_gamma"], coll["value"]),
        "oneshot_accuracy": g.loc[g.metric == "oneshot_accuracy", "value"].mean(),
        "train_accuracy": g.loc[g.metric == "train_accuracy", "value"].mean(),
        "heldout_accuracy": g.loc[g.metric == "heldout_accuracy", "value"].mean(),
    }


def claims_detail(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per generator, seed and embedding (raw input, untrained net, trained net
    per C): what L1-L3 compare (invariance ratio, collision gap, one-shot accuracy over
    the N-way settings), the old L2 statistic (Spearman of the collision curve against
    ||dgamma||) for reference, and the classifiers' training and held-out-theta
    accuracy (NaN for the baselines)."""
    df = metrics[metrics.method.isin([*BASELINES, "trained"])].copy()
    df["C"] = df["C"].fillna(-1)  # baselines have no C; groupby drops NaN keys
    rows = [
        {"generator": gen, "seed": seed, "method": method, "C": c, **_embedding_detail(g)}
        for (gen, seed, method, c), g in df.groupby(["generator", "seed", "method", "C"])
    ]
    out = pd.DataFrame(rows)
    out["C"] = out["C"].where(out["C"] >= 0)
    order = {"raw": 0, "untrained": 1, "trained": 2}
    return out.sort_values(
        ["generator", "seed", "method", "C"],
        key=lambda s: s.map(order) if s.name == "method" else s,
        ignore_index=True,
    )


def classifier_gates(df: pd.DataFrame, cs, gates: dict) -> list[Gate]:
    """``training`` and ``lsh_train_accuracy`` over the trained classifiers (every seed)
    at the values ``cs`` of C in ``df`` (one generator's rows, eval and train)."""
    trained = df[(df.method == "trained") & df.C.isin(list(cs))]
    acc = per_model(trained, ["seed", "C"], ["train_accuracy"])["train_accuracy"]
    c_text = "/".join(f"{c:g}" for c in sorted(cs))
    return [
        training_gate_of(trained, ["seed", "C"], gates["min_loss_drop"]),
        Gate.worst(
            "lsh_train_accuracy",
            acc,
            gates["lsh_min_train_accuracy"],
            ">=",
            f"accuracy on its training samples, worst of {len(acc)} classifiers (C={c_text})",
        ),
    ]


# claim id -> (statement, with the generator's name for {kind}; metric)
LSH_CLAIM_TEXT = {
    "L1": (
        "{kind} manifolds: the trained embedding is more theta-invariant than both "
        "baselines: on unseen manifolds, per seed, the lower of the raw-input and "
        "untrained-network within/overall mean pairwise distance ratios minus the "
        "trained network's (largest C) is above the threshold",
        "invariance_ratio_best_baseline_minus_trained",
    ),
    "L2": (
        "{kind} manifolds: sign hashes of the trained embedding (largest C) separate "
        "same-manifold pairs from independent ones better than both baselines: per "
        "seed, the trained collision gap (collision probability of two samples of one "
        "manifold, other thetas, minus that of two independent manifolds) minus the "
        "larger of the raw-input and untrained-network gaps is above the threshold",
        "collision_gap_trained_minus_best_baseline",
    ),
    "L3": (
        "{kind} manifolds: one-shot accuracy on unseen manifolds (mean over N-way "
        "settings) beats both baselines and rises with C (every C trained for the same "
        "epochs): per seed, min(trained accuracy at the largest C minus the better of "
        "raw-input and untrained, Spearman correlation of trained accuracy with C) is "
        "above the threshold",
        "min(oneshot_margin_at_max_C, spearman_oneshot_vs_C)",
    ),
}


def generator_claims(
    kind: str, df: pd.DataFrame, thresholds: dict, scale: dict, gates: dict
) -> list[dict]:
    """Rows L1-L3 of one generator (its rows ``df``); ``thresholds``: claim id ->
    (threshold, direction)."""
    c_max = df["C"].max()
    if not ((df.method == "trained") & (df.C == c_max)).any():
        raise ValueError(f"claims: no trained results for generator {kind}")
    where = {**scale, "generator": kind, "C": int(c_max)}
    at_max = classifier_gates(df, [c_max], gates)
    every_c = classifier_gates(df, df.loc[df.method == "trained", "C"].unique(), gates)
    sub = df[df.metric.isin(["invariance_ratio", "collision", "oneshot_accuracy"])]
    rows = []
    for cid, statistic, claim_gates in (
        ("L1", l1_statistic, at_max),
        ("L2", l2_statistic, at_max),
        ("L3", l3_statistic, every_c),
    ):
        statement, metric = LSH_CLAIM_TEXT[cid]
        threshold, direction = thresholds[cid]
        row = evaluate_claim(
            claim_id=cid,
            statement=statement.format(kind=kind),
            metric=metric,
            values=_per_seed(sub, c_max, statistic),
            threshold=threshold,
            direction=direction,
            scale=where,
            gates=claim_gates,
        )
        rows.append({**row, "generator": kind})
    return rows


def lsh_claims(
    metrics: pd.DataFrame,
    *,
    l1_min_margin: float,
    l2_min_margin: float,
    l3_min_margin: float,
    scale: dict,
    gates: dict,
) -> list[dict]:
    """Claims L1-L3 for each generator (ids L1, L2, L3 with a ``generator`` column, the
    registry's case), each a per-seed statistic at the largest C, mean and CI over seeds
    (statistics fixed here, thresholds from the config). L1 and L2 compare the trained
    net with the better baseline of the same seed (paired over seeds) and use the
    classifiers at the largest C, L3 those at every C; ``gates`` is the config's gates section
    (min_loss_drop, lsh_min_train_accuracy)."""
    thresholds = {
        "L1": (l1_min_margin, ">"),
        "L2": (l2_min_margin, ">"),
        "L3": (l3_min_margin, ">"),
    }
    claims = []
    for kind, df in metrics.groupby("generator", sort=False):
        claims += generator_claims(kind, df, thresholds, scale, gates)
    return claims
