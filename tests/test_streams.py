"""Named random streams (repgeom.streams): derivation, registry, and a static check that
the code draws no hand-picked stream and uses only declared names."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from repgeom import streams

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    p
    for p in [
        *(ROOT / "src").rglob("*.py"),
        *(ROOT / "workflow").rglob("*.py"),
        *(ROOT / "workflow").rglob("*.smk"),
        *ROOT.glob("Snakefile"),
    ]
    if p.name != "streams.py"
)
# A stream seed chosen by hand: an offset added to the run seed, a literal or a constant
# seeding a generator or a subset.
HAND_PICKED = [
    r"\b\d[\d_]*\s*\+\s*(\w+\.)*seed\b",
    r"\b(\w+\.)*seed\s*\+\s*\d",
    r"\bmanual_seed\(\s*-?\d",
    r"\b[A-Z_]*SEED\s*=\s*\d",
    r"\b(default_rng|RandomState|random\.seed)\(\s*\d",
]
# Subsets drawn with a literal seed (the last argument).
SUBSET_CALL = re.compile(r"\b(subset_indices|fixed_subset)\(")
STREAM_CALL = re.compile(r"\bstreams\.(stream|fixed_stream)\(")


def calls(text: str, pattern: re.Pattern) -> list[tuple[str, str]]:
    """(function, argument text) of every call that ``pattern`` (ending in "(") opens."""
    found = []
    for m in pattern.finditer(text):
        depth, end = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        found.append((m.group(1), text[m.end() : end - 1]))
    return found


def hand_picked(text: str) -> list[str]:
    found = [m.group(0) for pattern in HAND_PICKED for m in re.finditer(pattern, text)]
    subsets = calls(text, SUBSET_CALL)
    return found + [f"{fn}({a})" for fn, a in subsets if re.search(r",\s*\d[\d_]*\s*$", a)]


def stream_calls(text: str) -> list[tuple[str, str]]:
    return calls(text, STREAM_CALL)


def names_used() -> dict[str, set[str]]:
    used = {"stream": set(), "fixed_stream": set()}
    for path in SOURCES:
        for fn, args in stream_calls(path.read_text()):
            literal = re.fullmatch(r'(?s)(.*,)?\s*"([^"]+)"\s*,?\s*', args)
            assert literal, f"{path}: streams.{fn}({args}): name the stream with a literal"
            used[fn].add(literal.group(2))
    return used


def test_streams_differ_across_names_and_seeds():
    values = {streams.stream(s, name) for name in streams.PER_SEED for s in range(20)}
    values |= {streams.fixed_stream(name) for name in streams.FIXED}
    assert len(values) == 20 * len(streams.PER_SEED) + len(streams.FIXED)
    assert all(0 <= v < 2**63 for v in values)


def test_streams_are_stable():
    # Literal values: a change of the derivation changes every stream, so it must be seen.
    assert streams.stream(0, "similarity/enforce/val") == 7530056365535723012
    assert streams.stream(3, "eigenmaps/eval") == 8924082386319207303
    assert streams.fixed_stream("isometry/train_subset") == 3660102527784735156
    assert streams.stream(np.int64(3), "eigenmaps/eval") == streams.stream(3, "eigenmaps/eval")


def test_stream_seeds_generators_of_numpy_and_torch():
    seed = streams.stream(7, "similarity/registration/queries")
    torch.Generator().manual_seed(seed)
    np.random.default_rng(seed)


def test_unknown_or_misfiled_names_are_refused():
    with pytest.raises(ValueError, match="unknown stream 'similarity/val'.*repgeom/streams.py"):
        streams.stream(0, "similarity/val")
    with pytest.raises(ValueError, match="unknown stream"):
        streams.fixed_stream("isometry/whatever")
    with pytest.raises(ValueError, match="use stream\\(seed, name\\)"):
        streams.fixed_stream("eigenmaps/eval")
    with pytest.raises(ValueError, match="use fixed_stream\\(name\\)"):
        streams.stream(0, "isometry/eval_subset")
    for bad in (None, 1.5, "3", True):
        with pytest.raises(TypeError, match="run seed must be an integer"):
            streams.stream(bad, "eigenmaps/eval")


def test_registry_names_are_unique_paths_with_a_purpose():
    assert not set(streams.PER_SEED) & set(streams.FIXED)
    for name, purpose in {**streams.PER_SEED, **streams.FIXED}.items():
        assert re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+)+", name), name
        assert purpose.strip(), name


def test_the_registry_lists_exactly_the_names_the_code_uses():
    used = names_used()
    assert used["stream"] == set(streams.PER_SEED)
    assert used["fixed_stream"] == set(streams.FIXED)


def test_no_hand_picked_stream_in_the_code():
    found = {str(p.relative_to(ROOT)): hand_picked(p.read_text()) for p in SOURCES}
    assert not {k: v for k, v in found.items() if v}, "use repgeom.streams instead"


@pytest.mark.parametrize(
    "line",
    [
        "data = prepare_mnist(mnist, val_size, device, 10_000 + seed)",
        "gen = torch.Generator().manual_seed(10_000 + run.seed)",
        "gen = torch.Generator().manual_seed(seed + 1)",
        "TRAIN_SUBSET_SEED = 0",
        'idx = fixed_subset(len(data["train_labels"]), s["n_train"], 0)',
        "q = subset_indices(n, k, 30_000)",
        "gen = torch.Generator().manual_seed(1)",
        "rng = np.random.default_rng(0)",
    ],
)
def test_the_static_check_finds_hand_picked_streams(line):
    assert hand_picked(line)


@pytest.mark.parametrize(
    "line",
    [
        "torch.manual_seed(seed)",
        "gen.manual_seed(int(state[0]) << 32 | int(state[1]))",
        'idx = subset_indices(n, k, streams.stream(seed, "similarity/enforce/val"))',
        "max_seeds: int = 10_000",
    ],
)
def test_the_static_check_passes_run_seeds_and_named_streams(line):
    assert not hand_picked(line)


def test_stream_calls_are_parsed_with_nested_parentheses():
    text = 'g = gen(streams.stream(int(w["seed"]), "a/b")) + streams.fixed_stream("c/d")'
    assert stream_calls(text) == [("stream", 'int(w["seed"]), "a/b"'), ("fixed_stream", '"c/d"')]
