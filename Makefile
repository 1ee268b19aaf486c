# The README's two commands: `make run` (set up, start the app) and `make test` (set up, test).
# .venv is (re)built when it is missing or older than pyproject.toml.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast lint bench setup browser clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "knn-digits needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,bench]"
	touch $(VENV)/.installed $@

setup: $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/knn-digits app

# The browser tests need Debian's chromium; scripts/ensure-browser installs it when missing.
browser:
	scripts/ensure-browser

test: $(VENV)/.installed-test browser
	$(BIN)/python -m pytest

# The edit-test loop: no full-MNIST runs, no browser.
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not slow and not e2e" -x -q

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_knn.py
	$(BIN)/python benchmarks/bench_presets.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
