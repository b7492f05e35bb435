# The two commands of the README: `make run` (the whole product) and `make test`.
# And in a second terminal: `make admin` (create a login), `make manage ARGS="…"` (any manage.py command).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q --disable-pip-version-check
# The local settings make run writes on its first run (scripts/run.sh); settings.py reads the same file.
ENV_FILE := $(or $(ENV_FILE),.env)
export ENV_FILE
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run cluster setup admin manage test test-faults venv venv-dev services chromium nginx wrk pgbouncer lint

## The virtualenv: what the product runs on (requirements.txt) for make run; the test and
## lint tools on top (requirements-dev.txt: pytest, Playwright, ruff, mypy, …) for make test.
$(VENV)/.installed-runtime: requirements.txt
	@test -x $(PY) || "$$(scripts/python.sh)" -m venv $(VENV)
	$(PIP) -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-runtime requirements-dev.txt
	$(PIP) -r requirements-dev.txt
	@touch $@

venv: $(VENV)/.installed-runtime

venv-dev: $(VENV)/.installed-dev

services:
	@scripts/services.sh

chromium:
	@scripts/chromium.sh

## The front door: Debian's nginx (and its brotli module when there is one).
nginx:
	@scripts/nginx.sh install

## PgBouncer: the scale-out tests put PostgreSQL behind it (docs/scale-out.md).
pgbouncer:
	@scripts/pgbouncer.sh install

## wrk: the front-door tests' load generator.
wrk:
	@scripts/nginx.sh wrk

## Style, the layer rules and the types: ruff, import-linter's contracts (.importlinter), mypy
## with django-stubs on apps/ (pyproject.toml).
lint: venv-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy

## Run web (gunicorn), Celery worker and beat (and the emulator) together. Ctrl-C stops them.
run: venv nginx
	@scripts/run.sh

## The scale-out topology on loopback (docs/scale-out.md): a Redis Cluster (3 masters + replicas),
## PgBouncer, RabbitMQ, two web nodes per lane behind nginx, two Celery workers, one beat.
cluster: venv nginx pgbouncer services
	@$(PY) -m devstack.topology

## make run's set-up alone: write the local settings to $(ENV_FILE) when it is absent (never
## rewritten), make sure the database and Redis answer, migrate.
setup: venv
	@scripts/run.sh --setup-only

$(ENV_FILE): | $(VENV)/.installed-runtime
	@scripts/run.sh --setup-only

## Create a login for the admin: asks for a name and a password, or with DJANGO_SUPERUSER_USERNAME,
## DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD set, asks nothing (--noinput).
admin: venv $(ENV_FILE)
	@$(PY) manage.py createsuperuser $(if $(DJANGO_SUPERUSER_PASSWORD),--noinput) $(ARGS)

## Any manage.py command with make run's settings, e.g. make manage ARGS="audit_bookings".
manage: venv $(ENV_FILE)
	@$(PY) manage.py $(ARGS)

## Run the whole test suite against real PostgreSQL and Redis (and a real Celery worker and Chromium).
test: venv-dev services chromium nginx wrk pgbouncer lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## Only the fault tests (issue 17: real processes killed, hung or cut off; a few minutes).
## `make test` (and so .ci/run) runs them too.
test-faults: venv-dev services nginx
	$(VENV)/bin/pytest tests/faults $(PYTEST_ARGS)
