"""Config checking: defaults, command-line strings, every problem named by key."""

from __future__ import annotations

import copy
import shutil
import subprocess

import pytest
import yaml
from conftest import REPO, SNAKEMAKE

from repgeom.config import (
    ConfigError,
    check_yaml_syntax,
    fetch_settings,
    resolve_mirror,
    validate_config,
)

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
    config = {"device": "cpu", "seeds": [0], "stages": ["lsh"], "data": {}}
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


def test_no_stages_is_refused_by_key():
    with pytest.raises(ConfigError, match=r"key 'stages': \[\] should be non-empty"):
        checked(stages=[])


def test_exponent_notation_is_a_number_at_every_level():
    """YAML 1.1 reads 1e-3 (no dot) as a string; where the schema wants a number it is one."""
    config = copy.deepcopy(DEFAULT)
    config["data"]["timeout_s"] = "5E+1"
    config["isometry"]["lr"] = "1e-3"
    config["isometry"]["per_dataset"]["mnist"]["betas"] = [0, "1e-1", "2.5e0"]
    config["isometry"]["hierarchy"]["torus"]["lr"] = "-1e-4"  # a number, refused by its bound
    config["eigenmaps"]["ssl"]["weight_decay"] = yaml.safe_load("weight_decay: 1e-6")[
        "weight_decay"
    ]
    with pytest.raises(ConfigError) as err:
        validate_config(config, SCHEMA)
    assert str(err.value).splitlines()[1:] == [
        "  key 'isometry.hierarchy.torus.lr': -0.0001 is less than or equal to the minimum of 0"
    ]
    assert config["data"]["timeout_s"] == 50.0
    assert config["isometry"]["lr"] == 0.001
    assert config["isometry"]["per_dataset"]["mnist"]["betas"] == [0, 0.1, 2.5]
    assert config["eigenmaps"]["ssl"]["weight_decay"] == 1e-6


def test_exponent_notation_is_no_number_where_a_string_is_wanted():
    with pytest.raises(ConfigError, match="key 'data.retries': '1e3' is not of type 'integer'"):
        checked(data={"retries": "1e3"})
    assert checked(data_mirror="1e3")["data_mirror"] == "1e3"


def test_fetch_settings_read_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("REPGEOM_DATA_MIRROR", str(tmp_path))
    config = checked(data={"download": False})
    assert fetch_settings(config) == {
        "mirror": str(tmp_path.resolve()),
        "download": False,
        "retries": 3,
        "timeout_s": 60,
    }


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("device: cpu\nseeds: [0, 1\nstages: [lsh]\n")
    with pytest.raises(ConfigError) as err:
        check_yaml_syntax(bad)
    assert f"config file {bad}, line 3, column 7: not valid YAML" in str(err.value)
    check_yaml_syntax(REPO / "config.yaml")


def test_workflow_names_file_and_line_of_a_broken_config_yaml(tmp_path):
    """The workflow's config.yaml, loaded by the Snakefile's `configfile:`."""
    shutil.copy(REPO / "Snakefile", tmp_path / "Snakefile")
    for name in ("workflow", "src"):
        (tmp_path / name).symlink_to(REPO / name)
    lines = (REPO / "config.yaml").read_text().splitlines()
    seeds = next(i for i, line in enumerate(lines) if line.startswith("seeds:"))
    lines[seeds] = "seeds: [0, 1, 2"  # unclosed: the next line is where YAML notices
    (tmp_path / "config.yaml").write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [*SNAKEMAKE, "-s", str(tmp_path / "Snakefile"), "-n", "--directory", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"config file {tmp_path / 'config.yaml'}, line {seeds + 2}" in out, out
