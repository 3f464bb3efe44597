"""The claims registry: declared once, expanded into the cases a config expects."""

import pytest
from conftest import REPO, TOY_CONFIG, merged_config

from repgeom.registry import case_key, expected_cases, expected_rows, load_registry


def test_cases_expand_from_config_with_filters(toy_registry):
    rows = expected_rows(TOY_CONFIG, ["alpha", "beta"], toy_registry)
    assert rows == [
        ("alpha", "X1", "dataset=mnist"),
        ("alpha", "X1", "dataset=fashion"),
        ("alpha", "X2", "dataset=mnist; sigma=0.5"),
        ("alpha", "X2", "dataset=mnist; sigma=2"),
        ("alpha", "X2", "dataset=fashion; sigma=0.5"),
        ("alpha", "X2", "dataset=fashion; sigma=2"),
        ("beta", "W1", ""),
        ("beta", "Y1", ""),
    ]
    assert expected_rows(TOY_CONFIG, ["beta"], toy_registry)[0][0] == "beta"


def test_case_key_is_canonical_across_types():
    assert case_key({"noise": "iid", "sigma": 2}) == "noise=iid; sigma=2"
    assert case_key({"noise": "iid", "sigma": 2.0}) == "noise=iid; sigma=2"
    assert case_key({"noise": "iid", "sigma": "2.0"}) == "noise=iid; sigma=2"
    assert case_key({}) == ""


def test_unknown_config_key_is_named(toy_registry):
    with pytest.raises(KeyError, match="alpha.datasets"):
        expected_cases(toy_registry.claims["X1"], {"alpha": {}})


def test_real_registry_matches_the_default_run():
    registry = load_registry()
    config = merged_config()
    rows = expected_rows(config, config["stages"], registry)
    ids = {r[1] for r in rows}
    assert ids == set("R1 S1 S2 S3 S4 S4c E1 E2 E3 E4 I1 I2 I3 I4 L1 L2 L3".split())
    # 8 R1 + S1 + 2 S2 + 2 S3 (sigma 2, 4) + S4 + S4c + 3 E1 + E2 + 3 E3 + 4 E4
    # + 2x(I1, I2) + 8 I3/I4 + 6 L
    assert len(rows) == 44
    for spec in registry.claims.values():
        assert spec.paper in registry.papers
        assert spec.direction in (">", "<", None)
        assert spec.stage in config["stages"]
        if spec.threshold_key:
            node = config
            for part in spec.threshold_key.split("."):
                node = node[part]
            assert isinstance(node, int | float)


@pytest.mark.parametrize("preset", ["smoke.yaml", "paper.yaml"])
def test_real_registry_expands_under_every_preset(preset):
    config = merged_config(REPO / "workflow" / "configs" / preset)
    assert expected_rows(config, config["stages"])
