"""rule_run, the glue every rule script opens: logging, seeding, device, provenance,
and no torch import for rules that only handle tables and figures."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from conftest import REPO

FAKE_SMK = """
import sys
from types import SimpleNamespace


class Named(dict):
    def __getattr__(self, key):
        return self[key]


class Files(list):  # like Snakemake's output list: paths, reachable by name too

    def __init__(self, **named):
        super().__init__(named.values())
        self.named = named

    def keys(self):
        return self.named.keys()

    def __getattr__(self, key):
        return self.named[key]


def fake_smk(tmp, params, wildcards=None, **outputs):
    return SimpleNamespace(
        log=[str(tmp / "job.log")],
        params=Named(params),
        wildcards=Named(wildcards or {}),
        output=Files(**outputs, provenance=str(tmp / "job.provenance.json")),
        threads=1,
        rule="fake",
    )
"""


def run_job(tmp_path, body: str) -> dict:
    """Run ``body`` in a fresh interpreter (so sys.modules starts clean); returns its
    printed JSON."""
    code = FAKE_SMK + textwrap.dedent(body)
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_table_rule_does_not_import_torch(tmp_path):
    out = run_job(
        tmp_path,
        """
        import json, pathlib
        from repgeom.smk import rule_run
        with rule_run(fake_smk(pathlib.Path("."), {"threshold": 0.5})) as run:
            pass
        prov = json.loads(pathlib.Path("job.provenance.json").read_text())
        log = pathlib.Path("job.log").read_text()
        print(json.dumps({"torch": "torch" in sys.modules, "device": run.device,
                          "prov_device": prov["device"]["type"], "log": log}))
        """,
    )
    assert out["torch"] is False and out["device"] is None
    assert out["prov_device"] == "cpu"
    assert "rule fake finished" in out["log"]


def test_seeded_rule_sets_up_torch(tmp_path):
    out = run_job(
        tmp_path,
        """
        import json, pathlib
        from repgeom.smk import rule_run
        with rule_run(fake_smk(pathlib.Path("."), {"device": "cpu"}, {"seed": "3"})) as run:
            import torch
            draw = torch.rand(2, generator=run.generator).tolist()
        prov = json.loads(pathlib.Path("job.provenance.json").read_text())
        print(json.dumps({"device": str(run.device), "seed": run.seed, "draw": draw,
                          "threads": torch.get_num_threads(), "prov_seed": prov["seed"]}))
        """,
    )
    again = run_job(
        tmp_path,
        """
        import json, pathlib, torch
        from repgeom.smk import rule_run
        with rule_run(fake_smk(pathlib.Path("."), {}, {"seed": "3"})) as run:
            draw = torch.rand(2, generator=run.generator).tolist()
        print(json.dumps({"draw": draw}))
        """,
    )
    assert out["device"] == "cpu" and out["seed"] == 3 and out["prov_seed"] == 3
    assert out["threads"] == 1
    assert out["draw"] == again["draw"]  # same seed, same numbers


def test_rule_run_removes_stale_temporaries_of_its_outputs(tmp_path):
    """A killed earlier try left half-written temporaries beside the job's outputs;
    the next try removes them when it starts (and nothing else)."""
    (tmp_path / "out").mkdir()
    stale = [tmp_path / "out" / ".table.csv.k3j9x_2a.tmp", tmp_path / ".job.provenance.json.q1.tmp"]
    kept = [tmp_path / "out" / ".other.csv.k3j9x_2a.tmp", tmp_path / "out" / "table.csv"]
    for p in stale + kept:
        p.write_text("half")
    out = run_job(
        tmp_path,
        """
        import json, pathlib
        from repgeom.smk import rule_run
        tmp = pathlib.Path(".")
        with rule_run(fake_smk(tmp, {}, table=str(tmp / "out" / "table.csv"))) as run:
            pass
        print(json.dumps({"log": pathlib.Path("job.log").read_text()}))
        """,
    )
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    assert "removed out/.table.csv.k3j9x_2a.tmp" in out["log"]
