# Wattline — the commands a newcomer can guess. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help setup run test lint fmt ci bench requirements messages worker clean-db

help:
	@echo "make run    - set up, start the embedded database if needed, seed demo data, serve :8000"
	@echo "make test   - set up and run the whole test suite"
	@echo "make lint   - ruff, format check, mypy, import contracts, missing migrations"
	@echo "make fmt    - format and auto-fix"
	@echo "make ci     - lint + test (what .ci/run does after preparing services)"
	@echo "make bench  - run the benchmarks and print their figures"

$(PY):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) requirements/base.txt requirements/dev.txt
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/base.txt -r requirements/dev.txt
	@touch $(STAMP)

setup: $(STAMP)

run: setup
	@bash scripts/run.sh

test: setup
	@bash scripts/test.sh $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy apps config
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run

fmt: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

ci: lint test

bench: setup
	@bash scripts/bench.sh

worker: setup
	$(VENV)/bin/celery -A config worker --loglevel=INFO --concurrency=2

requirements: setup
	$(VENV)/bin/uv pip compile --quiet --upgrade --python-version 3.11 requirements/base.in -o requirements/base.txt
	$(VENV)/bin/uv pip compile --quiet --upgrade --python-version 3.11 requirements/dev.in -o requirements/dev.txt

messages: setup
	$(PY) manage.py makemessages --all --ignore=.venv --ignore=var --ignore=static/vendor
	$(PY) manage.py compilemessages --ignore=.venv

clean-db:
	-$(PY) -m config.embedded_db stop
	rm -rf var/pgdata
