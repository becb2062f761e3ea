# The project's commands. `make help` lists them.
# Everything runs inside a project-local virtual environment (.venv), created on first use.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `warehouse exec` resolves the database (starting the embedded one when no server is configured),
# exports its settings as PG* variables and runs the command with them.
WH := $(BIN)/python -m warehouse
SCALE ?= 1000000

.PHONY: help install run test dagster docs psql db-stop lint clean lock generate bench bench-ingest

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml requirements.lock
	@test -n "$(PYTHON)" || { echo "Python 3.11 is required (python3.11 not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

install: $(STAMP) ## Create .venv and install the locked dependencies (done by every target that needs it)

run: $(STAMP) ## Run the whole pipeline through Dagster on the configured (or embedded) PostgreSQL, build the docs, print a summary
	$(WH) run

test: $(STAMP) ## Run the whole test suite
	$(BIN)/python -m pytest

dagster: $(STAMP) ## Start the Dagster UI on http://127.0.0.1:3000
	$(WH) dagster --host 127.0.0.1 --port 3000

docs: $(STAMP) ## Generate the dbt docs and serve them on http://127.0.0.1:8080
	$(WH) docs --serve --port 8080

psql: $(STAMP) ## A SQL shell on the warehouse (reads SQL from standard input when it is not a terminal)
	@$(WH) psql

db-stop: $(STAMP) ## Stop the embedded PostgreSQL (no-op when a server is configured)
	$(WH) db-stop

lint: $(STAMP) ## ruff on the Python, sqlfluff on the dbt models
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(WH) exec -- $(BIN)/sqlfluff lint dbt_project/models dbt_project/tests

generate: $(STAMP) ## Write the sandbox's source data (ORDERS=<n> orders, default about Olist's 100k)
	$(BIN)/python -m sandbox.generate $(if $(ORDERS),--orders $(ORDERS),)

bench: $(STAMP) ## The whole pipeline at scale (SCALE=<orders>, default 1M): stages, Dagster full and incremental runs, queries
	$(BIN)/python -m warehouse.bench --orders $(SCALE)

bench-ingest: $(STAMP) ## Time the file ingestion against plain COPY of the same files (SCALE=<orders>, default 1M)
	$(WH) exec -- $(BIN)/python -m ingestion.bench --orders $(SCALE)

lock: ## Re-resolve the dependencies from pyproject.toml and rewrite requirements.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet ".[dev]"
	( echo "# Exact versions of every dependency, for Python 3.11. Regenerate with 'make lock'."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^olist-warehouse' ) > requirements.lock
	rm -rf .lock-venv

clean: ## Stop the embedded database and remove .venv, .local (data, database, Dagster home) and build outputs
	-@test -x $(BIN)/python && $(WH) db-stop || true
	rm -rf $(VENV) .local dbt_project/target dbt_project/logs .pytest_cache .ruff_cache
