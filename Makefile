# Two commands for a fresh machine with Python 3.11+: `make lab` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=
# An offline install: `make wheelhouse` on a machine with the registry, copy the checkout with
# its wheelhouse/ folder, and `make lab` there installs from it with the index disabled.
WHEELHOUSE ?= $(wildcard wheelhouse)
PIP_FROM   := $(if $(WHEELHOUSE),--no-index --find-links $(WHEELHOUSE))

.DEFAULT_GOAL := help
.PHONY: help setup lab test lint wheelhouse clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) ## create .venv and install the project with its dev extras (once per pyproject.toml)

$(STAMP): # named by the checksum of pyproject.toml: a new file when its content changes
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed; found " + sys.version.split()[0] + ". Install it, or run: make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet $(PIP_FROM) --upgrade pip
	$(BIN)/python -m pip install --quiet $(PIP_FROM) -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

lab: $(STAMP) ## set up, then open JupyterLab on notebooks/ (127.0.0.1 only)
	$(BIN)/labkit lab

test: $(STAMP) ## set up, then run every test, notebooks included
	$(BIN)/python -m pytest -n auto --dist loadfile --nbval-lax --durations=15 $(PYTEST_ARGS)

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check labkit sample_service tests notebooks exercises
	$(BIN)/ruff format --check labkit sample_service tests notebooks exercises

wheelhouse: ## download every wheel `make lab` needs (build backend included) into wheelhouse/
	$(PYTHON) -m pip wheel --quiet --wheel-dir wheelhouse pip setuptools wheel '.[dev]'
	@echo "wheelhouse/ holds $$(ls wheelhouse | wc -l) wheels for $$($(PYTHON) -c 'import sysconfig, sys; print(sysconfig.get_platform(), "Python", sys.version.split()[0])')"

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
