"""Config checking: defaults, command-line strings, every problem named by key."""

from __future__ import annotations

import copy

import pytest
import yaml
from conftest import REPO

from repgeom.config import ConfigError, resolve_mirror, validate_config

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def checked(**overrides) -> dict:
    config = copy.deepcopy(DEFAULT)
    config.update(overrides)
    return validate_config(config, SCHEMA)


@pytest.mark.parametrize("preset", ["smoke", "paper"])
def test_default_and_presets_are_valid(preset):
    config = copy.deepcopy(DEFAULT)
    config.update(yaml.safe_load((REPO / f"workflow/configs/{preset}.yaml").read_text()))
    validate_config(config, SCHEMA)


def test_defaults_fill_missing_sections():
    config = {"device": "cpu", "seeds": [0], "stages": [], "data": {}}
    validate_config(config, SCHEMA)
    assert config["data"] == {"download": True, "retries": 3, "timeout_s": 60}
    assert config["isometry"]["datasets"] == ["mnist", "fashion-mnist"]
    assert config["deterministic"] is True and config["data_mirror"] is None


def test_command_line_strings_are_read_as_yaml():
    config = checked(seeds=["0", "1"], data={"retries": "5", "download": "false"})
    assert config["seeds"] == [0, 1]
    assert config["data"]["retries"] == 5 and config["data"]["download"] is False


def test_every_problem_is_reported_by_key():
    with pytest.raises(ConfigError) as err:
        checked(seeds=[-1], device="tpu", stages=["registration", "dreams"], typo=1)
    text = str(err.value)
    for key in ("'seeds.0'", "'device'", "'stages.1'", "unknown key 'typo'"):
        assert key in text


def test_missing_required_key():
    config = copy.deepcopy(DEFAULT)
    del config["seeds"]
    with pytest.raises(ConfigError, match="missing key 'seeds'"):
        validate_config(config, SCHEMA)


def test_mirror_env_overrides_config(monkeypatch, tmp_path):
    monkeypatch.setenv("REPGEOM_DATA_MIRROR", str(tmp_path))
    assert resolve_mirror("/elsewhere") == str(tmp_path.resolve())
    monkeypatch.delenv("REPGEOM_DATA_MIRROR")
    assert resolve_mirror(None) is None
    assert resolve_mirror(str(tmp_path)) == str(tmp_path.resolve())
