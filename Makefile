# The two commands of the README: `make run` (the whole product) and `make test`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test test-faults venv services chromium nginx lint bench migrate

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(PY) || "$$(scripts/python.sh)" -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed

services:
	@scripts/services.sh

chromium:
	@scripts/chromium.sh

## The front door: Debian's nginx (and its brotli module when there is one).
nginx:
	@scripts/nginx.sh install

## Style, the layer rules and the types: ruff, import-linter's contracts (.importlinter), mypy
## with django-stubs on apps/ (pyproject.toml).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

## Run web (gunicorn), Celery worker and beat (and the emulator) together.
run: venv nginx
	@scripts/run.sh

## Run the whole test suite against real PostgreSQL and Redis (and a real Celery worker and Chromium).
test: venv services chromium nginx lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## Only the fault tests (issue 17: real processes killed, hung or cut off; a few minutes).
## `make test` (and so .ci/run) runs them too.
test-faults: venv services nginx
	$(VENV)/bin/pytest tests/faults $(PYTEST_ARGS)
