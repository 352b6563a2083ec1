# Two commands for a newcomer: `make run` and `make test`. Both bootstrap .venv by
# themselves; a stamp file makes the venv rebuild when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUN_STAMP  := $(VENV)/.stamp-run
TEST_STAMP := $(VENV)/.stamp-test
PYTEST_ARGS ?=

.PHONY: run test lint format venv clean bench ui

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(RUN_STAMP)

venv: $(RUN_STAMP)

# The web application (ui/, Vite + TypeScript) builds into src/raddx/web/ui_dist, which the
# server itself serves at /ui/. `make ui` always rebuilds; `make run` builds it only when
# missing (and goes on without it, with a warning, on a machine without npm).
UI_INDEX := src/raddx/web/ui_dist/index.html

ui:
	cd ui && npm ci --no-audit --no-fund && npm run build

$(UI_INDEX):
	@if command -v npm >/dev/null 2>&1; then $(MAKE) ui; \
	else echo "warning: npm not found: the web application (/ui/) is not built"; fi

run: $(RUN_STAMP) | $(UI_INDEX)
	$(BIN)/raddx serve

test: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/python -m pytest -n auto --junitxml=build/test-results/junit.xml $(PYTEST_ARGS)

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(TEST_STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(TEST_STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info ui/node_modules src/raddx/web/ui_dist
