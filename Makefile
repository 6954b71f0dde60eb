# Needs only Python 3.11+ and make: everything else is installed into .venv from the pins.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/layers/common:$(CURDIR)

.PHONY: install run demo test test-unit test-integration test-e2e lint bench clean

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

run: install ## start the embedded stack (API on 127.0.0.1:3000, moto on 127.0.0.1:5000); CARRIER_AUTH_SANDBOX_LATENCY_MS slows every sandbox upstream call
	$(PY) -m local

demo: install ## walk the happy flow against a running `make run`
	$(PY) -m local.demo

test: install ## unit, integration (real ASL in moto) and end-to-end tests
	$(PY) -m pytest -q tests/unit
	$(PY) -m pytest -q tests/integration
	$(PY) -m pytest -q tests/e2e

test-unit: install
	$(PY) -m pytest -q tests/unit

test-integration: install
	$(PY) -m pytest -q tests/integration

test-e2e: install
	$(PY) -m pytest -q tests/e2e

lint: install
	$(VENV)/bin/cfn-lint template.yaml

bench: install ## measurements, not tests: see bench/README.md
	$(PY) -m bench.happy_flow
	$(PY) -m bench.identity_cache
	$(PY) -m bench.direct_vs_gateway
	$(PY) -m bench.cold_start
	$(PY) -m bench.concurrency
	$(PY) -m bench.cost

clean:
	rm -rf $(VENV) .aws-sam
