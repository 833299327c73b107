# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# pytest-xdist worker processes for `make test`, each with its own test database and Redis
# database (clozings/platform/settings_test.py); 0 runs every test in this one process.
PYTEST_WORKERS ?= 2

.PHONY: run test bench faults install install-dev lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## Start the whole product on this machine (embedded services when no URLs are set).
run: $(VENV)/.installed
	$(BIN)/clozings run

## Run the whole test suite against real PostgreSQL and Redis (embedded when unset).
test: $(VENV)/.installed-dev
	$(BIN)/python -m clozings.platform.embedded -- \
	  $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

## Benchmarks: one JSON line per figure (see README).
bench: $(VENV)/.installed-dev
	$(BIN)/python -m clozings.platform.embedded -- $(BIN)/python -m tests.perf.run_all

## Faults: leads while the worker is SIGKILLed and Redis and PostgreSQL restart (its own
## services, never the shared ones); every lead delivered exactly once (see README).
faults: $(VENV)/.installed-dev
	$(BIN)/python -m tests.perf.faults

## ruff, DESIGN.md's import contracts (import-linter), the k8s manifests, the Dockerfile.
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check clozings tests
	$(BIN)/lint-imports
	$(BIN)/kubernetes-validate --strict --quiet $(filter-out %/kustomization.yaml,$(wildcard infra/k8s/*.yaml))
	$(BIN)/hadolint --failure-threshold warning infra/Dockerfile

clean:
	rm -rf $(VENV) test-artefacts bench-results
