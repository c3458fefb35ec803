# Two entry points: `make plan` (the main job on the dev stack) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STACK ?= dev
export HF_HUB_OFFLINE ?= 1

.PHONY: plan test lint tools benchmark clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

plan: $(BIN)/.installed
	$(BIN)/tgi-infra plan --stack $(STACK)

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(BIN)/.installed
	$(BIN)/ruff check .

# External checkers the tests use when present (CI installs them; see .ci/run):
# checkov lives in its own venv because its pins clash with Pulumi's.
tools: .tools/checkov/bin/checkov

.tools/checkov/bin/checkov:
	$(PYTHON) -m venv .tools/checkov
	.tools/checkov/bin/python -m pip install -q checkov

benchmark: $(BIN)/.installed
	$(BIN)/python benchmarks/plan_benchmark.py

clean:
	rm -rf $(VENV) .tools out
