# designsvc: the targets the README names. `make demo` and `make test` set everything up first.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out

.PHONY: setup demo test lint typecheck imports unit bench clean

# torch first, pinned, so pip takes the local CPU build instead of downloading a CUDA one.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## The main job, on the embedded default (no server): solve each example spec.
demo: setup
	@mkdir -p $(OUT)
	@for kind in $$($(BIN)/designsvc problems --json | $(BIN)/python -c 'import json,sys; print(" ".join(p["id"] for p in json.load(sys.stdin)))'); do \
		echo "== $$kind"; \
		$(BIN)/designsvc example $$kind > $(OUT)/$$kind.spec.json || exit 1; \
		$(BIN)/designsvc solve $(OUT)/$$kind.spec.json --compare-baselines --artifacts $(OUT)/$$kind || exit 1; \
	done

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy

imports: setup
	$(BIN)/lint-imports

# Unit and conformance tests on both cores; integration tests (real servers, Celery workers
# and Redis databases shared within a module) one at a time.
unit: setup
	$(BIN)/python -m pytest -n 2 -m "not integration and not gpu"
	$(BIN)/python -m pytest -m "integration and not gpu"

## Everything CI checks: formatting, lint, types, import rules, all tests.
test: lint typecheck imports unit

bench: setup
	$(BIN)/python bench/solvers.py

clean:
	rm -rf $(VENV) $(OUT) .mypy_cache .ruff_cache .pytest_cache
