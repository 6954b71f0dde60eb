# Needs only Python 3.11+ and make: everything else is installed into .venv from the pins.
PYTHON ?= python3
# one virtualenv per interpreter: `make test PYTHON=python3.13 VENV=.venv-3.13`
VENV ?= .venv
PY := $(VENV)/bin/python
# Python 3.13 (the Lambda runtime): `make build` and the second CI run; found on PATH or in pyenv
PYTHON313 ?= $(firstword $(foreach p,python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13),$(shell $(p) -c "import sys; assert sys.version_info[:2] == (3, 13)" >/dev/null 2>&1 && echo $(p))))
VENV313 := .venv-3.13
SAM_VENV := .venv-sam
SAM := SAM_CLI_TELEMETRY=0 PATH="$(CURDIR)/$(VENV313)/bin:$$PATH" $(SAM_VENV)/bin/sam
export PYTHONPATH := $(CURDIR)/layers/common:$(CURDIR)

.PHONY: install browser run demo h5-demo openapi asl template-block build print-python313 test test313 test-unit test-integration test-e2e test-browser h5-screenshots lint bench clean

$(VENV)/.installed: requirements-dev.txt layers/common/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# The hosted page's tests drive Debian's chromium (Playwright never downloads a browser here)
# and need a CJK font. Installed with apt-get when missing and this is root on Debian/Ubuntu;
# elsewhere install them yourself (or set CARRIER_AUTH_CHROMIUM to a Chromium binary).
browser:
	@if [ -x "$${CARRIER_AUTH_CHROMIUM:-/usr/bin/chromium}" ] && [ -d /usr/share/fonts/opentype/noto ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	else echo "make browser: install chromium and fonts-noto-cjk (the page tests are skipped without them)"; fi

run: install ## start the embedded stack (API on 127.0.0.1:3000, moto on 127.0.0.1:5000); CARRIER_AUTH_SANDBOX_LATENCY_MS slows every sandbox upstream call
	$(PY) -m local

demo: install ## walk the happy flow against a running `make run`
	$(PY) -m local.demo

h5-demo: install ## print a hosted H5 page link (open it in a browser) from a running `make run`
	$(PY) -m local.h5_demo

test: install browser ## unit, integration (real ASL in moto), end-to-end and hosted-page (real browser) tests
	$(PY) -m pytest -q tests/unit
	$(PY) -m pytest -q tests/integration
	$(PY) -m pytest -q tests/e2e
	$(PY) -m pytest -q tests/browser

test-unit: install
	$(PY) -m pytest -q tests/unit

test-integration: install
	$(PY) -m pytest -q tests/integration

test-e2e: install
	$(PY) -m pytest -q tests/e2e

test-browser: install browser
	$(PY) -m pytest -q tests/browser

h5-screenshots: install browser ## the hosted page at a phone viewport, step by step, into docs/h5/
	CARRIER_AUTH_H5_SCREENSHOTS=docs/h5 $(PY) -m pytest -q tests/browser

openapi: install ## regenerate docs/openapi.json from the route declarations and models (a test fails when it is stale)
	$(PY) -m carrier_auth.api > docs/openapi.json

$(SAM_VENV)/.installed: requirements-build.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-build.txt
	touch $@

build: $(SAM_VENV)/.installed ## sam validate --lint + sam build (no Docker, no AWS account), then every handler imported from the artifacts under Python 3.13
	@test -n "$(PYTHON313)" || { echo "make build: Python 3.13 (the Lambda runtime) not found; set PYTHON313=/path/to/python3.13"; exit 2; }
	$(MAKE) install PYTHON=$(PYTHON313) VENV=$(VENV313)
	$(SAM) validate --lint --region cn-north-1
	$(SAM) build --region cn-north-1
	$(VENV313)/bin/python -m local.build_check .aws-sam/build

print-python313:
	@echo $(PYTHON313)

test313: ## the whole suite again under Python 3.13 (the Lambda runtime), in .venv-3.13
	@test -n "$(PYTHON313)" || { echo "make test313: Python 3.13 not found; set PYTHON313=/path/to/python3.13"; exit 2; }
	$(MAKE) test PYTHON=$(PYTHON313) VENV=$(VENV313)

asl: install ## regenerate statemachine/carrier_auth.asl.json from statemachine/definition.py (a test fails when it is stale)
	$(PY) -m statemachine.definition

template-block: install ## regenerate template.yaml's alarms and dashboard from ops/template_block.py (a test fails when stale)
	$(PY) -m ops.template_block

lint: install
	$(VENV)/bin/cfn-lint template.yaml

bench: install ## measurements, not tests: see bench/README.md
	$(PY) -m bench.happy_flow
	$(PY) -m bench.identity_cache
	$(PY) -m bench.direct_vs_gateway
	$(PY) -m bench.cold_start
	$(PY) -m bench.concurrency
	$(PY) -m bench.cost
	$(PY) -m bench.h5_page

clean:
	rm -rf $(VENV) $(VENV313) $(SAM_VENV) .aws-sam
