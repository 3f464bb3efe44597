# Two commands on a fresh machine (Python 3.11): `make run` and `make test`.
# Both create .venv and install the package on first use.
PYTHON ?= python3
VENV ?= .venv
# One job per CPU of this machine (nproc; getconf where it is missing); `make run CORES=8`.
CORES ?= $(shell nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
BIN := $(VENV)/bin
STAMP := $(VENV)/.repgeom-installed

.PHONY: run smoke test figures report readme benchmarks device-check lint format dry-run clean-results

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -e '.[test]'
	touch $@

run: $(STAMP)  ## the whole default DAG
	$(BIN)/snakemake --cores $(CORES)

smoke: $(STAMP)  ## the whole DAG at smoke scale (<= 3 min)
	$(BIN)/snakemake --cores $(CORES) --configfile workflow/configs/smoke.yaml

test: $(STAMP)  ## the test suite (whole-DAG smoke run included)
	$(BIN)/python -m pytest

figures: $(STAMP)  ## redraw every figure from the tables (no training)
	$(BIN)/snakemake --cores $(CORES) figures --forcerun \
		$$($(BIN)/snakemake --list-rules 2>/dev/null | grep '_figures$$')

report: $(STAMP)  ## one self-contained HTML report of the finished run (scorecard first)
	$(BIN)/snakemake --report results/report.html

readme: $(STAMP)  ## the README's results section from the finished run
	$(BIN)/snakemake --cores $(CORES) readme

benchmarks: $(STAMP)  ## every stage benchmark -> benchmarks/ratios.tsv
	$(BIN)/python benchmarks/run_all

device-check: $(STAMP)  ## on a GPU: driver, smoke DAG on cuda, paper-scale job times -> $OUT or benchmarks/
	$(BIN)/python benchmarks/device_check

lint: $(STAMP)
	$(BIN)/ruff check src tests workflow/scripts benchmarks
	$(BIN)/ruff format --check src tests workflow/scripts benchmarks
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint

format: $(STAMP)
	$(BIN)/ruff format src tests workflow/scripts benchmarks
	$(BIN)/snakefmt Snakefile workflow

dry-run: $(STAMP)
	$(BIN)/snakemake -n

clean-results:  ## every result, log and per-job benchmark file (results/benchmarks/)
	rm -rf results logs .snakemake
