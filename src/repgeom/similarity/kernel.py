"""The network's own similarity between inputs (Charpiat et al. 2019).

Two inputs are similar for a network f_theta when a parameter move designed to change
f(A) changes f(B) as well. With G(x) = d f(x) / d theta in R^{p x d}:

- scalar output (d = 1): k(A, B) = <g(A), g(B)> / (|g(A)| |g(B)|), a cosine;
- d outputs: K(x, x') = G(x)^T G(x') (d x d), normalised
  K^C(x, x') = K(x, x)^{-1/2} K(x, x') K(x', x')^{-1/2}, scalar similarity tr(K^C) / d.

Both are inner products of *normalised gradient features* F(x) = K(x, x)^{-1/2} G(x)^T
(d x p; for d = 1 the unit gradient): tr(K^C(x, x')) = <F(x), F(x')>_Frobenius. This is why
the density N_S(x_i) = sum_j k(x_i, x_j) costs O(n p): it is <F_i, sum_j F_j> / d.

Per-sample gradients come from torch.func (vmap over jacrev of a functional call), in
chunks of samples so memory stays bounded; there is no Python loop over samples.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch.func import functional_call, jacrev, vmap

OutputFn = Callable[[torch.Tensor], torch.Tensor]


def _flatten_outputs(out: torch.Tensor) -> torch.Tensor:
    return out.reshape(out.shape[0], -1)


def parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _check_chunk(chunk_size: int) -> int:
    if int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    return int(chunk_size)


def _chunks(n: int, chunk_size: int) -> Iterator[slice]:
    for start in range(0, n, chunk_size):
        yield slice(start, min(start + chunk_size, n))


def per_sample_grads(
    model: torch.nn.Module,
    x: torch.Tensor,
    *,
    output_fn: OutputFn | None = None,
    chunk_size: int = 128,
) -> torch.Tensor:
    """G for every sample, as a tensor [n, d, p] (row r = gradient of output r).

    ``output_fn`` maps the model's batch output to [batch, d] (default: flatten). The
    model should be in eval mode (batch statistics would couple the samples)."""
    chunk_size = _check_chunk(chunk_size)
    if x.shape[0] == 0:
        raise ValueError("per_sample_grads: no samples")
    out = None
    for sl, parts in _jacobian_chunks(model, x, output_fn, chunk_size):
        if out is None:
            d, p = parts[0].shape[1], sum(part.shape[2] for part in parts)
            out = torch.empty(x.shape[0], d, p, dtype=parts[0].dtype, device=parts[0].device)
        # Written in place: concatenating chunks and then parameters would copy the
        # (large) result twice.
        offset = 0
        for part in parts:
            out[sl, :, offset : offset + part.shape[2]] = part
            offset += part.shape[2]
    return out


def per_sample_grads_loop(
    model: torch.nn.Module, x: torch.Tensor, *, output_fn: OutputFn | None = None
) -> torch.Tensor:
    """The same G [n, d, p] from one backward pass per sample and output: slow, but
    independent of the vmap / jacrev route, so it checks that route on a few samples."""
    output_fn = output_fn or _flatten_outputs
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    with torch.enable_grad():
        for xi in x:
            out = output_fn(model(xi.unsqueeze(0))).reshape(-1)
            per_output = [
                torch.autograd.grad(out[r], params, retain_graph=True) for r in range(out.numel())
            ]
            rows.append(torch.stack([torch.cat([g.reshape(-1) for g in gs]) for gs in per_output]))
    return torch.stack(rows)


def iter_per_sample_grads(
    model: torch.nn.Module,
    x: torch.Tensor,
    output_fn: OutputFn | None = None,
    chunk_size: int = 128,
) -> Iterator[torch.Tensor]:
    """Per-sample gradients chunk by chunk ([chunk, d, p] each), for streaming sums."""
    for _, parts in _jacobian_chunks(model, x, output_fn, _check_chunk(chunk_size)):
        yield torch.cat(parts, dim=2)


def _jacobian_chunks(
    model: torch.nn.Module, x: torch.Tensor, output_fn: OutputFn | None, chunk_size: int
) -> Iterator[tuple[slice, list[torch.Tensor]]]:
    """(samples, per-parameter gradients [chunk, d, numel] in parameter order) per chunk."""
    output_fn = output_fn or _flatten_outputs
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if not names:
        raise ValueError("model has no trainable parameters")
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    frozen = {n: p.detach() for n, p in model.named_parameters() if not p.requires_grad}
    buffers = {n: b.detach() for n, b in model.named_buffers()}

    def one(p: dict, xi: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, (p, frozen, buffers), (xi.unsqueeze(0),))
        return output_fn(out).reshape(-1)

    jac = vmap(jacrev(one), in_dims=(None, 0))
    for sl in _chunks(x.shape[0], chunk_size):
        grads = jac(params, x[sl])
        b = sl.stop - sl.start
        yield sl, [grads[n].reshape(b, grads[n].shape[1], -1) for n in names]


def inv_sqrt_psd(k: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """K^{-1/2} of a batch of symmetric positive (semi-)definite d x d matrices. Eigenvalues
    below eps * largest are treated as eps * largest (a zero gradient has no direction)."""
    evals, evecs = torch.linalg.eigh(k)
    floor = eps * evals.amax(dim=-1, keepdim=True).clamp_min(torch.finfo(k.dtype).tiny)
    inv = evals.clamp_min(floor).rsqrt()
    return (evecs * inv.unsqueeze(-2)) @ evecs.transpose(-1, -2)


def normalize_features(grads: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """F_i = K_ii^{-1/2} G_i^T from G given as [n, d, p]; for d = 1 the unit gradient.
    Then tr(K^C(x_i, x_j)) = <F_i, F_j> and k(x_i, x_j) = <F_i, F_j> / d."""
    if grads.ndim != 3:
        raise ValueError(f"grads must be [n, d, p], got shape {tuple(grads.shape)}")
    if grads.shape[1] == 1:
        norms = grads.norm(dim=2, keepdim=True)
        return grads / norms.clamp_min(torch.finfo(grads.dtype).tiny)
    self_k = grads @ grads.transpose(1, 2)  # [n, d, d] = K(x_i, x_i)
    return inv_sqrt_psd(self_k, eps) @ grads


def similarity_matrix(fa: torch.Tensor, fb: torch.Tensor | None = None) -> torch.Tensor:
    """k(a_i, b_j) = tr(K^C)/d for normalised features [na, d, p], [nb, d, p] -> [na, nb]."""
    fb = fa if fb is None else fb
    d = fa.shape[1]
    return fa.reshape(fa.shape[0], -1) @ fb.reshape(fb.shape[0], -1).T / d


def normalized_kernel(ga: torch.Tensor, gb: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """K^C(x, x') for paired samples, computed directly from its definition: G [n, d, p]
    each -> [n, d, d]. Used to check the feature route and for single pairs."""
    k_ab = ga @ gb.transpose(1, 2)
    k_aa = ga @ ga.transpose(1, 2)
    k_bb = gb @ gb.transpose(1, 2)
    return inv_sqrt_psd(k_aa, eps) @ k_ab @ inv_sqrt_psd(k_bb, eps)


def gram_rows(g_query: torch.Tensor, g_all: torch.Tensor) -> torch.Tensor:
    """Unnormalised K(x_i, x_j) = G(x_i)^T G(x_j) for queries i and all j, from G as
    [q, d, p] and [n, d, p]: one matmul of [q d, p] by [p, n d] -> [q, n, d, d]."""
    q, d, p = g_query.shape
    n = g_all.shape[0]
    flat = g_query.reshape(q * d, p) @ g_all.reshape(n * d, p).T  # [(i, a), (j, b)]
    return flat.reshape(q, d, n, d).permute(0, 2, 1, 3)


def self_inv_sqrt(grads: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """K(x_i, x_i)^{-1/2} for G as [n, d, p] -> [n, d, d]."""
    return inv_sqrt_psd(grads @ grads.transpose(1, 2), eps)


def similarity_from_gram(
    k_rows: torch.Tensor, inv_sqrt_query: torch.Tensor, inv_sqrt_all: torch.Tensor
) -> torch.Tensor:
    """tr(K^C(x_i, x_j)) / d from unnormalised blocks [q, n, d, d] and the K(x, x)^{-1/2}
    of queries [q, d, d] and of all samples [n, d, d] -> [q, n]."""
    d = k_rows.shape[-1]
    return torch.einsum("iab,ijbc,jca->ij", inv_sqrt_query, k_rows, inv_sqrt_all) / d


def density_from_features(features: torch.Tensor) -> torch.Tensor:
    """N_S(x_i) = sum_j k(x_i, x_j) (j = i included) in O(n p): <F_i, sum_j F_j> / d."""
    return _density_against(features, features.sum(dim=0))


def _density_against(features: torch.Tensor, total: torch.Tensor) -> torch.Tensor:
    """<F_i, total> / d for features [n, d, p] and the summed features [d, p]: a
    matrix-vector product, so no [n, d, p] temporary."""
    return features.reshape(features.shape[0], -1) @ total.reshape(-1) / features.shape[1]


def density_brute_force(features: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
    """The same sums from the explicit n x n similarity matrix (row chunks): the O(n^2 p)
    reference the O(n p) route is checked against."""
    rows = _chunks(features.shape[0], _check_chunk(chunk_size))
    return torch.cat([similarity_matrix(features[sl], features).sum(dim=1) for sl in rows])


def density_exact(
    g_query: torch.Tensor, g_all: torch.Tensor, chunk_size: int = 256
) -> torch.Tensor:
    """N_S of the query samples from its definition, in float64: the sum over every sample
    j of tr(K(x_i, x_i)^{-1/2} K(x_i, x_j) K(x_j, x_j)^{-1/2}) / d, from explicit d x d
    blocks of the gradients G [q, d, p] and [n, d, p] (O(q n p), chunks of ``chunk_size``
    samples j): the reference the O(n p) feature route is checked against."""
    gq = g_query.double()
    inv_q = self_inv_sqrt(gq)
    total = torch.zeros(gq.shape[0], dtype=torch.float64, device=gq.device)
    for sl in _chunks(g_all.shape[0], _check_chunk(chunk_size)):
        ga = g_all[sl].double()
        total += similarity_from_gram(gram_rows(gq, ga), inv_q, self_inv_sqrt(ga)).sum(dim=1)
    return total


def relative_error(value: torch.Tensor, reference: torch.Tensor) -> float:
    """max_i |value_i - reference_i| / |reference_i|."""
    gap = (value.double() - reference.double()).abs() / reference.double().abs().clamp_min(1e-12)
    return float(gap.max())


def hard_count(features: torch.Tensor, threshold: float, chunk_size: int = 1024) -> torch.Tensor:
    """#{j : k(x_i, x_j) > threshold} (j = i included), from the similarity matrix in row
    chunks: O(n^2 p) time, O(chunk n) memory."""
    return row_statistics(features, [threshold], chunk_size)[1][float(threshold)]


def row_statistics(
    features: torch.Tensor, thresholds=(), chunk_size: int = 1024
) -> tuple[torch.Tensor, dict[float, torch.Tensor]]:
    """One pass over the n x n similarity matrix (row chunks): the brute-force row sums
    and the hard counts #{j : k > t} for every threshold t."""
    sums, counts = [], {float(t): [] for t in thresholds}
    for sl in _chunks(features.shape[0], _check_chunk(chunk_size)):
        sim = similarity_matrix(features[sl], features)
        sums.append(sim.sum(dim=1))
        for t in counts:
            counts[t].append((sim > t).sum(dim=1))
    return torch.cat(sums), {t: torch.cat(c) for t, c in counts.items()}


def streaming_density(
    model: torch.nn.Module,
    x: torch.Tensor,
    *,
    output_fn: OutputFn | None = None,
    chunk_size: int = 128,
) -> torch.Tensor:
    """N_S for every sample without holding all gradients: pass 1 sums the normalised
    features, pass 2 takes each sample's inner product with that sum (gradients computed
    twice, memory O(chunk p))."""
    total = None
    for g in iter_per_sample_grads(model, x, output_fn, chunk_size):
        s = normalize_features(g).sum(dim=0)
        total = s if total is None else total + s
    parts = [
        _density_against(normalize_features(g), total)
        for g in iter_per_sample_grads(model, x, output_fn, chunk_size)
    ]
    return torch.cat(parts)


def top_k_similar(
    query_features: torch.Tensor, features: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k most similar rows of ``features`` for each query: (similarities, indices)."""
    if k < 1 or k > features.shape[0]:
        raise ValueError(f"k must be in [1, {features.shape[0]}], got {k}")
    sim = similarity_matrix(query_features, features)
    return sim.topk(k, dim=1)
