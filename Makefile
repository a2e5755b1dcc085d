# FreeAgentics developer commands. The README's quick start uses `make run` and `make test`;
# both create .venv on first use and reuse it afterwards (reinstalling when pyproject.toml changes).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: run test lint check format clean-venv

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "FreeAgentics needs Python >= 3.11; set PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,parity,accel]'
	@touch $(STAMP)

## run: set up and run the platform on the embedded default at http://localhost:8000
run: $(STAMP)
	$(BIN)/freeagentics serve

## test: set up and run the whole test suite (integration tests use the local PostgreSQL and Redis)
test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

## lint: ruff, formatting, mypy and the import-linter layer contracts
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

check: lint test

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
