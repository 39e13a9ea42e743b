# Two commands for a newcomer: `make demo` and `make test`. Everything else they need
# (Debian packages, the venv, browser assets, the private PostGIS) is set up here.
SHELL := /bin/bash
PY := .venv/bin/python
APT_PACKAGES := postgresql-15-postgis-3 postgresql-client-15 chromium fonts-noto-cjk poppler-utils \
	libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: setup system venv assets demo test lint pytest serve clean-db lock bench

setup: system venv assets

system: .stamps/system
.stamps/system: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done; \
	  command -v npm >/dev/null || echo "nodejs npm"); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@mkdir -p .stamps && touch $@

venv: .stamps/venv
.stamps/venv: pyproject.toml requirements.lock
	@test -x $(PY) || python3.11 -m venv .venv || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	@mkdir -p .stamps && touch $@

assets: .stamps/assets
.stamps/assets: package.json package-lock.json scripts/copy_assets.sh
	npm ci --no-audit --no-fund --loglevel=error
	bash scripts/copy_assets.sh
	@mkdir -p .stamps && touch $@

demo: setup
	$(PY) app.py demo

serve: setup
	$(PY) app.py serve

lint: venv
	.venv/bin/ruff check .
	.venv/bin/mypy

pytest: setup
	$(PY) app.py db start
	$(PY) -m pytest $(PYTEST_ARGS)

test: setup lint pytest

bench: setup
	for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Re-pin the Python dependencies after changing pyproject.toml.
lock:
	rm -rf .lockvenv && python3 -m venv .lockvenv && .lockvenv/bin/pip install -q --upgrade pip && \
	.lockvenv/bin/pip install -q -e '.[dev]' && \
	.lockvenv/bin/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock && rm -rf .lockvenv

clean-db:
	$(PY) app.py db stop || true
	rm -rf var
