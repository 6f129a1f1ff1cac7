# Shopflow: `make run` (everything up) and `make test` (the whole suite). Only python3 >= 3.11
# is needed: the first call builds .venv, bootstraps uv inside it and installs the locked deps.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
# No SHOPFLOW_ENV here: `shopflow dev` defaults to dev itself, so a .env (or the environment)
# that says SHOPFLOW_ENV=prod is honoured.

.PHONY: run test install test-sqlite test-postgres browser-deps lint clean bench

$(UV):
	$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check "uv>=0.5"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --quiet
	touch $@

install: $(VENV)/.synced

run: install
	$(VENV)/bin/shopflow dev

test: install browser-deps
	bash scripts/test.sh

browser-deps:
	@bash scripts/browser-deps.sh

# Shopflow against bare Temporal on this machine (bench/README.md); BENCH_FULL=1 for the full sizes.
bench: install
	$(VENV)/bin/python -m bench.table

lint: install
	$(VENV)/bin/ruff check shopflow tests bench

clean:
	rm -rf $(VENV) var .pytest_cache
