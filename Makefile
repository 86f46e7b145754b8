# PrimeCloud: `make dev` runs the local stack, `make test` runs the whole suite.
# Both create the virtualenv on first use; nothing else needs to be installed by hand.

PYTHON ?= python3
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python
PYENV_PYTHONS ?= 3.11.7:3.12.1:3.13.0

.PHONY: audit bench-smoke dev test test-fast lint format typecheck validate build bench venv tools openapi openapi-check clean

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

$(TOOLS)/.installed: requirements-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r requirements-tools.txt
	touch $@

venv: $(VENV)/.installed
tools: $(TOOLS)/.installed

dev: venv
	$(PY) -m localrun dev

test: venv
	$(PY) -m pytest

# openapi.json from the handlers' routes and models; openapi-check fails when it is stale (CI).
openapi: venv
	$(PY) -m localrun openapi

openapi-check: venv
	$(PY) -m localrun openapi --check

# ruff first (a second), then mypy --strict over what pyproject.toml's `files` names: the layer, localrun,
# every functions/*/*/app.py, tests/ and bench/ (about 30 s without a cache).
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

typecheck: venv
	$(VENV)/bin/mypy

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Known vulnerabilities in the pinned dependencies (PyPI's advisory data). Packages the index cannot
# describe (a private mirror) are listed as skipped, not passed silently.
audit: tools
	$(TOOLS)/bin/pip-audit --progress-spinner off --desc on -r layers/common/requirements.txt -r requirements-dev.txt

validate: tools
	PATH=$(CURDIR)/$(TOOLS)/bin:$$PATH sam validate --lint
	$(TOOLS)/bin/cfn-lint template.yaml

# sam build, then check its output (layer bytecode, unzipped sizes, every handler imports under python3.12).
build: tools venv
	PYENV_VERSION=$(PYENV_PYTHONS) PATH=$(CURDIR)/$(TOOLS)/bin:$$PATH sam build --parallel --cached
	PYENV_VERSION=$(PYENV_PYTHONS) $(PY) -m localrun check-build

# Cold start is also measured on sam build's output under python3.12 (the deployed artifacts).
bench: venv build
	PYENV_VERSION=$(PYENV_PYTHONS) $(PY) -m bench

bench-smoke: venv
	PYENV_VERSION=$(PYENV_PYTHONS) $(PY) -m bench --quick

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
