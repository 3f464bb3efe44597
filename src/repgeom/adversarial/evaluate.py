"""Robust accuracy of one model under every attack and epsilon, as tidy metric rows.

A point counts as robust at eps when the model classifies it correctly both clean and
attacked (AutoAttack's definition), so robust accuracy never exceeds clean accuracy.
FGSM and PGD attack a random subset of ``n_points`` test points, AutoAttack and Square
its first ``aa_points`` (nested, so PGD, AutoAttack and Square compare on the same
points); the subset depends on ``subset_seed`` only, so every model sees the same one."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, fields

import numpy as np
import torch
import torchattacks

from repgeom.adversarial import attacks as atk

STAGE = "adversarial"
CE = "cross-entropy"
CE_ISO = "cross-entropy + beta*isometry (authors' variant)"
# attack key -> (loss, ε range it runs over)
ATTACK_LOSS = {
    "fgsm": CE,
    "pgd": CE,
    "fgsm_isometry": CE_ISO,
    "pgd_isometry": CE_ISO,
    "autoattack": CE,
    "square": "margin (black-box)",
}
MAIN, AA = "main", "aa"


def eps_grid(start: float, stop: float, num: int) -> list[float]:
    """The paper's FGSM grid: numpy.logspace(start, stop, num)."""
    return [float(e) for e in np.logspace(start, stop, num)]


@dataclass(frozen=True)
class AttackSettings:
    eps: tuple[float, ...]
    n_points: int
    subset_seed: int
    batch_size: int
    pgd_steps: int
    pgd_step_factor: float
    pgd_random_start: bool
    isometry_attacks: tuple[str, ...]
    isometry_batch_size: int
    run_autoattack: bool
    aa_eps: tuple[float, ...]
    aa_points: int
    aa_parts: tuple[str, ...]
    aa_steps: int
    aa_square_queries: int
    run_square: bool
    square_queries: int

    @classmethod
    def from_params(cls, params: dict) -> AttackSettings:
        """From a rule's params (extra keys such as device are ignored)."""
        names = {f.name for f in fields(cls)}
        missing = sorted(names - params.keys())
        if missing:
            raise ValueError(f"attack settings missing {missing}")
        kw = {k: params[k] for k in names}
        # AutoAttack/Square settings are None for the models they do not attack.
        kw["run_autoattack"], kw["run_square"] = bool(kw["run_autoattack"]), bool(kw["run_square"])
        for k in ("aa_points", "aa_steps", "aa_square_queries", "square_queries"):
            kw[k] = int(kw[k] or 0)
        for k in ("eps", "isometry_attacks", "aa_eps", "aa_parts"):
            kw[k] = tuple(float(v) if k.endswith("eps") else v for v in kw[k] or ())
        bad = sorted(set(kw["isometry_attacks"]) - set(atk.STANDARD_ATTACKS))
        if bad:
            raise ValueError(f"isometry_attacks: unknown {bad} (allowed {atk.STANDARD_ATTACKS})")
        return cls(**kw)

    def pgd_eps(self) -> list[float]:
        """PGD runs on the FGSM grid plus the AutoAttack/Square epsilons (for the checks)."""
        extra = self.aa_eps if (self.run_autoattack or self.run_square) else ()
        return sorted(set(self.eps) | {e for e in extra if not _in(e, self.eps)})


def _in(value: float, values) -> bool:
    return any(math.isclose(value, v, rel_tol=1e-9, abs_tol=1e-12) for v in values)


def subset_indices(n_total: int, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n_total, generator=gen)[: min(n, n_total)]


def attack_rows(base, detail, method, eps, correct, subset, seconds=None, linf=None):
    """Tidy rows of one attack at one eps on one subset: accuracy, plus time_s and max_linf
    when the attack was timed (not for clean points or for PGD re-read on the AA points)."""
    common = {
        **base,
        "method": method,
        "eps": eps,
        "subset": subset,
        "n_points": len(correct),
        "attack_loss": ATTACK_LOSS.get(method, "none"),
        "attack_detail": detail.get(method, ""),
    }
    rows = [{**common, "metric": "accuracy", "value": float(correct.float().mean())}]
    if seconds is not None:
        rows.append({**common, "metric": "time_s", "value": seconds})
        rows.append({**common, "metric": "max_linf", "value": linf})
    return rows


def run_attack(fn, method, eps, model, xs, ys, clean, chunk):
    """Attack ``xs`` with ``fn`` in chunks: (robust correctness of each point, seconds,
    max L-inf perturbation, checked against ``eps``)."""
    start = time.perf_counter()
    x_adv = atk.in_chunks(fn, xs, ys, chunk)
    linf = atk.check_perturbation(x_adv, xs, eps, f"{method} eps={eps:.4g}")  # syncs
    seconds = time.perf_counter() - start
    correct = clean[: len(ys)] & (atk.predict(model, x_adv) == ys)
    return correct, seconds, linf


def evaluate_model(
    model: torch.nn.Module,
    meta: dict,
    images: torch.Tensor,
    labels: torch.Tensor,
    settings: AttackSettings,
    *,
    seed: int,
    logger: logging.Logger | None = None,
) -> list[dict]:
    """Attack ``model`` (eval mode, on the device of ``images``) on the test set given as
    uint8 ``images`` [N, 1, 28, 28] and ``labels``; returns tidy rows (accuracy per
    attack and eps, plus time_s and max_linf per attack and eps)."""
    log = logger or logging.getLogger("repgeom.adversarial")
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)  # only input gradients are needed
    s = settings
    idx = subset_indices(len(labels), s.n_points, s.subset_seed).to(labels.device)
    x = images[idx].float() / 255.0
    y = labels[idx]
    n_aa = min(s.aa_points, len(y))
    beta, K = float(meta["beta"]), float(meta["K"])
    base = {"stage": STAGE, "seed": int(seed), "dataset": meta["dataset"], "beta": beta, "K": K}
    clean = atk.predict(model, x) == y
    log.info(
        "clean accuracy %.4f on %d points (%d for AutoAttack/Square)",
        clean.float().mean(),
        len(y),
        n_aa,
    )
    detail = attack_details(s)
    rows = [
        *attack_rows(base, detail, "clean", 0.0, clean, MAIN),
        *attack_rows(base, detail, "clean", 0.0, clean[:n_aa], AA),
    ]
    wrapped = atk.LogitsModel(model)
    for method, eps, subset in attack_plan(s):
        xs, ys = (x, y) if subset == MAIN else (x[:n_aa], y[:n_aa])
        fn = build_attack(method, eps, model, wrapped, s, beta=beta, K=K, seed=seed)
        # The authors' variant takes the isometry term over the pairs of each batch.
        chunk = s.isometry_batch_size if method.endswith("_isometry") else s.batch_size
        correct, seconds, linf = run_attack(fn, method, eps, model, xs, ys, clean, chunk)
        rows += attack_rows(base, detail, method, eps, correct, subset, seconds, linf)
        if method == "pgd" and subset == MAIN and _in(eps, s.aa_eps) and _aa_any(s):
            # PGD on the AA points
            rows += attack_rows(base, detail, method, eps, correct[:n_aa], AA)
        log.info(
            "%-14s eps %.4g: robust accuracy %.4f (%.1f s)",
            method,
            eps,
            correct.float().mean(),
            seconds,
        )
    return rows


def attack_details(s: AttackSettings) -> dict[str, str]:
    """Short description of each attack's settings (kept in the tables and figures)."""
    pgd = f"{s.pgd_steps} steps of {s.pgd_step_factor:g}*eps/{s.pgd_steps}" + (
        ", random start" if s.pgd_random_start else ""
    )
    return {
        "fgsm": "1 step",
        "pgd": pgd,
        "fgsm_isometry": f"1 step, isometry term over batches of {s.isometry_batch_size}",
        "pgd_isometry": f"{pgd}, isometry term over batches of {s.isometry_batch_size}",
        "autoattack": f"{'+'.join(s.aa_parts)}, {s.aa_steps} steps"
        + (f", square {s.aa_square_queries} queries" if "square" in s.aa_parts else ""),
        "square": f"{s.square_queries} queries",
    }


def _aa_any(s: AttackSettings) -> bool:
    return s.run_autoattack or s.run_square


def attack_plan(s: AttackSettings) -> list[tuple[str, float, str]]:
    """(method, eps, subset) for every attack run, in order."""
    plan = [("fgsm", e, MAIN) for e in s.eps] + [("pgd", e, MAIN) for e in s.pgd_eps()]
    for name in s.isometry_attacks:
        plan += [(f"{name}_isometry", e, MAIN) for e in s.eps]
    for e in s.aa_eps:
        if s.run_autoattack:
            plan.append(("autoattack", e, AA))
        if s.run_square:
            plan.append(("square", e, AA))
    return plan


def build_attack(method, eps, model, wrapped, s: AttackSettings, *, beta, K, seed):
    """A callable (x, y) -> adversarial x for one attack at one eps."""
    alpha = s.pgd_step_factor * eps / s.pgd_steps
    if method == "fgsm":
        return torchattacks.FGSM(wrapped, eps=eps)
    if method == "pgd":
        return torchattacks.PGD(
            wrapped, eps=eps, alpha=alpha, steps=s.pgd_steps, random_start=s.pgd_random_start
        )
    if method in ("fgsm_isometry", "pgd_isometry"):
        loss = atk.isometry_attack_loss(beta, K)
        if method == "fgsm_isometry":
            return lambda xb, yb: atk.fgsm(model, xb, yb, eps, loss)
        return lambda xb, yb: atk.pgd(
            model,
            xb,
            yb,
            eps,
            alpha=alpha,
            steps=s.pgd_steps,
            random_start=s.pgd_random_start,
            loss_fn=loss,
        )
    if method == "autoattack":
        return atk.autoattack(
            wrapped,
            eps,
            parts=s.aa_parts,
            steps=s.aa_steps,
            square_queries=s.aa_square_queries,
            seed=seed,
        )
    if method == "square":
        return atk.square(wrapped, eps, n_queries=s.square_queries, seed=seed)
    raise ValueError(f"unknown attack {method!r}")
