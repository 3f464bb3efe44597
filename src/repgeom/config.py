"""Configuration checking: fill schema defaults, then report every problem at
once with the dotted key it concerns, before any job starts."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

MIRROR_ENV = "REPGEOM_DATA_MIRROR"
MIRROR_CONFIG_KEY = "data_mirror"
ROOT_ENV = "REPGEOM_ROOT"  # the checkout, for envs/repgeom.yaml


class ConfigError(ValueError):
    """The configuration does not match the schema."""


def check_yaml_syntax(path: str | os.PathLike) -> None:
    """Raise ConfigError naming the file and line of a YAML syntax error in the config
    file ``path``: Snakemake, loading it, says only "not valid JSON or YAML"."""
    try:
        with open(path, encoding="utf-8") as fh:
            yaml.safe_load(fh)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"config file {path}{where}: not valid YAML ({exc.problem or exc.context})\n{exc}"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path}: not valid YAML ({exc})") from None


def load_schema(path: str | os.PathLike) -> dict:
    return yaml.safe_load(Path(path).read_text())


def fill_defaults(config: dict, schema: dict) -> None:
    """Insert the schema's defaults for missing keys, recursively, in place."""
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = copy.deepcopy(sub["default"])
        if isinstance(config.get(key), dict) and "properties" in sub:
            fill_defaults(config[key], sub)


# A number in exponent notation without a dot ("1e-3"): YAML 1.1, which PyYAML
# follows, reads it as a string; JSON and YAML 1.2 read it as a number.
EXPONENT_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def coerce_cli_strings(value: Any, schema: dict) -> Any:
    """Snakemake's --config hands list items and nested values over as strings
    ('seeds=[0,1]' gives ['0', '1']): read a string as YAML wherever the schema
    expects no string, so command-line overrides mean what they say. Where it
    expects a number, exponent notation ('lr: 1e-3') is a number too."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if isinstance(value, str) and types and "string" not in types:
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            return value  # left as is: validation names the key
        if isinstance(value, str) and "number" in types and EXPONENT_NUMBER.fullmatch(value):
            value = float(value)
    if isinstance(value, dict):
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                value[key] = coerce_cli_strings(value[key], sub)
    elif isinstance(value, list) and "items" in schema:
        value = [coerce_cli_strings(v, schema["items"]) for v in value]
    return value


def _dotted(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> list[str]:
    where = list(error.absolute_path)
    if error.validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        return [
            f"unknown key '{_dotted(where + [k])}' (allowed here: {', '.join(sorted(known))})"
            for k in sorted(set(error.instance) - known)
        ]
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return [f"missing key '{_dotted(where + [k])}'" for k in missing]
    return [f"key '{_dotted(where)}': {error.message}"]


def validate_config(config: dict, schema: dict) -> dict:
    """Fill defaults into ``config`` and validate it; raise ConfigError listing
    every problem by key. Returns the same (mutated) dict."""
    coerce_cli_strings(config, schema)
    fill_defaults(config, schema)
    validator = jsonschema.Draft202012Validator(schema)
    problems = [
        line
        for error in sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
        for line in _describe(error)
    ]
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config


def resolve_mirror(config_value: str | None) -> str | None:
    """The workflow's data mirror: the environment variable wins over the config
    key. (repgeom.data.prepare_dataset, called with an explicit mirror, uses it.)"""
    value = os.environ.get(MIRROR_ENV) or config_value
    return str(Path(value).expanduser().resolve()) if value else None


def fetch_settings(config: dict) -> dict:
    """How the data stage fetches datasets (keyword arguments of
    repgeom.data.prepare_dataset), read when the job runs: they change where the
    data comes from, not what it is, so they are no rule params."""
    data = config["data"]
    return {
        "mirror": resolve_mirror(config.get(MIRROR_CONFIG_KEY)),
        "download": data["download"],
        "retries": data["retries"],
        "timeout_s": data["timeout_s"],
    }


def expose_to_jobs(src_dir: str | os.PathLike) -> None:
    """Put the library on PYTHONPATH for every job this Snakemake process starts,
    so rule scripts import this checkout's code even from a Python without repgeom
    installed; cluster jobs re-read the Snakefile and so call this again. Also name
    the checkout in REPGEOM_ROOT, from which envs/repgeom.yaml installs the library
    into the --sdm conda env."""
    paths = [str(src_dir)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    os.environ[ROOT_ENV] = str(Path(src_dir).resolve().parent)
