"""Speed benchmark of the eigenmaps pretraining (not a timed test): one epoch of NeuralEF
pretraining with the batched tensor augmentations (repgeom.eigenmaps.augment, as the
pipeline runs it) against the usual torchvision pipeline (per-sample PIL transforms in a
Dataset, batched by a DataLoader) feeding the same model, loss, optimiser and batch size.

    .venv/bin/python benchmarks/ssl_epoch.py [--n 4096] [--batch-size 256] [--workers 0]
        [--threads 0] [--data results/data/mnist.pt] [--device auto]

By default both pipelines have the whole machine, as the goal (>= 3x on the 2-core CPU)
reads: torch's own thread count (all cores) and the DataLoader's default of 0 workers
(--workers 1 overlaps the PIL transforms with the model step on 2 cores, which measured
slightly worse for the loader there). --threads 1 gives the share of one pipeline job
(Snakemake runs one job per core, each with 1 thread). The model is trained in the
layout pretrain() uses (channels-last). Images are generated
(uint8 noise with digit-sized blobs; the cost of either pipeline does not depend on the
content) unless --data names a prepared dataset file. Prints both epoch times, the
model's FLOPs per epoch and the fraction of this machine's own float32 matmul throughput
that the batched epoch achieves, the augmentation-only times of both pipelines (no
model), and last ``ratio: <per-sample epoch time / batched epoch time>``."""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from repgeom.eigenmaps.augment import AugmentConfig, augment
from repgeom.eigenmaps.models import build_model, to_training_layout
from repgeom.eigenmaps.ssl import ssl_loss
from repgeom.runtime import seed_everything, select_device
from repgeom.training import iterate_minibatches

LOSS = {"alpha": 0.16, "t": 10.0, "stop_grad": True}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def make_images(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Dark background, a bright random blob per image, some noise: MNIST-like statistics."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centre = size / 2 + (torch.rand(n, 2, generator=gen) - 0.5) * size / 3
    radius = size / 6 + torch.rand(n, 1, 1, generator=gen) * size / 8
    d2 = (yy - centre[:, 0, None, None]) ** 2 + (xx - centre[:, 1, None, None]) ** 2
    img = torch.exp(-d2 / (2 * radius**2)) + 0.1 * torch.rand(n, size, size, generator=gen)
    return (img.clamp(0, 1) * 255).to(torch.uint8).unsqueeze(1)


def torchvision_transform(cfg: AugmentConfig, size: int):
    """The same augmentation list as torchvision per-sample transforms on PIL images."""
    from torchvision import transforms as T

    kernel = 2 * max(1, round(2 * cfg.blur_sigma[1])) + 1
    return T.Compose(
        [
            T.RandomResizedCrop(size, scale=cfg.crop_scale, ratio=cfg.crop_ratio, antialias=True),
            T.RandomHorizontalFlip(cfg.flip_p),
            T.RandomApply([T.ColorJitter(cfg.brightness, cfg.contrast)], p=cfg.jitter_p),
            T.RandomApply([T.GaussianBlur(kernel, cfg.blur_sigma)], p=cfg.blur_p),
            T.ToTensor(),
        ]
    )


class PairDataset(torch.utils.data.Dataset):
    """Two independently transformed views of each uint8 image, via PIL."""

    def __init__(self, images: torch.Tensor, transform):
        self.images = images[:, 0].numpy()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        img = Image.fromarray(self.images[i], mode="L")
        return self.transform(img), self.transform(img)


def step(model, opt, v1, v2) -> None:
    opt.zero_grad(set_to_none=True)
    loss, _ = ssl_loss("neuralef", model(v1), model(v2), LOSS)
    loss.backward()
    opt.step()


def batched_epoch(model, opt, images, cfg, batch_size, gen, device) -> None:
    for idx in iterate_minibatches(len(images), batch_size, generator=gen, drop_last=True):
        batch = images[idx.to(images.device)]
        step(model, opt, augment(batch, cfg, gen), augment(batch, cfg, gen))


def batched_views(images, cfg, batch_size, gen) -> None:
    for idx in iterate_minibatches(len(images), batch_size, generator=gen, drop_last=True):
        batch = images[idx.to(images.device)]
        augment(batch, cfg, gen), augment(batch, cfg, gen)


def loader_views(loader) -> None:
    for _ in loader:
        pass


def loader_epoch(model, opt, loader, device) -> None:
    for v1, v2 in loader:
        step(model, opt, v1.to(device, non_blocking=True), v2.to(device, non_blocking=True))


def timed(fn, device) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def step_flops(model, opt, images, cfg, batch_size, gen) -> int:
    """FLOPs of one training step (forward and backward of both views)."""
    batch = images[:batch_size]
    with FlopCounterMode(display=False) as counter:
        step(model, opt, augment(batch, cfg, gen), augment(batch, cfg, gen))
    return counter.get_total_flops()


def matmul_flops_per_s(device: torch.device, n: int = 1024, repeats: int = 10) -> float:
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    a @ b  # warm-up
    best = min(timed(lambda: a @ b, device) for _ in range(repeats))
    return 2 * n**3 / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4096, help="images per epoch")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    ap.add_argument("--data", default=None, help="prepared dataset file (else generated)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = seed_everything(0)
    device = select_device(args.device)
    if args.data:
        from repgeom.data import load_dataset

        images = load_dataset(args.data)["train_images"][: args.n]
    else:
        images = make_images(args.n, 28, gen)
    if images.shape[1] != 1:
        raise ValueError("this benchmark's PIL pipeline handles grey images only")
    cfg = AugmentConfig()
    model = build_model("cnn", 1, proj_hidden=128, proj_dim=128, feature_dim=256).to(device)
    to_training_layout(model)  # as pretrain() trains it
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(
        PairDataset(images, torchvision_transform(cfg, images.shape[-1])),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        persistent_workers=args.workers > 0,
        pin_memory=device.type == "cuda",
    )
    on_device = images.to(device)
    flops = step_flops(model, opt, on_device, cfg, args.batch_size, gen)
    steps = args.n // args.batch_size
    # Warm-up (allocator, worker start-up), then one timed epoch each.
    batched_epoch(model, opt, on_device[: 2 * args.batch_size], cfg, args.batch_size, gen, device)
    t_batched = timed(
        lambda: batched_epoch(model, opt, on_device, cfg, args.batch_size, gen, device), device
    )
    loader_epoch(model, opt, loader, device)
    t_loader = timed(lambda: loader_epoch(model, opt, loader, device), device)
    t_views_batched = timed(lambda: batched_views(on_device, cfg, args.batch_size, gen), device)
    t_views_loader = timed(lambda: loader_views(loader), device)
    peak = matmul_flops_per_s(device)
    achieved = flops * steps / t_batched
    print(f"device: {device}, torch threads: {torch.get_num_threads()}, workers: {args.workers}")
    print(f"images: {args.n}, batch: {args.batch_size}, steps: {steps}")
    print(f"batched tensor augmentations: {t_batched:.2f} s/epoch, {args.n / t_batched:.0f} img/s")
    print(f"torchvision + DataLoader:     {t_loader:.2f} s/epoch, {args.n / t_loader:.0f} img/s")
    print(f"model: {flops / 1e9:.2f} GFLOP per step, achieved {achieved / 1e9:.2f} GFLOP/s")
    print(
        f"augmentations only: batched {t_views_batched:.2f} s, per-sample {t_views_loader:.2f} s "
        f"({t_views_loader / t_views_batched:.1f}x)"
    )
    print(f"matmul peak: {peak / 1e9:.1f} GFLOP/s, achieved fraction: {achieved / peak:.3f}")
    print(f"ratio: {t_loader / t_batched:.3f}")


if __name__ == "__main__":
    main()
