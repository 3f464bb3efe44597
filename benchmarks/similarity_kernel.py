"""Speed benchmark of the similarity stage's density N_S (not a timed test).

On n registration samples (default 2048, generated from a seed) and one registration CNN
(a trained model file with --model, else a freshly initialised one of the default
architecture), compute the density N_S(x_i) = sum_j k(x_i, x_j) under the 2-output
normalised kernel two ways:

- batched: per-sample gradients with torch.func (vmap over jacrev, chunked), normalised
  features, N_S = <F_i, sum_j F_j> / d in O(n p);
- loop: one forward and d backward passes per sample in Python, then the same sums.

Prints both times, the speed ratio (goal: >= 20x on 2 CPU cores), the largest relative
difference between the O(n p) density and the brute-force n x n row sums (goal: < 1e-4),
and the largest gap between the two gradient routes; the last line is `ratio: <number>`.

It also times a floor: one batched forward and d backward passes of the summed outputs,
in the same chunks, with no per-sample work. Every exact method needs at least that (each
per-sample gradient is the backprop of one output), so loop / floor bounds the ratio any
batched implementation can reach on this model and machine.

    .venv/bin/python benchmarks/similarity_kernel.py [--n 2048] [--model PATH] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from repgeom.registration.models import build_model, load_model  # noqa: E402
from repgeom.registration.scenes import make_samples  # noqa: E402
from repgeom.similarity.kernel import (  # noqa: E402
    density_brute_force,
    density_from_features,
    normalize_features,
    per_sample_grads,
)


def loop_grads(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The baseline: a Python loop over samples, one backward per output, [n, d, p]."""
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        y = model(x[i : i + 1]).reshape(-1)
        per_output = []
        for r in range(y.shape[0]):
            grads = torch.autograd.grad(y[r], params, retain_graph=r + 1 < y.shape[0])
            per_output.append(torch.cat([g.reshape(-1) for g in grads]))
        rows.append(torch.stack(per_output))
    return torch.stack(rows)


def forward_backward_floor(model: torch.nn.Module, x: torch.Tensor, chunk_size: int) -> None:
    """Batched forward plus one backward per output of the summed outputs, per chunk."""
    params = [p for p in model.parameters() if p.requires_grad]
    for start in range(0, x.shape[0], chunk_size):
        y = model(x[start : start + chunk_size]).reshape(min(chunk_size, x.shape[0] - start), -1)
        for r in range(y.shape[1]):
            torch.autograd.grad(y[:, r].sum(), params, retain_graph=r + 1 < y.shape[1])


def timed(fn):
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2048, help="registration samples")
    ap.add_argument("--model", default=None, help="a registration model file (default: fresh)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(args.seed)
    x = make_samples(args.n, seed=args.seed)["inputs"].to(device)
    model = (
        load_model(args.model, device)
        if args.model
        else build_model(init_seed=args.seed).to(device).eval()
    )
    p = sum(t.numel() for t in model.parameters())
    print(f"n = {args.n} registration samples, p = {p} parameters, {args.threads} threads")
    per_sample_grads(model, x[:8])  # warm-up (first vmap call traces)

    def batched():
        feats = normalize_features(per_sample_grads(model, x, chunk_size=args.chunk_size))
        return feats, density_from_features(feats)

    def looped():
        feats = normalize_features(loop_grads(model, x))
        return feats, density_from_features(feats)

    (feats, fast), t_batched = timed(batched)
    _, t_floor = timed(lambda: forward_backward_floor(model, x, args.chunk_size))
    (feats_loop, fast_loop), t_loop = timed(looped)
    brute = density_brute_force(feats)
    rel = float(((fast - brute).abs() / brute.abs()).max())
    route = float(((fast - fast_loop).abs() / fast_loop.abs()).max())
    ratio = t_loop / t_batched
    print(f"batched (torch.func vmap, chunks of {args.chunk_size}): {t_batched:.2f} s")
    print(f"per-sample backward loop: {t_loop:.2f} s")
    print(
        f"floor (batched forward + {feats.shape[1]} summed backward passes, no per-sample "
        f"work): {t_floor:.2f} s; ceiling on the ratio: {t_loop / t_floor:.1f}"
    )
    print(f"mean N_S = {float(fast.mean()):.2f} (of n = {args.n})")
    print(f"max relative difference O(n p) density vs brute-force n x n row sums: {rel:.3e}")
    print(f"max relative difference batched vs loop gradients (density): {route:.3e}")
    print(f"ratio: {ratio:.1f}")


if __name__ == "__main__":
    main()
