# The two commands a newcomer needs: `make run` and `make test`. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
INSTALLED := $(VENV)/.installed
GENERATOR := $(VENV)/client-generator/.installed
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: install run test lint unit integration bench bench-quick clean

# The virtualenv is brought up to date whenever the declared or pinned dependencies change.
# $(RUNTIME): what the service needs, all `make run` installs. $(INSTALLED): that and the
# development toolchain (the dev extra: tests, linters, a browser driver), for everything else.
$(RUNTIME): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -c constraints.txt -e .
	touch $@

$(INSTALLED): $(RUNTIME) $(GENERATOR)
	$(PIP) -c constraints.txt -e '.[dev]'
	touch $@

# openapi-python-client, which tests/integration/test_generated_client.py runs to generate a
# client from the schema, gets a venv of its own inside ours: it caps typer below the version
# the CLI pins, so it cannot join the dev extra (its authors advise an environment of its own,
# pipx, anyway). Pinned in tests/client-generator-requirements.txt.
$(GENERATOR): tests/client-generator-requirements.txt | $(RUNTIME)
	$(PYTHON) -m venv $(VENV)/client-generator
	$(VENV)/client-generator/bin/python -m pip install --quiet --disable-pip-version-check -r $<
	touch $@

install: $(INSTALLED)

# `make run PORT=8001` when 8000 is taken.
PORT ?= 8000
run: $(RUNTIME)
	$(BIN)/stockroom serve --port $(PORT)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

unit: $(INSTALLED)
	$(BIN)/pytest tests/unit

# Real servers the integration suite starts itself (a PgBouncer), installed when missing.
.PHONY: test-servers
test-servers:
	bash tests/install-servers.sh

integration: $(INSTALLED) test-servers
	$(BIN)/pytest tests/integration

test: lint test-servers
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache

# Benchmarks (bench/README.md); never part of `make test`. bench/setup.sh installs wrk and psql
# (Debian) and the bench-only Python packages (bench/requirements.txt) into the venv first.
# bench: the ablation and the goals, 3 repetitions (about 30 min); bench-quick: the same rows,
# 2 s each, once; bench-smoke (CI): one short GET on Stockroom + SQLite, no PostgreSQL needed.
.PHONY: bench-smoke bench-import bench-pages bench-events
bench: $(INSTALLED)
	VENV=$(VENV) bash bench/setup.sh
	$(BIN)/python -m bench full

bench-quick: $(INSTALLED)
	VENV=$(VENV) bash bench/setup.sh
	$(BIN)/python -m bench quick

bench-smoke: $(INSTALLED)
	VENV=$(VENV) BENCH_SMOKE=1 bash bench/setup.sh
	$(BIN)/python -m bench smoke

# `stockroom items import` against plain SQLAlchemy Core, SQLite and PostgreSQL, and its peak
# RSS at 10k vs 100k rows (bench/README.md, "Import"). ARGS="--rows 20000" for a shorter run.
bench-import: $(INSTALLED)
	VENV=$(VENV) BENCH_IMPORT=1 bash bench/setup.sh
	$(BIN)/python -m bench.import $(ARGS)

# Page 1,000 of 100,000 items by offset against the same page by key, at the read port, on
# SQLite and PostgreSQL (bench/README.md, "Pages"); needs no wrk or psql (~15 s).
bench-pages: $(INSTALLED)
	$(BIN)/python -m bench.pages $(ARGS)

# What issue 25's events cost (bench/README.md, "Events"): POST /orders/ with the outbox vs
# without, the outbox's lag behind that load with `stockroom relay` running, and a 100,000-
# event backlog drained to NATS at 127.0.0.1:4222, with the relay as it ships and one
# publish at a time (~7 min). Needs wrk, psql, PostgreSQL, NATS.
bench-events: $(INSTALLED)
	VENV=$(VENV) BENCH_SMOKE=1 bash bench/setup.sh
	VENV=$(VENV) BENCH_IMPORT=1 bash bench/setup.sh
	$(BIN)/python -m bench.events $(ARGS)
