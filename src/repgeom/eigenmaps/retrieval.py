"""Retrieval and classification on frozen representations: mAP@N with truncated or
subsampled codes, k-nearest-neighbour accuracy and a linear probe.

mAP follows the authors' ``Evaluate_mAP`` (thudzj/NEigenmaps, retrieval.py): the gallery
is ranked by similarity to the query, the top N kept, and the average precision is the
mean of the precision at each relevant item among them (a query with none scores 0);
here a gallery item is relevant when it has the query's class. Similarity is the cosine
of the codes, computed after truncation, so each length is a code in its own right."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from repgeom.stats import accuracy

__all__ = [
    "average_precision_at",
    "knn_accuracy",
    "linear_probe_accuracy",
    "mean_average_precision",
    "prefix_grid",
    "random_subsets",
]


def _check_codes(query: Tensor, gallery: Tensor, q_labels: Tensor, g_labels: Tensor) -> None:
    if query.ndim != 2 or gallery.ndim != 2 or query.shape[1] != gallery.shape[1]:
        raise ValueError(
            f"query and gallery must be [n, d] with the same d, got {tuple(query.shape)}, "
            f"{tuple(gallery.shape)}"
        )
    if len(q_labels) != len(query) or len(g_labels) != len(gallery):
        raise ValueError("labels must have one entry per query / gallery item")


def average_precision_at(relevant: Tensor) -> Tensor:
    """[Q, N] 0/1 relevance of each query's ranked top N -> [Q] average precision."""
    rel = relevant.float()
    ranks = torch.arange(1, rel.shape[1] + 1, device=rel.device, dtype=rel.dtype)
    precision = rel.cumsum(1) / ranks
    hits = rel.sum(1)
    return torch.where(hits > 0, (precision * rel).sum(1) / hits.clamp(min=1), 0.0)


def mean_average_precision(
    query: Tensor,
    gallery: Tensor,
    q_labels: Tensor,
    g_labels: Tensor,
    *,
    top_n: int = 100,
    chunk: int = 1024,
) -> float:
    """mAP@top_n of ``query`` codes against ``gallery`` codes by cosine similarity."""
    _check_codes(query, gallery, q_labels, g_labels)
    if not 1 <= top_n <= len(gallery):
        raise ValueError(f"top_n must be in [1, {len(gallery)}] (gallery size), got {top_n}")
    q = F.normalize(query.float(), dim=1)
    g = F.normalize(gallery.float(), dim=1)
    total = torch.zeros((), dtype=torch.float64, device=q.device)
    for start in range(0, len(q), chunk):
        sims = q[start : start + chunk] @ g.T
        idx = sims.topk(top_n, dim=1).indices
        relevant = g_labels[idx] == q_labels[start : start + chunk, None]
        total += average_precision_at(relevant).double().sum()
    return float(total / len(q))


def prefix_grid(full: int, n_classes: int) -> list[int]:
    """The code lengths E3 compares: ``n_classes`` (a shorter code cannot separate the
    classes once one output holds the near-constant eigenfunction), the powers of two
    and their 1.5 multiples between it and ``full``, and ``full``; for 10 classes and 128
    outputs: 10, 12, 16, 24, 32, 48, 64, 96, 128."""
    if not 1 <= n_classes <= full:
        raise ValueError(f"need 1 <= n_classes <= code length, got {n_classes}, {full}")
    lengths, p = {n_classes, full}, 1
    while p <= full:
        lengths |= {k for k in (p, 3 * p // 2) if n_classes <= k <= full}
        p *= 2
    return sorted(lengths)


def random_subsets(full: int, k: int, n: int, gen: torch.Generator) -> list[Tensor]:
    """``n`` random sets of ``k`` distinct dimensions out of ``full`` (CPU, from ``gen``)."""
    if not 1 <= k <= full:
        raise ValueError(f"k must be in [1, {full}], got {k}")
    return [torch.randperm(full, generator=gen)[:k] for _ in range(n)]


def knn_accuracy(
    train: Tensor,
    train_labels: Tensor,
    test: Tensor,
    test_labels: Tensor,
    *,
    k: int = 20,
    chunk: int = 1024,
) -> float:
    """Accuracy (%) of a majority vote among the ``k`` nearest training items by cosine
    similarity (ties go to the lowest class index)."""
    _check_codes(test, train, test_labels, train_labels)
    if not 1 <= k <= len(train):
        raise ValueError(f"k must be in [1, {len(train)}], got {k}")
    n_classes = int(max(train_labels.max(), test_labels.max())) + 1
    a = F.normalize(train.float(), dim=1)
    b = F.normalize(test.float(), dim=1)
    predicted = []
    for start in range(0, len(b), chunk):
        idx = (b[start : start + chunk] @ a.T).topk(k, dim=1).indices
        votes = torch.zeros(len(idx), n_classes, device=a.device)
        votes.scatter_add_(1, train_labels[idx], torch.ones_like(idx, dtype=votes.dtype))
        predicted.append(votes.argmax(1))
    return 100.0 * accuracy(torch.cat(predicted).cpu(), test_labels.cpu())


def linear_probe_accuracy(
    train: Tensor,
    train_labels: Tensor,
    test: Tensor,
    test_labels: Tensor,
    *,
    weight_decay: float = 1e-4,
    max_iter: int = 200,
) -> float:
    """Accuracy (%) of a multinomial logistic regression on standardised frozen features,
    fitted by full-batch L-BFGS (deterministic, no learning rate to tune)."""
    _check_codes(test, train, test_labels, train_labels)
    mean, std = train.mean(0), train.std(0).clamp(min=1e-6)
    xtr, xte = (train - mean) / std, (test - mean) / std
    n_classes = int(max(train_labels.max(), test_labels.max())) + 1
    linear = torch.nn.Linear(xtr.shape[1], n_classes).to(xtr.device)
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    opt = torch.optim.LBFGS(
        linear.parameters(), lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe"
    )

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(linear(xtr), train_labels)
        loss = loss + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        pred = linear(xte).argmax(1)
    return 100.0 * accuracy(pred.cpu(), test_labels.cpu())
