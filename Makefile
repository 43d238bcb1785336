# Every target sets itself up: a fresh machine needs nothing but python3.11 and make.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The shared data when it sits beside the checkout (developers); elsewhere NSMC is
# downloaded once into the cache on first use. The tests read their own slice
# (tests/data/nsmc) unless NSMC_DIR is set in the environment.
SHARED_NSMC := $(if $(wildcard ../shared/data/nsmc/ratings_train.txt),$(abspath ../shared/data/nsmc),)
SHARED_CHAT := $(if $(wildcard ../shared/data/chat/kote/val.tsv),$(abspath ../shared/data/chat),)
run train train-student bench bench-loop bench-first-run: export NSMC_DIR ?= $(SHARED_NSMC)
run train train-student bench bench-loop bench-first-run: export CHAT_DATA_DIR ?= $(SHARED_CHAT)
# The serving runtime multiplies small matrices: one BLAS thread is ~4x faster than two
# fighting over the cores with Kiwi and the event loop.
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: install run test test-fast train train-student bench bench-loop bench-first-run lint typecheck

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m bot

# The dashboard's browser test drives Debian's headless Chromium through chromedriver.
BROWSER := /usr/bin/chromium /usr/bin/chromedriver
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
$(BROWSER):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver

# Everything: the CI gate; the 20 slowest tests listed at the end, to keep it under 8 minutes.
# Two workers (pytest-xdist), one per core: most tests wait on a bot, a child process or a
# server, so two run side by side; a file's tests stay on one worker to share its fixtures.
TEST_WORKERS ?= 2
test: $(STAMP) $(BROWSER)
	$(BIN)/python -m pytest -q --durations=20 -n $(TEST_WORKERS) --dist loadfile

# The edit-run loop (under a minute on 2 cores): no trained model, TensorFlow, child
# process or PostgreSQL.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

train: $(STAMP)
	$(BIN)/python -m training.train --config default --no-holdout

# One small network distilled from the served model: two GRUs over pieces of words that
# trace inside 1 ms, trained in three stages and averaged (training/student_stages.py;
# docs/results.md, "More chat for the two-layer student, and weight averages").
train-student: $(STAMP)
	$(BIN)/python -m training.student_stages --config student-pieces-deep --no-holdout --teacher current

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

# mypy (pyproject.toml): strict on nlp/ and training/; bot/, tests/ and benchmarks/ at the
# default level.
typecheck: $(STAMP)
	$(BIN)/mypy
