"""Glue between a Snakemake rule script and the library: every script opens
``rule_run(snakemake)``, which sends logging to the rule's log file, seeds,
picks the device, and on success writes the provenance sidecar."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from repgeom.io import remove_stale_temporaries
from repgeom.provenance import RunTimer, build_provenance, write_provenance

if TYPE_CHECKING:
    import torch

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass
class RuleRun:
    log: logging.Logger
    params: dict
    seed: int | None
    device: torch.device | None  # None: the rule does no torch work
    generator: torch.Generator | None
    extra: dict[str, Any] = field(default_factory=dict)


def _log_to_file(path: str | None) -> logging.Logger:
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handler = logging.FileHandler(path) if path else logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    logging.captureWarnings(True)
    return logging.getLogger("repgeom")


STARTUP_MESSAGE = "start-up %.2f s (interpreter, imports, Snakemake's script preamble)"


def process_age_s() -> float:
    """Seconds since this process started (Linux /proc; NaN elsewhere): at the top of
    ``rule_run``, the job's start-up before any of its own work."""
    try:
        with open("/proc/self/stat") as f:
            # Field 22 (starttime, clock ticks after boot); the command name (field 2)
            # may hold spaces, so count from its closing parenthesis.
            started = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - started / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return math.nan


def _seed_of(smk, params: dict) -> int | None:
    if "seed" in smk.wildcards.keys():
        return int(smk.wildcards["seed"])
    return params.get("seed")


def _uses_torch(seed: int | None, params: dict) -> bool:
    # Scripts import their modules before opening rule_run, so torch is loaded
    # already when the work needs it; tables and figures skip its ~2 s import.
    return "torch" in sys.modules or seed is not None or "device" in params


def _torch_setup(smk, seed: int | None, params: dict):
    from repgeom.runtime import configure_threads, seed_everything, select_device

    configure_threads(smk.threads)
    generator = (
        seed_everything(seed, params.get("deterministic", True)) if seed is not None else None
    )
    return select_device(params.get("device", "cpu")), generator


def _remove_stale_temporaries(smk, log: logging.Logger) -> None:
    # A killed earlier try of this job left its half-written outputs' temporaries;
    # no one else writes this job's outputs while it runs.
    for output in smk.output:
        for path in remove_stale_temporaries(output):
            log.info("removed %s, left by an interrupted earlier run", path)


@contextlib.contextmanager
def rule_run(smk) -> Iterator[RuleRun]:
    startup = process_age_s()
    log = _log_to_file(smk.log[0] if smk.log else None)
    log.info(STARTUP_MESSAGE, startup)
    _remove_stale_temporaries(smk, log)
    params = dict(smk.params.items())
    seed = _seed_of(smk, params)
    device, generator = (
        _torch_setup(smk, seed, params) if _uses_torch(seed, params) else (None, None)
    )
    if "plot" in params:  # figure rules: the config's plot settings
        from repgeom.figures import configure

        configure(params["plot"])
    run = RuleRun(log=log, params=params, seed=seed, device=device, generator=generator)
    log.info("rule %s: params %s, seed %s, device %s", smk.rule, params, seed, device)
    with RunTimer() as timer:
        try:
            yield run
        except Exception:
            log.exception("rule %s failed", smk.rule)
            raise
    log.info("rule %s finished in %.1f s", smk.rule, timer.elapsed)
    if "provenance" in smk.output.keys():
        prov = build_provenance(
            params=params, seed=seed, device=device, wall_time_s=timer.elapsed, extra=run.extra
        )
        write_provenance(smk.output.provenance, prov)
