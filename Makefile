# Every routine command of the project. The first run of any target sets up what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime is python3.13: develop, test and build with the same minor version.
# (A pyenv shim may exist without working, so each candidate must actually run.)
PYTHON313 ?= $(shell for c in "$$(PYENV_VERSION=3.13.0 pyenv which python3.13 2>/dev/null)" "$$(command -v python3.13)"; do \
	[ -n "$$c" ] && "$$c" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo "$$c"; break; }; done)
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(abspath $(SAM_VENV))/bin/sam
SAM_CLI_VERSION := 1.170.0
# sam build looks for python3.13 on PATH; the project's venv provides it.
export PATH := $(abspath $(VENV))/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export SAM_CLI_BIN := $(SAM)

.PHONY: help setup test unit integration lint format typecheck validate static build contract contract-fuzz botocore-models demo local standin bench bench-smoke fuzz hygiene clean sam-local sam-local-arm64

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON313)" || { echo "Python 3.13 is required (the Lambda runtime's version); install it and re-run." >&2; exit 1; }
	$(PYTHON313) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet --disable-pip-version-check --group dev
	@touch $@

$(SAM_VENV)/.installed:
	$(PYTHON313) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION)
	@touch $@

setup: $(VENV)/.installed $(SAM_VENV)/.installed ## Create the virtual environments (done by every target on first use)

test: setup lint typecheck validate static ## Every check: ruff, mypy, sam validate, cfn-lint, checkov, bandit, sam build, tests
	$(PY) -m pytest

unit: $(VENV)/.installed ## Only the unit tests (no network, no sam)
	$(PY) -m pytest tests/unit

integration: setup ## Only the integration tests (servers on loopback)
	$(PY) -m pytest tests/integration

lint: $(VENV)/.installed ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed ## Apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(VENV)/.installed ## mypy over the layer, the functions and the local stack
	$(VENV)/bin/mypy layers/shared/iotbridge functions local tools bench tests

validate: $(SAM_VENV)/.installed ## sam validate --lint
	$(SAM) validate --lint

static: $(VENV)/.installed ## cfn-lint, checkov and bandit (findings reviewed: docs/reliability.md)
	HYGIENE_CHECKS="cfn checkov bandit" scripts/hygiene.sh

hygiene: $(VENV)/.installed ## static, plus pip-audit of the pinned dependencies (needs a vulnerability service)
	scripts/hygiene.sh

fuzz: $(VENV)/.installed ## Fuzz signature parsing and body validation with atheris (FUZZ_RUNS, default 100000)
	fuzz/run.sh

bench: $(VENV)/.installed ## Benchmarks as ratios to same-run baselines; writes docs/benchmarks.md (not a test)
	$(PY) -m bench

bench-smoke: $(VENV)/.installed ## A few iterations of every benchmark, to check the benchmark code still runs
	$(PY) -m bench --smoke

build: setup ## sam build (arm64 layer, built locally without containers)
	$(SAM) build

LOCAL_PORT ?= 3000
local: $(VENV)/.installed ## Run the whole bridge on this machine (no AWS, no containers) until Ctrl-C
	PYTHONPATH=.:local:layers/shared $(PY) -m bridge_local up --port $(LOCAL_PORT)

demo: $(VENV)/.installed ## The story end to end on this machine: webhooks, forwarding, a detector reset
	PYTHONPATH=.:local:layers/shared $(PY) -m bridge_local demo

standin: $(VENV)/.installed ## Only the IoT stand-in on 127.0.0.1 (PORT=4510 by default)
	PYTHONPATH=local:layers/shared $(PY) -m iot_standin --port $${PORT:-4510}

ARCH ?= x86_64
sam-local: setup ## Every sample event through `sam local invoke` in containers, checked (docs/sam-local.md; ARCH=arm64)
	@if [ "$(ARCH)" = arm64 ]; then $(MAKE) --no-print-directory build; fi
	PYTHONPATH=.:local:layers/shared $(PY) -m sam_local --arch $(ARCH)

sam-local-arm64: ## make sam-local ARCH=arm64: the arm64 functions under emulation (slow; opt-in)
	$(MAKE) --no-print-directory sam-local ARCH=arm64

contract-fuzz: $(VENV)/.installed ## Schemathesis against the local endpoint with many examples (N, default 2000)
	SCHEMATHESIS_MAX_EXAMPLES=$${N:-2000} $(PY) -m pytest tests/integration/test_contract_schemathesis.py -q

contract: $(VENV)/.installed ## Regenerate docs/openapi.json from the event models (a test fails on drift)
	PYTHONPATH=layers/shared:. $(PY) -m tools.contract > docs/openapi.json

botocore-models: $(VENV)/.installed ## Rewrite the layer's part of botocore's data from the installed botocore (a test fails on drift)
	PYTHONPATH=layers/shared:. $(PY) -m tools.botocore_models > /dev/null

clean: ## Remove build output and virtual environments
	rm -rf .aws-sam $(VENV) $(SAM_VENV) .venv-checkov .cache .pytest_cache .mypy_cache .ruff_cache
