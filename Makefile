# acm_sync — everything installs from this repo's own files (pyproject.toml + uv.lock).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
# Use uv from PATH when there is one; otherwise bootstrap it with pip into .tools/.
UV := $(or $(shell command -v uv 2>/dev/null),$(TOOLS)/bin/uv)
BIN := $(VENV)/bin

.PHONY: install demo dev test test-ui test-peers test-ops test-scale servers lint format bench clean

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.installed

demo: install  ## seed a fresh sandbox, run the pipeline on it, show the result
	$(BIN)/acm-sync demo

dev: install  ## Dagster UI + daemon on 127.0.0.1:3000 over the sandbox (.sandbox/) or a real org
	bash scripts/dev.sh

# The suites spread their test files over both cores (pytest-xdist; a file stays on one worker,
# each worker has its own session sandbox).
XDIST := -n 2 --dist loadfile

test: install  ## unit + integration suite (also: make test-ops, test-ui, test-peers; .ci/run runs all)
	$(BIN)/pytest $(XDIST)

test-ui: install  ## the browser test: headless Chromium (Debian's, installed when missing) over the Dagster UI
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }
	$(BIN)/pytest -m ui tests/ui

test-peers: install  ## four open-source connectors, dlt's verified HubSpot/Salesforce sources, two legacy clients (PyPI) + jsforce, HubSpot's Node client and the Salesforce CLI (npm; Debian's nodejs when missing), pinned, cached in .peers/, vs the sandbox
	@{ command -v node >/dev/null && command -v npm >/dev/null; } || { apt-get update -qq && apt-get install -y -qq nodejs npm; }
	ACM_PEERS=1 $(BIN)/pytest tests/peers

test-ops: install  ## fault scenarios: SIGKILL mid-apply, lost write answers, spent budgets, run monitoring, sandbox restarts
	$(BIN)/pytest $(XDIST) -m ops

# PostgreSQL and Redis for the many-orgs proof: Debian's packages, installed when missing (the test
# starts its own servers in a temp dir on free ports, and stops them).
servers:
	@{ ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && command -v redis-server >/dev/null; } || \
		{ apt-get update -qq && apt-get install -y -qq postgresql redis-server; }

test-scale: install servers  ## many orgs: Postgres + queue + Celery workers, 10 sandbox orgs, a worker killed
	$(BIN)/pytest -m scale tests/scale

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

format: install
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: install servers  ## scale benchmarks; each prints its figures (bench_scale: Postgres + Redis)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(TOOLS) .sandbox .pytest_cache .mypy_cache .ruff_cache
