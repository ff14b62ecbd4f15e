# Two commands do everything: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml client/pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=
# Python's bytecode cache stays on even where the shell turns it off (this workplace's shells export
# PYTHONDONTWRITEBYTECODE=1): without it every process (each test worker, gunicorn, Celery worker, CLI call)
# compiles the project from source again, and pytest rewrites every test module again (collection 14 s → 7 s).
unexport PYTHONDONTWRITEBYTECODE
# Test processes (pytest-xdist); each gets its own database, Celery queue and rate-limit keys.
PYTEST_WORKERS ?= auto
PYTEST := $(VENV)/bin/pytest -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

.PHONY: install demo test test-fast lint format bench stop wipe browser-deps

$(STAMP): pyproject.toml client/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	# The researchers' client (client/, package modresearch), editable: its tests run against the platform.
	$(PY) -m pip install --quiet -e './client[all]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m platform_api.demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: install lint browser-deps
	$(PY) -m platform_api.embedded run -- $(PYTEST) $(PYTEST_ARGS)

# The inner loop: no lint, no tests marked slow (worker kills, gunicorn load).
test-fast: install
	$(PY) -m platform_api.embedded run -- $(PYTEST) -m "not slow" $(PYTEST_ARGS)

# Performance against baselines measured in the same run; figures go to benchmarks/RESULTS.md.
bench: install
	$(PY) -m platform_api.embedded run -- $(PY) -m benchmarks

# The browser tests drive Debian's headless-only Chromium (a third less CPU than the full browser in
# headless mode; tests/browser.py); install it when missing and we may (root, apt).
# Never fails the build: without a Chromium the browser tests are skipped and say why.
browser-deps:
	@if [ -x /usr/bin/chromium-headless-shell ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "browser-deps: installing Debian's chromium-headless-shell"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell >/dev/null) \
	    || echo "browser-deps: could not install chromium-headless-shell; the browser tests use /usr/bin/chromium or are skipped"; \
	else \
	  echo "browser-deps: /usr/bin/chromium-headless-shell is absent and apt-get as root is unavailable; the browser tests use /usr/bin/chromium or are skipped"; \
	fi

stop:
	$(PY) -m platform_api.embedded stop

# Deletes the embedded servers' data (.local/): the next demo starts from scratch.
wipe:
	$(PY) -m platform_api.embedded wipe
