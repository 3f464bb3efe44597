"""The claims registry (claims_registry.yaml beside this module): which claims each
paper makes, the cases each must be tested for under a given config, the validity
gates each verdict rests on, and what the paper itself reports.

A case is the tuple of a claim's case dimensions (noise and sigma for R1, dataset
and attack for I3, ...); ``case_key`` writes it in one canonical text form
("noise=iid; sigma=2"), numbers with ``:g``, so a stage's row and the registry's
expectation compare equal whatever types they went through (2, 2.0, "2.0")."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REGISTRY_PATH = Path(__file__).with_name("claims_registry.yaml")


@dataclass(frozen=True)
class Paper:
    key: str
    citation: str
    short: str


@dataclass(frozen=True)
class ClaimSpec:
    claim_id: str
    paper: str
    stage: str
    claim: str
    direction: str | None
    threshold_key: str | None
    bounds: tuple[float, float] | None
    cases: dict[str, list] = field(default_factory=dict)
    gates: tuple[str, ...] = ()
    paper_value: str = ""
    paper_source: str = ""
    paper_data: dict = field(default_factory=dict)  # the paper's numbers, for figures

    def paper_note(self) -> str:
        """ "Paper (source): value" for a figure caption or annotation; "" without one."""
        if not self.paper_value:
            return ""
        source = f" ({self.paper_source})" if self.paper_source else ""
        return f"Paper{source}: {self.paper_value}"


@dataclass(frozen=True)
class Registry:
    papers: dict[str, Paper]
    claims: dict[str, ClaimSpec]

    def claim(self, claim_id: str) -> ClaimSpec:
        try:
            return self.claims[claim_id]
        except KeyError:
            raise KeyError(
                f"claim {claim_id!r} is not in the claims registry ({REGISTRY_PATH.name}); "
                f"declared: {sorted(self.claims)}"
            ) from None

    def paper_of(self, claim_id: str) -> Paper:
        return self.papers[self.claim(claim_id).paper]

    def stage_claims(self, stage: str) -> list[ClaimSpec]:
        return [c for c in self.claims.values() if c.stage == stage]


def _bounds(raw) -> tuple[float, float] | None:
    if raw is None:
        return None
    lo, hi = raw
    return (-math.inf if lo is None else float(lo), math.inf if hi is None else float(hi))


def parse_registry(raw: Mapping) -> Registry:
    papers = {
        key: Paper(key=key, citation=" ".join(p["citation"].split()), short=p["short"])
        for key, p in raw["papers"].items()
    }
    claims = {}
    for cid, c in raw["claims"].items():
        if c["paper"] not in papers:
            raise ValueError(f"claims registry: claim {cid} names unknown paper {c['paper']!r}")
        claims[cid] = ClaimSpec(
            claim_id=cid,
            paper=c["paper"],
            stage=c["stage"],
            claim=" ".join(c["claim"].split()),
            direction=c.get("direction"),
            threshold_key=c.get("threshold"),
            bounds=_bounds(c.get("bounds")),
            cases={dim: list(values) for dim, values in (c.get("cases") or {}).items()},
            gates=tuple(c.get("gates") or ()),
            paper_value=" ".join(str(c.get("paper_value", "")).split()),
            paper_source=str(c.get("paper_source", "")),
            paper_data=dict(c.get("paper_data") or {}),
        )
    return Registry(papers=papers, claims=claims)


@functools.cache
def load_registry(path: str | None = None) -> Registry:
    return parse_registry(yaml.safe_load(Path(path or REGISTRY_PATH).read_text()))


def config_value(config: Mapping, dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(f"claims registry: config key {dotted!r} not found")
        node = node[part]
    return node


def _expand(item, config: Mapping) -> list:
    if not isinstance(item, Mapping):
        return [item]
    if "value" in item:
        return [item["value"]] if config_value(config, item["if"]) else []
    values = config_value(config, item["config"])
    values = list(values) if isinstance(values, list | tuple) else [values]
    if "only" in item:
        values = [v for v in values if v in item["only"]]
    values = [v for v in values if v not in item.get("exclude", [])]
    if item.get("positive"):
        values = [v for v in values if float(v) > 0]
    fmt = item.get("format")
    return [fmt.format(v) for v in values] if fmt else values


def format_value(value) -> str:
    """Canonical text of one case value: numbers with :g, everything else as str."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return f"{float(value):g}"
    try:
        return f"{float(value):g}"  # "2.0" read back from a CSV
    except (TypeError, ValueError):
        return str(value)


def case_key(case: Mapping[str, Any]) -> str:
    return "; ".join(f"{dim}={format_value(v)}" for dim, v in case.items())


def expected_cases(spec: ClaimSpec, config: Mapping) -> list[dict]:
    """Every case ``spec`` must be evaluated for under ``config`` (one empty case when
    it has no dimensions)."""
    dims = list(spec.cases)
    values = [[v for item in spec.cases[d] for v in _expand(item, config)] for d in dims]
    return [dict(zip(dims, combo, strict=True)) for combo in itertools.product(*values)]


def expected_rows(
    config: Mapping, stages: Iterable[str], registry: Registry | None = None
) -> list[tuple[str, str, str]]:
    """(stage, claim_id, case key) of every expected scorecard row, stages in order."""
    registry = registry or load_registry()
    return [
        (stage, spec.claim_id, case_key(case))
        for stage in stages
        for spec in registry.stage_claims(stage)
        for case in expected_cases(spec, config)
    ]
