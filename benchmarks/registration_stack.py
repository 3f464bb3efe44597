"""Speed benchmark of the registration training (not a timed test): the M models of one
seed's sweep trained together as a stack (repgeom.registration.models.train_regressors,
as the pipeline's registration_train job does) against M separate runs of one model
(train_regressor), on the same generated samples, one torch thread (the share of one
Snakemake job), CPU time.

    .venv/bin/python benchmarks/registration_stack.py [--models 9] [--scenes 40]
        [--epochs 1] [--width 8] [--depth 5]

Prints the CPU seconds of one separate run, of the stack, the time per model of each,
and last ``ratio: <M separate runs / the stack>`` (goal: > 1; the default run's sweep
has 9 models per seed)."""

from __future__ import annotations

import argparse
import time

import torch

from repgeom.registration.models import train_regressor, train_regressors
from repgeom.registration.scenes import make_split, noisy_labels
from repgeom.training import TrainRun


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=int, default=9)
    parser.add_argument("--scenes", type=int, default=40)  # 720 samples
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--depth", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = make_split(0, "train", args.scenes)
    labels = [
        noisy_labels(data["true"], data["building"], 0.5 * i, "iid", 0) for i in range(args.models)
    ]
    arch = {"in_channels": 5, "size": 24, "width": args.width, "depth": args.depth}
    kwargs = {"epochs": args.epochs, "batch_size": 32, "lr": 3e-3, "weight_decay": 0.0}

    def run() -> TrainRun:
        return TrainRun(0, torch.Generator().manual_seed(0), torch.device("cpu"))

    train_regressor(data["inputs"][:64], labels[0][:64], arch, **kwargs, run=run())  # warm-up
    start = time.process_time()
    train_regressor(data["inputs"], labels[0], arch, **kwargs, run=run())
    alone = time.process_time() - start
    start = time.process_time()
    train_regressors(data["inputs"], labels, arch, **kwargs, run=run())
    stack = time.process_time() - start
    n = len(data["true"])
    print(f"{n} samples, {args.epochs} epoch(s), width {args.width}, depth {args.depth}")
    print(f"one model alone: {alone:.2f} CPU s; {args.models} models as a stack: {stack:.2f} s")
    print(f"per model: alone {alone:.2f} s, in the stack {stack / args.models:.2f} s")
    print(f"ratio: {args.models * alone / stack:.3f}")


if __name__ == "__main__":
    main()
