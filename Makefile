# Every target sets itself up: a fresh machine needs nothing but python3.11 and make.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The shared copy of NSMC when it sits beside the checkout (developers, CI); elsewhere the
# data is downloaded once into the cache on first use.
NSMC_DIR ?= $(if $(wildcard ../shared/data/nsmc/ratings_train.txt),$(abspath ../shared/data/nsmc),)
export NSMC_DIR
CHAT_DATA_DIR ?= $(if $(wildcard ../shared/data/chat/kote/val.tsv),$(abspath ../shared/data/chat),)
export CHAT_DATA_DIR
export TF_CPP_MIN_LOG_LEVEL ?= 2
# The serving runtime multiplies small matrices: one BLAS thread is ~4x faster than two
# fighting over the cores with Kiwi and the event loop.
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: install run test train bench bench-loop bench-first-run lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bot

test: $(STAMP)
	$(BIN)/python -m pytest -q

train: $(STAMP)
	$(BIN)/python -m training.train --config default --no-holdout

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-loop: $(STAMP)
	$(BIN)/python -m benchmarks.loop_bench

# A fresh install's first minutes: `python -m bot` on an empty registry, time to a verdict.
bench-first-run: $(STAMP)
	$(BIN)/python -m benchmarks.first_run

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
