# Trainboard — set-up-and-go targets. Everything is idempotent: a second run with
# nothing changed takes a second or two.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := web/node_modules/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup run web worker lint test test-setup test-fast bench bench-smoke bench-search bench-gpu soak compose-test redis-server chromium clean

APT_INSTALL := flock /tmp/trainboard-apt.lock sh -c '$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$$0"'

# Set-up steps hold a lock, so targets started together (make web & make worker on a
# fresh clone) take turns, and each repairs what an interrupted run left half-made.
$(VENV_STAMP): pyproject.toml
	@flock .venv.lock scripts/setup_venv.sh $(PYTHON) $(VENV) web,worker,cli,test

$(NODE_STAMP): web/package.json web/package-lock.json
	@flock web/.npm.lock scripts/setup_node.sh

redis-server:
	@command -v redis-server >/dev/null || $(APT_INSTALL) redis-server

chromium:
	@command -v chromium >/dev/null || $(APT_INSTALL) chromium

setup: $(VENV_STAMP) $(NODE_STAMP) redis-server

## make run: Redis (unless REDIS_URL is set), one worker and the web tier; Ctrl-C stops all.
run: setup
	@scripts/run_local.sh

## make web / make worker: one process in the foreground, configured by the environment.
web: $(VENV_STAMP) $(NODE_STAMP)
	$(PY) -m web

worker: $(VENV_STAMP)
	$(PY) -m worker

## make lint: ruff (style, imports, bugbear; and ruff format, checked), mypy (strict on
## shared/; benchmarks/ and scripts/ too), ESLint and Prettier (checked) over the page's modules.
lint: $(VENV_STAMP) $(NODE_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	cd web && npx --no-install eslint static/js eslint.config.js
	cd web && npx --no-install prettier --check "static/js/**/*.{js,mjs}" eslint.config.js

## make test: lint, then every test (unit, integration against real processes, browser),
## in TEST_PROCS processes (a file's tests stay in one); the fresh-clone check is test-setup.
TEST_PROCS ?= 3
test: setup chromium lint
	cd web && node --test static/js/
	$(PY) -m pytest -n $(TEST_PROCS) --dist loadfile -m "not fresh_clone"

## make test-setup: a fresh clone where make web and make worker start together, from nothing
## (a half-made venv included) — a few minutes of installing.
test-setup: setup redis-server
	$(PY) -m pytest -m fresh_clone

test-fast: setup
	$(PY) -m pytest -m "not integration and not ui"

## make compose-test: build both images and run the stack with docker compose for real
## (stand-in base images are built first on machines without a registry).
compose-test: $(VENV_STAMP)
	docker/standins/build.sh
	$(PY) scripts/compose_test.py

bench: $(VENV_STAMP)
	$(PY) -m benchmarks.compare_cpu

## make bench-smoke: the same benchmark in one short repeat (CI runs it so it cannot rot).
bench-smoke: $(VENV_STAMP) redis-server
	$(PY) -m benchmarks.compare_cpu --smoke
	$(PY) -m benchmarks.search --smoke --out test-artifacts/bench-search-smoke.json

## make bench-search: random, grid, tpe, tpe + ASHA and pbt side by side on real workers and
## real MNIST (3 seeds of 16 trials: about 90 minutes on 2 CPU cores); then the table and plot.
bench-search: $(VENV_STAMP) redis-server
	$(PY) -m benchmarks.search --out results/bench-search.json

## make bench-gpu: per-epoch seed-style vs bare loop vs worker path, bf16 vs fp32, compile
## on/off and time to 99 % on the GPU, named (under 5 minutes); --tiny on the CPU without one.
bench-gpu: $(VENV_STAMP)
	$(PY) -m benchmarks.gpu

## make soak: compound faults against real processes (workers killed, Redis emptied, the web
## tier and the recorder killed, no worker alive); every run must end whole (~5 minutes).
soak: $(VENV_STAMP) redis-server
	$(PY) -m benchmarks.soak

clean:
	rm -rf $(VENV) .venv.lock web/node_modules web/.npm.lock .pytest_cache test-artifacts
