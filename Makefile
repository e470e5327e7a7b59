# `make demo` and `make test` set everything up on a fresh machine (venv, torch, WordNet for METEOR).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SNAKEMAKE := $(VENV)/bin/snakemake
STAMP := $(VENV)/.qvedbench-installed
CORES ?= 2

.PHONY: setup demo test dry-run clean-results benchmarks

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[workflow,test]'
	$(PY) -m qvedbench.resources wordnet
	touch $(STAMP)

demo: setup
	$(SNAKEMAKE) --profile profiles/local --configfile config/demo.yaml --cores $(CORES) all
	@echo; cat results/RESULTS_SUMMARY.md

test: setup
	$(PY) -m pytest -q

dry-run: setup
	$(SNAKEMAKE) all -n --quiet rules --configfile config/config.yaml

benchmarks: setup
	$(PY) benchmarks/bench_frame_sampling.py
	$(PY) benchmarks/bench_infer_batch.py
	$(PY) benchmarks/bench_families.py
	$(PY) benchmarks/bench_profiler.py

clean-results:
	rm -rf results/synth results/data results/models results/runs results/predictions results/scores \
	  results/figures results/tables results/logs results/benchmarks results/RESULTS_SUMMARY.md
