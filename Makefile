# Tangsel SSO: `make run` serves the provider on http://127.0.0.1:8000, `make test` runs the suite.
# Both create .venv when it is missing and reinstall the project only when pyproject.toml changed.
# `make run PORT=8090` serves on another port; the issuer follows unless SSO_ISSUER is set.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
# `make test PYTEST_WORKERS=2` spreads the tests over 2 processes (pytest-xdist). One process is
# the default: on a 2-core machine it was as fast (108 s against 115 s) and it is simpler.
PYTEST_WORKERS ?= 0
PYTEST_ARGS ?=
# `make run PORT=8090 HOST=0.0.0.0`; given on the command line only (a login shell may export
# HOST as the machine's name, which is not an address to bind).
HOST := 127.0.0.1
PORT := 8000

.PHONY: run test lint clean venv dev chromium

run: venv
	$(BIN)/sso db upgrade && $(BIN)/sso bootstrap && \
	  exec $(BIN)/sso serve --host $(HOST) --port $(PORT)

test: dev chromium
	@if $(BIN)/python -c 'import xdist' 2>/dev/null && [ "$(PYTEST_WORKERS)" != "0" ]; then \
	  set -x; exec $(BIN)/pytest -q -p xdist -n $(PYTEST_WORKERS) $(PYTEST_ARGS); \
	else \
	  set -x; exec $(BIN)/pytest -q $(PYTEST_ARGS); \
	fi

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

venv: $(STAMP)
dev: $(DEV_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# A stamp is newer than pyproject.toml once its dependencies are installed. `make run` needs
# only the runtime dependencies (a faster first start); tests and lint add the dev extras.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(DEV_STAMP)

# Browser journeys drive Debian's Chromium; without it (not root, no apt-get, offline) they skip.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing Debian chromium for the browser tests"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	    >/dev/null 2>&1 || echo "warning: could not install chromium; browser tests will skip"; \
	fi

# `make test-resilience`: faults, load and the restore drill against real `sso serve` processes,
# PostgreSQL (a database of its own, plus throwaway clusters) and Redis (database 14); a few
# minutes. Not part of `make test` (tests/resilience is collected only when named). Issue 8.
.PHONY: test-resilience
test-resilience: dev
	$(BIN)/pytest -q tests/resilience $(PYTEST_ARGS)

# `make demo`: the provider and the three relying parties with demo accounts (clients/README.md).
.PHONY: demo
demo: venv
	$(BIN)/python clients/demo.py

# `make bench`: the load benchmark, ~10 min, see bench/README.md (BENCH_FULL=0: skip 1M citizens).
.PHONY: bench
bench: venv
	BENCH_COMMAND='make bench$(if $(BENCH_FULL), BENCH_FULL=$(BENCH_FULL))$(if $(BENCH_ARGS), BENCH_ARGS="$(BENCH_ARGS)")' \
	  $(BIN)/python bench/run.py $(if $(filter 0,$(BENCH_FULL)),--no-full) $(BENCH_ARGS)

# Removes the virtualenv, caches and build output; keeps var/ (the dev database and secrets).
clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# `make bench-peers`: node-oidc-provider against ours, one core each, side by side (issue 17;
# bench/README.md). Needs PostgreSQL on 127.0.0.1, node/npm, wrk (apt). About 4 minutes.
.PHONY: bench-peers
bench-peers: venv
	$(BIN)/python bench/peers/run.py $(BENCH_ARGS)
