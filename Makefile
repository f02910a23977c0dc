# The front door: `make` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/services/kit:$(CURDIR)/services/auth:$(CURDIR)/services/resource:$(CURDIR):$(CURDIR)/deploy

.PHONY: help
help:  ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	touch $@

.PHONY: venv
venv: $(VENV)/.installed  ## Create the virtualenv with the pinned dependencies

.PHONY: host-deps
host-deps:  ## Install PostgreSQL, nginx, Redis on this host if missing (Debian, as root)
	@bash deploy/scripts/install-host-deps.sh

.PHONY: test
test: venv host-deps  ## Run every test against real PostgreSQL (and nginx, Redis for the e2e ones)
	$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: lint
lint: venv  ## Static checks (ruff)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: fmt
fmt: venv  ## Format and autofix
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

.PHONY: lock
lock:  ## Re-resolve requirements/*.in into the pinned requirements/*.txt
	@bash deploy/scripts/lock.sh
