"""Speed benchmark of the adversarial stage (not a timed test): PGD-40 (torchattacks, as
the pipeline runs it) on the authors' MLP, against the floor of 40 plain forward-backward
passes (cross-entropy, gradient w.r.t. the inputs) over the same data in the same chunks.

    .venv/bin/python benchmarks/adversarial.py [--n 1000] [--batch-size 1000] [--device auto]

Prints PGD-40 throughput in examples/s and, last, ``ratio: <PGD time / floor time>``."""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
import torchattacks

from repgeom.adversarial.attacks import LogitsModel, in_chunks
from repgeom.isometry.models import IsometricMLP
from repgeom.runtime import seed_everything, select_device

STEPS = 40


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_of(fn, repeats: int, device: torch.device) -> float:
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="examples attacked")
    ap.add_argument("--batch-size", type=int, default=1000, help="attack chunk size")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    seed_everything(0)
    device = select_device(args.device)
    model = IsometricMLP().to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.rand(args.n, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (args.n,), device=device)
    eps = 0.1

    def floor_chunk(xb, yb):
        for _ in range(STEPS):
            xb = xb.detach().requires_grad_(True)
            grad = torch.autograd.grad(F.cross_entropy(model(xb), yb), xb)[0]
        return grad

    pgd = torchattacks.PGD(LogitsModel(model), eps=eps, alpha=2.5 * eps / STEPS, steps=STEPS)
    best_of(lambda: in_chunks(pgd, x, y, args.batch_size), 1, device)  # warm-up
    t_floor = best_of(lambda: in_chunks(floor_chunk, x, y, args.batch_size), args.repeats, device)
    t_pgd = best_of(lambda: in_chunks(pgd, x, y, args.batch_size), args.repeats, device)
    print(f"device: {device}, torch threads: {torch.get_num_threads()}")
    print(f"examples: {args.n}, chunk: {args.batch_size}, steps: {STEPS}")
    print(f"floor (40 forward-backward passes): {t_floor:.3f} s, {args.n / t_floor:.1f} examples/s")
    print(f"PGD-40 (torchattacks): {t_pgd:.3f} s, {args.n / t_pgd:.1f} examples/s")
    print(f"ratio: {t_pgd / t_floor:.3f}")


if __name__ == "__main__":
    main()
