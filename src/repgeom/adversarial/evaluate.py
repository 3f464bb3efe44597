"""Robust accuracy of one model under every attack and epsilon, as tidy metric rows.

A point counts as robust at eps when the model classifies it correctly both clean and
attacked (AutoAttack's definition), so robust accuracy never exceeds clean accuracy.
FGSM and PGD attack a random subset of ``n_points`` test points, AutoAttack and Square
its first ``aa_points`` (nested, so PGD, AutoAttack and Square compare on the same
points); the subset depends on ``subset_seed`` only, so every model sees the same one.

FGSM (and the authors' variant) run on the paper's grid ``eps``; PGD and AutoAttack on
the ``crossing_eps`` grid around the 50 % crossings (issue 14), PGD also at the largest
eps of the paper's grid (the reaches_zero check). With ``aa_bracket`` AutoAttack runs
only at the grid eps that bracket its own 50 % crossing of clean-normalised robust
accuracy (the statistic eps50 needs no other point): it starts where PGD's curve on the
same points falls below 50 % and walks the grid until the crossing is bracketed."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, fields

import torch
import torchattacks

from repgeom.adversarial import attacks as atk
from repgeom.adversarial.grid import crossing_grid, eps_grid  # noqa: F401 (re-exported)

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
    "autoattack_whitebox": CE,
    "square": "margin (black-box)",
}
MAIN, AA = "main", "aa"
WHITEBOX = "autoattack_whitebox"  # AutoAttack's white-box parts, before its Square part
OBJECTIVE = "isometry_objective"  # gradient diagnostics of the authors' attack loss
LEVEL = 0.5  # eps50: where clean-normalised robust accuracy crosses this level


def bracket_crossing(grid, start: int, measure, level: float = LEVEL) -> dict[float, float]:
    """Evaluate ``measure(eps)`` on ``grid`` (ascending) from index ``start``, walking down
    while the value is below ``level`` and up while it is at or above it, until two
    neighbouring grid points bracket the crossing or the grid ends: {eps: value}."""
    i = min(max(start, 0), len(grid) - 1)
    values = {i: measure(grid[i])}
    step = -1 if values[i] < level else 1
    while 0 <= i + step < len(grid):
        i += step
        values[i] = measure(grid[i])
        if (values[i] < level) != (step == -1):
            break
    return {grid[j]: v for j, v in sorted(values.items())}


@dataclass(frozen=True)
class AttackSettings:
    eps: tuple[float, ...]
    crossing_eps: tuple[float, ...]
    n_points: int
    subset_seed: int
    batch_size: int
    pgd_steps: int
    pgd_step_factor: float
    pgd_random_start: bool
    isometry_attacks: tuple[str, ...]
    isometry_batch_size: int
    run_autoattack: bool
    aa_bracket: bool
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
        for k in ("run_autoattack", "run_square", "aa_bracket"):
            kw[k] = bool(kw[k])
        for k in ("aa_points", "aa_steps", "aa_square_queries", "square_queries"):
            kw[k] = int(kw[k] or 0)
        for k in ("eps", "crossing_eps", "isometry_attacks", "aa_parts"):
            kw[k] = tuple(float(v) if k.endswith("eps") else v for v in kw[k] or ())
        bad = sorted(set(kw["isometry_attacks"]) - set(atk.STANDARD_ATTACKS))
        if bad:
            raise ValueError(f"isometry_attacks: unknown {bad} (allowed {atk.STANDARD_ATTACKS})")
        return cls(**kw)

    def autoattack_settings(self) -> dict:
        """The keyword settings of atk.autoattack / atk.autoattack_parts."""
        return {
            "parts": self.aa_parts,
            "steps": self.aa_steps,
            "square_queries": self.aa_square_queries,
        }

    def pgd_eps(self) -> list[float]:
        """PGD runs on the crossing grid plus the largest eps of the FGSM grid (where the
        reaches_zero check looks)."""
        top = max(self.eps)
        extra = set() if _in(top, self.crossing_eps) else {top}
        return sorted(set(self.crossing_eps) | extra)


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
    pgd_aa = {}  # PGD's robust correctness on the AutoAttack points, per crossing eps
    for method, eps, subset in attack_plan(s):
        fn = build_attack(method, eps, model, wrapped, s, beta=beta, K=K, seed=seed)
        # The authors' variant takes the isometry term over the pairs of each batch.
        chunk = s.isometry_batch_size if method.endswith("_isometry") else s.batch_size
        correct, seconds, linf = run_attack(fn, method, eps, model, x, y, clean, chunk)
        rows += attack_rows(base, detail, method, eps, correct, subset, seconds, linf)
        if method == "pgd" and _in(eps, s.crossing_eps) and _aa_any(s):
            pgd_aa[eps] = correct[:n_aa]
            rows += attack_rows(base, detail, method, eps, correct[:n_aa], AA)
        _log_attack(log, method, eps, correct, seconds)
    if _aa_any(s):
        xa, ya = x[:n_aa], y[:n_aa]
        rows += strong_attacks(model, wrapped, xa, ya, clean[:n_aa], pgd_aa, s, base, seed, log)
    if s.isometry_attacks:
        ratio, cosine = atk.objective_gradients(model, x, y, beta, K, s.isometry_batch_size)
        common = {**base, "method": OBJECTIVE, "eps": 0.0, "subset": MAIN, "n_points": len(y)}
        common |= {"attack_loss": CE_ISO, "attack_detail": detail["fgsm_isometry"]}
        rows.append({**common, "metric": "grad_norm_ratio", "value": ratio})
        rows.append({**common, "metric": "grad_cosine", "value": cosine})
        log.info("isometry term: gradient %.3g x the CE gradient, cosine %.3f", ratio, cosine)
    return rows


def _log_attack(log, method, eps, correct, seconds):
    log.info(
        "%-14s eps %.4g: robust accuracy %.4f (%.1f s)",
        method,
        eps,
        correct.float().mean(),
        seconds,
    )


def normalised(correct: torch.Tensor, clean: torch.Tensor) -> float:
    """Clean-normalised robust accuracy: robust points / clean-correct points."""
    return float(correct.sum()) / max(int(clean.sum()), 1)


def strong_attacks(model, wrapped, x, y, clean, pgd_aa, s, base, seed, log) -> list[dict]:
    """AutoAttack (at every crossing eps, or at those bracketing its 50 % crossing) and
    the standalone Square check at the same eps, on the AutoAttack points."""
    detail = attack_details(s)
    rows: list[dict] = []

    def autoattack_at(eps: float) -> float:
        correct, whitebox, seconds, linf = run_autoattack(model, wrapped, x, y, clean, eps, s, seed)
        rows.extend(attack_rows(base, detail, "autoattack", eps, correct, AA, seconds, linf))
        if whitebox is not None:  # its white-box parts alone, for the square_vs_whitebox check
            rows.extend(attack_rows(base, detail, WHITEBOX, eps, whitebox, AA))
        _log_attack(log, "autoattack", eps, correct, seconds)
        return normalised(correct, clean)

    grid = sorted(s.crossing_eps)
    if not s.run_autoattack:
        done = grid
    elif s.aa_bracket:
        below = [i for i, e in enumerate(grid) if normalised(pgd_aa[e], clean) < LEVEL]
        done = list(bracket_crossing(grid, below[0] if below else len(grid) - 1, autoattack_at))
    else:
        done = grid
        for eps in grid:
            autoattack_at(eps)
    if s.run_square:
        for eps in done:
            fn = build_attack("square", eps, model, wrapped, s, beta=0.0, K=0.0, seed=seed)
            correct, seconds, linf = run_attack(fn, "square", eps, model, x, y, clean, s.batch_size)
            rows += attack_rows(base, detail, "square", eps, correct, AA, seconds, linf)
            _log_attack(log, "square", eps, correct, seconds)
    return rows


def run_autoattack(model, wrapped, x, y, clean, eps, s, seed):
    """AutoAttack's parts in order, each on the points still robust (as
    torchattacks.MultiAttack): (robust correctness, correctness after the white-box parts
    when a Square part follows them, else None, seconds, max L-inf perturbation)."""
    start = time.perf_counter()
    robust = clean.clone()
    whitebox, linf = None, 0.0
    parts = atk.autoattack_parts(wrapped, eps, seed=seed, **s.autoattack_settings())
    for name, fn in parts:
        if name == "square" and whitebox is None and len(parts) > 1:
            whitebox = robust.clone()
        idx = robust.nonzero().ravel()
        if len(idx) == 0:
            continue
        x_adv = atk.in_chunks(fn, x[idx], y[idx], s.batch_size)
        what = f"autoattack {name} eps={eps:.4g}"
        linf = max(linf, atk.check_perturbation(x_adv, x[idx], eps, what))
        robust[idx] = atk.predict(model, x_adv) == y[idx]
    return robust, whitebox, time.perf_counter() - start, linf


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
        WHITEBOX: f"the white-box parts of AutoAttack ({s.aa_steps} steps)",
        "square": f"{s.square_queries} queries",
    }


def _aa_any(s: AttackSettings) -> bool:
    return s.run_autoattack or s.run_square


def attack_plan(s: AttackSettings) -> list[tuple[str, float, str]]:
    """(method, eps, subset) of the FGSM and PGD runs, in order (AutoAttack and Square
    follow, at eps that may depend on these results: strong_attacks)."""
    plan = [("fgsm", e, MAIN) for e in s.eps] + [("pgd", e, MAIN) for e in s.pgd_eps()]
    for name in s.isometry_attacks:
        plan += [(f"{name}_isometry", e, MAIN) for e in s.eps]
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
        return atk.autoattack(wrapped, eps, seed=seed, **s.autoattack_settings())
    if method == "square":
        return atk.square(wrapped, eps, n_queries=s.square_queries, seed=seed)
    raise ValueError(f"unknown attack {method!r}")
