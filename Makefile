# Two commands on a fresh machine (Python 3.11): `make run` and `make test`.
# Both create .venv and install the package on first use.
PYTHON ?= python3
VENV ?= .venv
CORES ?= 8
BIN := $(VENV)/bin
STAMP := $(VENV)/.repgeom-installed

.PHONY: run smoke test lint format dry-run clean-results

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

lint: $(STAMP)
	$(BIN)/ruff check src tests workflow/scripts
	$(BIN)/ruff format --check src tests workflow/scripts
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/snakemake --lint

format: $(STAMP)
	$(BIN)/ruff format src tests workflow/scripts
	$(BIN)/snakefmt Snakefile workflow

dry-run: $(STAMP)
	$(BIN)/snakemake -n

clean-results:
	rm -rf results logs .snakemake
	find benchmarks -name "*.tsv" -delete 2>/dev/null || true
