"""The jobs that make a set of target files, found from the workflow's rules the way
Snakemake resolves them (producer by output pattern, ``ruleorder`` for ties, inputs
expanded from the job's wildcards). The run summary uses it to time and trace exactly
the jobs of the configured DAG, not whatever files lie on disk from other runs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class PlannedJob:
    rule: str
    outputs: tuple[str, ...]
    benchmark: str | None
    log: str | None = None


def _producer(rules: list, path: str):
    """The rule Snakemake would pick to make ``path``; None for a source file."""
    candidates = [r for r in rules if r.output and r.is_producer(path)]
    # Rule comparison is Snakemake's ruleorder (then: fewer wildcards wins).
    best = [r for r in candidates if not any(other > r for other in candidates)]
    if len(best) > 1:
        names = sorted(r.name for r in best)
        raise ValueError(f"{path}: made by several rules {names}; add a ruleorder")
    return best[0] if best else None


def planned_jobs(rules: Iterable, targets: Iterable[str]) -> list[PlannedJob]:
    """Every job needed to make ``targets`` with ``rules`` (Snakemake ``Rule`` objects,
    e.g. ``workflow.rules``), each once, whether or not it must run now."""
    return list(_planned_jobs(tuple(rules), tuple(map(str, targets))))


def job_benchmarks(rules: Iterable, targets: Iterable[str]) -> list[str]:
    """The benchmark file of every job needed to make ``targets`` (that has one)."""
    return [job.benchmark for job in planned_jobs(rules, targets) if job.benchmark]


def job_logs(rules: Iterable, targets: Iterable[str]) -> list[str]:
    """The log file of every job needed to make ``targets`` (that has one)."""
    return [job.log for job in planned_jobs(rules, targets) if job.log]


def job_sidecars(rules: Iterable, targets: Iterable[str]) -> list[str]:
    """The provenance sidecars (``*provenance.json``) those jobs write."""
    jobs = planned_jobs(rules, targets)
    return [out for job in jobs for out in job.outputs if out.endswith("provenance.json")]


@cache  # several input functions of one DAG ask for the same walk
def _planned_jobs(rules: tuple, targets: tuple[str, ...]) -> tuple[PlannedJob, ...]:
    jobs: dict[tuple, PlannedJob] = {}
    seen: set[str] = set()
    todo = [str(t) for t in targets]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        rule = _producer(rules, path)
        if rule is None:
            continue
        wildcards = dict(rule.get_wildcards(path))
        key = (rule.name, tuple(sorted(wildcards.items())))
        if key in jobs:
            continue
        inputs = rule.expand_input(wildcards)[0]
        outputs = rule.expand_output(wildcards)[0]
        benchmark = rule.expand_benchmark(wildcards) if rule.benchmark else None
        logs = rule.expand_log(wildcards) if rule.log else []
        jobs[key] = PlannedJob(
            rule.name,
            tuple(map(str, outputs)),
            str(benchmark) if benchmark else None,
            str(logs[0]) if logs else None,
        )
        todo.extend(str(f) for f in inputs)
    return tuple(sorted(jobs.values(), key=lambda j: (j.rule, j.outputs)))
